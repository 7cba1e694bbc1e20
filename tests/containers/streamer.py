"""A bring-your-own container that streams: stdlib only, answers POST /invocations in chunks.

Each chunk is one JSON line `{"i", "t" (time.time() when written), "accept", "content_type"}`. Behaviour per
request, by `X-Amzn-SageMaker-Custom-Attributes` words: `parts=N` (default 3), `gap=S` seconds between chunks,
`big=N` (one chunk of N bytes instead), `break=K` (reset the connection after K chunks), `stall=K` (fall silent
after K chunks), `delay=S` (before the answer's head), `status=N` (a non-2xx answer, whole), `length=1`
(a Content-Length answer written in pieces instead of a chunked one).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # each chunk leaves when written

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")
        sys.stdout.flush()

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ping" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        attrs = dict(
            w.partition("=")[::2] for w in (self.headers.get("X-Amzn-SageMaker-Custom-Attributes") or "").split(",")
        )
        if "delay" in attrs:
            time.sleep(float(attrs["delay"]))  # a model slow to start answering: the container's behaviour
        if "status" in attrs:
            body = f"failure {attrs['status']}".encode()
            self.send_response(int(attrs["status"]))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        chunks = [b"x" * int(attrs["big"])] if "big" in attrs else None
        parts = int(attrs.get("parts", 3))
        length = "length" in attrs
        self.send_response(200)
        self.send_header("Content-Type", os.environ.get("STREAM_CONTENT_TYPE", "application/jsonlines"))
        if length:
            self.send_header("Content-Length", str(10**6))  # announced, and more than will ever be written
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(len(chunks) if chunks else parts):
            if i and "gap" in attrs:
                time.sleep(float(attrs["gap"]))  # a model producing tokens at its pace
            if str(i) == attrs.get("break"):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()  # a reset mid-answer, as a crashing server's
                self.close_connection = True
                return
            if str(i) == attrs.get("stall"):
                time.sleep(3600)  # a model that hangs mid-answer
            data = chunks[i] if chunks else self._line(i)
            self.wfile.write(data if length else b"%x\r\n%s\r\n" % (len(data), data))
        if not length:
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.close_connection = True  # the announced length is never reached: a cut-off answer

    def _line(self, i: int) -> bytes:
        doc = {"i": i, "t": time.time(), "accept": self.headers.get("Accept"),
               "content_type": self.headers.get("Content-Type")}  # fmt: skip
        return json.dumps(doc).encode() + b"\n"


def main() -> None:
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"streamer: listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
