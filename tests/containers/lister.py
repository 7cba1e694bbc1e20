"""A test container (stdlib only) that says what it sees: every file of its model dir and of its
additional model data sources, with contents, and a value from a module named in LISTER_IMPORT (a
package a code/requirements.txt installed), so tests can check what coserve laid out for it."""

from __future__ import annotations

import importlib
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def files(root: Path) -> dict[str, str]:
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): _text(p) for p in sorted(root.rglob("*")) if p.is_file()}


def _text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode()
    except UnicodeDecodeError:
        return f"<{len(data)} bytes>"


def report() -> dict[str, object]:
    imported = os.environ.get("LISTER_IMPORT")
    sources = os.environ.get("COSERVE_ADDITIONAL_MODEL_DATA_SOURCES")
    return {
        "model": files(Path(os.environ["SM_MODEL_DIR"])),
        "sources_dir": sources,
        "sources": files(Path(sources)) if sources else {},
        "imported": getattr(importlib.import_module(imported), "VALUE", None) if imported else None,
        "python": sys.executable,
    }


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(200 if self.path == "/ping" else 404, b"")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(200, json.dumps(report()).encode())


if __name__ == "__main__":
    report()  # an import that fails fails the start, as a model server's would
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["SAGEMAKER_BIND_TO_PORT"])), Handler).serve_forever()
