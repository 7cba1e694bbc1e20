"""A bring-your-own container for tests: stdlib only, speaks the SageMaker container contract.

POST /invocations answers with what it received (body, content type, accept, custom attributes), so
tests can see what the front door forwarded. Behaviour is chosen per request by a `X-Amzn-SageMaker-
Custom-Attributes` word (`status=500`, `sleep=2`, `reset`, `big=N`, `hog=N` MiB for one request, `hold=N`
MiB more kept, `sick=1`: /ping fails from then on), or at start by ECHO_MODE (`crash`, `fork`, `spin`,
`ignore-term`: SIGTERM is ignored, `unready`: /ping never answers 200) and ECHO_CRASH_AFTER (seconds after
start, the server exits with status 1).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HELD: list[bytearray] = []  # what `hold=N` keeps, in MiB: it is freed only when the process dies
SICK = threading.Event()  # set by a `sick=1` invocation: /ping answers 500 from then on


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave as one write, not two delayed-ACK packets
    wbufsize = -1

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")
        sys.stdout.flush()

    def _send(
        self, status: int, body: bytes, ctype: str = "application/json", extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/ping" and (SICK.is_set() or os.environ.get("ECHO_MODE") == "unready"):
            self._send(500, b"unwell")
        elif self.path == "/ping":
            self._send(200, b"")
        else:
            self._send(404, b"not found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        attrs = _attributes(self.headers.get("X-Amzn-SageMaker-Custom-Attributes") or "")
        if "sleep" in attrs:
            print(f"echo: sleeping {attrs['sleep']}s", flush=True)  # tests wait for this line, not a timer
            time.sleep(float(attrs["sleep"]))  # a slow model, simulated: the container's behaviour, not a wait
        if "hold" in attrs:  # grow and keep it: a model whose memory creeps up between requests
            HELD.extend(bytearray(2**20) for _ in range(int(attrs["hold"])))
            self._send(200, json.dumps({"holding_mib": len(HELD), "pid": os.getpid()}).encode())
            return
        if "hog" in attrs:
            hoard = [bytearray(2**20) for _ in range(int(attrs["hog"]))]  # touched: bytearray zero-fills
            self._send(200, f"held {len(hoard)} MiB".encode())
            return
        if "sick" in attrs:
            SICK.set()
        if "reset" in attrs:
            os._exit(3)  # the connection drops mid-request, as a crashing server's would
        model_dir = Path(os.environ.get("SM_MODEL_DIR", "/nonexistent"))
        model = (model_dir / "model.txt").read_text() if (model_dir / "model.txt").exists() else None
        doc = {
            "container": os.environ.get("ECHO_NAME", os.environ.get("COSERVE_CONTAINER_HOSTNAME")),
            "body": body.decode(errors="replace"),
            "content_type": self.headers.get("Content-Type"),
            "accept": self.headers.get("Accept"),
            "custom_attributes": self.headers.get("X-Amzn-SageMaker-Custom-Attributes"),
            "target_header": self.headers.get("X-Amzn-SageMaker-Target-Container-Hostname"),
            "model": model,
            "opt_ml_model": _read(Path("/opt/ml/model/model.txt")),
            "pid": os.getpid(),
            "net_namespace": str(Path("/proc/self/ns/net").readlink()),  # which host answered (tests/images/scaleout)
        }
        status = int(attrs.get("status", 200))
        out = json.dumps(doc).encode()
        if "big" in attrs:
            out = b"x" * int(attrs["big"])
        ctype = os.environ.get("ECHO_CONTENT_TYPE", "application/json")
        reply_attrs = {"X-Amzn-SageMaker-Custom-Attributes": f"from={doc['container']}"}
        self._send(
            status, out if status < 400 else f"failure {status} in {doc['container']}".encode(), ctype, reply_attrs
        )


def _attributes(header: str) -> dict[str, str]:
    """`key=value` words; `<name>.key=value` applies only to the container called <name> (Serial tests)."""
    me = os.environ.get("ECHO_NAME", os.environ.get("COSERVE_CONTAINER_HOSTNAME", ""))
    mine: dict[str, str] = {}
    for word in header.split(","):
        key, _, value = word.partition("=")
        target, dot, rest = key.partition(".")
        if dot and target == me:
            mine[rest] = value
        elif not dot and value:
            mine.setdefault(key, value)
    return mine


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _crash() -> None:
    print("echo: crashing after a stable run", flush=True)
    os._exit(1)


def _spin() -> None:
    while True:
        pass


def main() -> None:
    mode = os.environ.get("ECHO_MODE", "serve")
    if mode == "crash":
        print("echo: crashing on purpose", flush=True)
        sys.exit(1)
    # A grandchild that sleeps on: it must be in the container's cgroup and die with it.
    if mode == "fork" and os.fork() == 0:
        time.sleep(3600)  # a grandchild that outlives nothing: coserve must end it
        os._exit(0)
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a server that will not stop: only SIGKILL ends it
        print("echo: ignoring SIGTERM", flush=True)
    if "ECHO_CRASH_AFTER" in os.environ:
        # A server that runs fine for a while, then dies: a timer, the container's own behaviour.
        threading.Timer(float(os.environ["ECHO_CRASH_AFTER"]), _crash).start()
    if mode == "spin":
        for _ in range(2):  # two busy children: more than the 0.5 core a test allows
            if os.fork() == 0:
                _spin()
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"echo: listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
