"""A container that misbehaves on request, for the hostile-input tests: stdlib only.

POST /invocations does what the `X-Amzn-SageMaker-Custom-Attributes` word `do=` asks:
- `do=cut-length`: headers declaring 1000 bytes, 10 bytes of body, then close;
- `do=cut-chunked`: a chunked answer with one chunk and no final chunk, then close;
- `do=huge-N`: a 200 answer of N MiB with Content-Length, written a MiB at a time;
- `do=huge-chunked-N`: the same, chunked (no length declared up front);
- anything else: 200 `ok`.
"""

from __future__ import annotations

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MIB = b"y" * 2**20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")
        sys.stdout.flush()

    def do_GET(self) -> None:
        self._head(200 if self.path == "/ping" else 404, {"Content-Length": "0"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        attrs = dict(
            w.partition("=")[::2] for w in (self.headers.get("X-Amzn-SageMaker-Custom-Attributes") or "").split(",")
        )
        do = attrs.get("do", "")
        if do == "cut-length":
            self._head(200, {"Content-Length": "1000"})
            self._cut(b"0123456789")
        elif do == "cut-chunked":
            self._head(200, {"Transfer-Encoding": "chunked"})
            self._cut(b"a\r\n0123456789\r\n")
        elif do.startswith("huge-chunked-"):
            self._head(200, {"Transfer-Encoding": "chunked"})
            for _ in range(int(do.rsplit("-", 1)[1])):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(MIB), MIB))
            self.wfile.write(b"0\r\n\r\n")
        elif do.startswith("huge-"):
            n = int(do.rsplit("-", 1)[1])
            self._head(200, {"Content-Length": str(n * len(MIB))})
            for _ in range(n):
                self.wfile.write(MIB)
        else:
            self._head(200, {"Content-Length": "2"})
            self.wfile.write(b"ok")

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _cut(self, partial: bytes) -> None:
        self.wfile.write(partial)
        self.wfile.flush()
        self.close_connection = True  # the server closes the socket: the answer ends early


def main() -> None:
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"hostile: listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
