"""Step 3 of the iris pipeline (standard library only): probabilities in, labels out.

Answers in the client's Accept: `text/csv` gives `label,confidence` lines, anything else JSON.
Reads `labels.json` (class index to species name) from its model directory.
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LABELS = json.loads((Path(os.environ["SM_MODEL_DIR"]) / "labels.json").read_text())


def format_rows(doc: dict[str, list[list[float]]], accept: str) -> tuple[bytes, str]:
    best = [max(range(len(p)), key=p.__getitem__) for p in doc["probabilities"]]
    rows = [(LABELS[str(doc["classes"][i])], p[i]) for i, p in zip(best, doc["probabilities"], strict=True)]
    if accept.startswith("text/csv"):
        return "".join(f"{label},{conf:.4f}\n" for label, conf in rows).encode(), "text/csv"
    return json.dumps(
        [{"label": label, "confidence": round(conf, 4)} for label, conf in rows]
    ).encode(), "application/json"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave as one write, not two delayed-ACK packets
    wbufsize = -1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def reply(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.reply(200 if self.path == "/ping" else 404, b"", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            out, ctype = format_rows(json.loads(body), self.headers.get("Accept") or "application/json")
        except (ValueError, KeyError, IndexError) as exc:
            self.reply(400, f"formatter cannot read its input: {exc}".encode(), "text/plain")
            return
        self.reply(200, out, ctype)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler).serve_forever()
