"""A bring-your-own container that streams text: a word-bigram generator trained on the Zen of Python.

Standard library only. The model (`bigrams.json` in SM_MODEL_DIR) maps each word to the words seen after it in
`this.s`, the Zen that Python ships. POST /invocations with `{"prompt": "...", "words": N}` answers a chunked
`text/plain` stream, one word per chunk, as a generative model writes one token at a time.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import itertools
import json
import os
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

PACE_S = 0.05  # seconds per word: a model's time per token, so that the client sees the words come


def train() -> dict[str, list[str]]:
    """The bigram table of the Zen of Python (this.s is ROT13-encoded in the standard library)."""
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen; only its text is wanted
        import this  # noqa: F401

    words = codecs.decode(sys.modules["this"].s, "rot13").split()
    table: dict[str, list[str]] = {}
    for a, b in itertools.pairwise(words):
        table.setdefault(a, []).append(b)
    return table


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    table: ClassVar[dict[str, list[str]]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ping" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        word = str(request.get("prompt", "Beautiful")).split()[-1]
        rng = random.Random(request.get("seed", 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(int(request.get("words", 20))):
            word = rng.choice(self.table.get(word) or list(self.table))
            data = f"{word} ".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            time.sleep(PACE_S)  # the model's pace per token
        self.wfile.write(b"0\r\n\r\n")


def main() -> None:
    Handler.table = json.loads((Path(os.environ["SM_MODEL_DIR"]) / "bigrams.json").read_text())
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
