"""A streaming container for benchmarks: stdlib only, answers POST /invocations with a chunked answer.

The request body is `<chunks> <chunk_bytes>`; the answer is that many chunks of that size, written as fast as
the socket takes them.
"""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        count, size = map(int, self.rfile.read(int(self.headers["Content-Length"])).split())
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"%x\r\n%s\r\n" % (size, b"x" * size)
        for _ in range(count):
            self.wfile.write(chunk)
        self.wfile.write(b"0\r\n\r\n")


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
