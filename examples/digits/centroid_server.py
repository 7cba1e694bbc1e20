"""A nearest-centroid digits classifier in NumPy behind the standard library's HTTP server.

A second stack for the demo: no web framework, no scikit-learn at serving time. The model is
`centroids.npy` (10 x 64) in $SM_MODEL_DIR. Same request and response shapes as sklearn_server.py.
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

CENTROIDS = np.load(Path(os.environ["SM_MODEL_DIR"]) / "centroids.npy")


def predict(rows: list[list[float]]) -> list[int]:
    x = np.asarray(rows, dtype=np.float64)
    distances = ((x[:, None, :] - CENTROIDS[None, :, :]) ** 2).sum(axis=2)
    return distances.argmin(axis=1).tolist()  # type: ignore[no-any-return]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave as one write, not two delayed-ACK packets
    wbufsize = -1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.reply(200 if self.path == "/ping" else 404, b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            predictions = predict(json.loads(body)["instances"])
        except (ValueError, KeyError, TypeError) as exc:
            self.reply(400, f"bad input: {exc}".encode(), "text/plain")
            return
        self.reply(200, json.dumps({"predictions": predictions}).encode())


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler).serve_forever()
