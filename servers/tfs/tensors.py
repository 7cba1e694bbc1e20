"""TF Serving's JSON tensor formats ↔ numpy arrays: row (`instances`/`predictions`) and columnar (`inputs`/`outputs`).

numpy only, no TensorFlow: the signature's inputs arrive as `TensorInfo`. String tensors take `{"b64": ...}`
for bytes, and outputs whose name ends in `_bytes` go back base64-encoded, as TF Serving does.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from servers.tfs.errors import bad_request

Arrays = dict[str, np.ndarray[Any, Any]]


@dataclass(frozen=True)
class TensorInfo:
    dtype: np.dtype[Any]  # object for tf.string
    shape: tuple[int | None, ...] | None  # None: unknown rank

    @property
    def is_string(self) -> bool:
        return self.dtype == np.dtype(object)


def from_instances(instances: Any, inputs: Mapping[str, TensorInfo]) -> Arrays:
    if not isinstance(instances, list) or not instances:
        raise bad_request("'instances' must be a non-empty list")
    if all(isinstance(i, dict) for i in instances) and _named(instances[0], inputs):
        missing = [n for n in inputs if any(n not in i for i in instances)]
        if missing:
            raise bad_request(f"instances lack input(s) {missing}; the signature takes {sorted(inputs)}")
        return {n: _array([i[n] for i in instances], info, n) for n, info in inputs.items()}
    if len(inputs) != 1:
        raise bad_request(
            "instances is a plain list, but expected list of objects as multiple input tensors required as per "
            f"tensorinfo_map {sorted(inputs)}"
        )
    (name, info), = inputs.items()  # fmt: skip
    return {name: _array(instances, info, name)}


def from_inputs(value: Any, inputs: Mapping[str, TensorInfo]) -> Arrays:
    if isinstance(value, dict) and _named(value, inputs):
        unknown = sorted(set(value) - set(inputs))
        if unknown or len(value) != len(inputs):
            raise bad_request(f"inputs name {sorted(value)}; the signature takes {sorted(inputs)}")
        return {n: _array(value[n], info, n) for n, info in inputs.items()}
    if len(inputs) != 1:
        raise bad_request(f"'inputs' must be an object naming the signature's inputs {sorted(inputs)}")
    (name, info), = inputs.items()  # fmt: skip
    return {name: _array(value, info, name)}


def _named(value: Mapping[str, Any], inputs: Mapping[str, TensorInfo]) -> bool:
    # A one-input signature also takes bare objects (`{"b64": ...}`): it is named only if a key is an input.
    return len(inputs) > 1 or any(k in inputs for k in value)


def _array(value: Any, info: TensorInfo, name: str) -> np.ndarray[Any, Any]:
    try:
        if info.is_string:
            return np.asarray(_bytes(value), dtype=object)
        return np.asarray(value, dtype=info.dtype)
    except (ValueError, TypeError) as exc:
        raise bad_request(f"input {name!r}: cannot make a {info.dtype} tensor: {exc}") from exc


def _bytes(value: Any) -> Any:
    if isinstance(value, list):
        return [_bytes(v) for v in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, str):
        return value.encode()
    return value


def predictions(outputs: Arrays) -> list[Any]:
    """Row format: one entry per instance; an object per row when the signature has several outputs."""
    if len(outputs) == 1:
        (name, array), = outputs.items()  # fmt: skip
        return _jsonable(name, array)  # type: ignore[no-any-return]
    sizes = {n: a.shape[0] if a.ndim else None for n, a in outputs.items()}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise bad_request(f"outputs differ in batch size {sizes}; ask for the columnar format ('inputs')")
    columns = {n: _jsonable(n, a) for n, a in outputs.items()}
    return [{n: col[i] for n, col in columns.items()} for i in range(next(iter(sizes.values())) or 0)]


def columnar(outputs: Arrays) -> Any:
    if len(outputs) == 1:
        (name, array), = outputs.items()  # fmt: skip
        return _jsonable(name, array)
    return {n: _jsonable(n, a) for n, a in outputs.items()}


def _jsonable(name: str, array: np.ndarray[Any, Any]) -> Any:
    if array.dtype.kind not in "OS":
        return array.tolist()
    encode = _b64 if name.endswith("_bytes") else _text
    return _map(array.tolist(), encode)


def _map(value: Any, f: Any) -> Any:
    return [_map(v, f) for v in value] if isinstance(value, list) else f(value)


def _b64(value: bytes) -> dict[str, str]:
    return {"b64": base64.b64encode(value).decode()}


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")
