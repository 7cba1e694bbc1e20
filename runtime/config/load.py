"""Reading a deployment file into plain data, refusing what would crash or exhaust the parsers.

Refused, each with a ConfigError naming the file: more than MAX_FILE_BYTES, bytes that are not UTF-8,
JSON or YAML syntax errors, nesting deeper than MAX_DEPTH, a key given twice in one mapping, and (YAML)
aliases that expand too far (see yamlsafe.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from runtime.config import yamlsafe
from runtime.config.parse import ConfigError
from runtime.units import format_size

MAX_FILE_BYTES = 2**20  # a deployment file with fifteen containers and policies is a few KiB
MAX_DEPTH = yamlsafe.MAX_DEPTH


def read_document(path: Path) -> Any:
    """The parsed JSON (by the .json suffix) or YAML document in `path`."""
    text = _text(path)
    kind = "JSON" if path.suffix == ".json" else "YAML"
    try:
        doc = _json(text) if kind == "JSON" else yamlsafe.load(text)
    except RecursionError as exc:  # json's C scanner guards its own recursion and raises this
        raise ConfigError([f"not valid {kind}: nested more than {MAX_DEPTH} levels deep"], path) from exc
    except (ValueError, yaml.YAMLError) as exc:  # json.JSONDecodeError is a ValueError
        raise ConfigError([f"not valid {kind}: {exc}"], path) from exc
    if _depth_exceeds(doc, MAX_DEPTH):
        raise ConfigError([f"not valid {kind}: nested more than {MAX_DEPTH} levels deep"], path)
    return doc


def _text(path: Path) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"cannot read the deployment file: {exc.strerror}"], path) from exc
    if len(data) > MAX_FILE_BYTES:
        limit = format_size(MAX_FILE_BYTES).replace(".0", "")
        raise ConfigError([f"the deployment file is larger than {limit}, the most a deployment file may be"], path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start]
        raise ConfigError([f"not UTF-8: byte 0x{bad:02x} at offset {exc.start} ({exc.reason})"], path) from exc


def _json(text: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    return json.loads(text, object_pairs_hook=pairs)


def _depth_exceeds(doc: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit`; iterative, so no recursion limit applies."""
    todo: list[tuple[Any, int]] = [(doc, 1)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            todo.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False
