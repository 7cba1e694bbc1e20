"""A bring-your-own image's server, as many are written: port 8080 hard-coded, SAGEMAKER_BIND_TO_PORT ignored.

Only the socket module: the test image's Python is Debian's python3-minimal (no http.server, no json). Each
answer closes its connection (Connection: close), so no client keeps one.
"""

import os
import socket
import sys

PORT = 8080


def to_json(value: object) -> str:
    """JSON for the str/bool/list/dict values this server answers with."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_json(k)}: {to_json(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def model_is_writable() -> bool:
    try:
        with open("/opt/ml/model/probe", "w"):
            return True
    except OSError:
        return False


def read_request(conn: socket.socket) -> tuple[str, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return "", b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(v) for k, _, v in (x.partition(":") for x in lines[1:]) if k.lower() == "content-length"), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return lines[0].split(" ")[1], body


def answer(path: str, body: bytes, model: str) -> bytes:
    if path == "/ping":
        return b"{}"
    if body == b"hog":  # more than any test gives it: the container's memory limit must stop it
        hog = bytearray(1024 * 2**20)
        return b"%d" % len(hog)
    return to_json(
        {
            "model": model,
            "model_writable": model_is_writable(),
            "argv": sys.argv[1:],
            "echo": body.decode(),
            "env": {k: v for k, v in os.environ.items() if k.startswith(("SAGEMAKER_", "BYO_"))},
        }
    ).encode()


def main() -> None:
    if sys.argv[1:] != ["serve"]:
        sys.exit(f"server.py: expected the argument serve, got {sys.argv[1:]}")
    if os.environ.get("BYO_FAIL"):
        sys.exit(f"server.py: cannot start: {os.environ['BYO_FAIL']}")  # the same way every time
    with open("/opt/ml/model/model.txt") as f:
        model = f.read()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", PORT))
    server.listen(64)
    print(f"serving on {PORT}", flush=True)
    while True:
        conn, _ = server.accept()
        with conn:
            path, body = read_request(conn)
            if not path:
                continue
            status, payload = (200, answer(path, body, model)) if path in ("/ping", "/invocations") else (404, b"{}")
            head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + payload)


if __name__ == "__main__":
    main()
