"""Classify and Regress: JSON `examples` → serialized tf.train.Example, and the results back as TFS writes them."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
from tensorflow.core.example import example_pb2  # type: ignore[import-untyped]

from servers.tfs.errors import bad_request


def serialized_examples(request: Mapping[str, Any]) -> list[bytes]:
    """`{"context": {...}, "examples": [{feature: value}, ...]}`: context features go into every example."""
    examples = request.get("examples")
    context = request.get("context", {})
    if not isinstance(examples, list) or not examples or not all(isinstance(e, dict) for e in examples):
        raise bad_request("'examples' must be a non-empty list of objects")
    if not isinstance(context, dict):
        raise bad_request("'context' must be an object")
    return [_example({**context, **e}).SerializeToString() for e in examples]


def _example(features: Mapping[str, Any]) -> Any:
    example = example_pb2.Example()
    for name, value in features.items():
        values = value if isinstance(value, list) else [value]
        feature = example.features.feature[name]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            feature.int64_list.value.extend(values)
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            feature.float_list.value.extend(values)
        elif all(isinstance(v, str | dict) for v in values):
            feature.bytes_list.value.extend(_bytes(v) for v in values)
        else:
            raise bad_request(f"feature {name!r}: values must all be numbers or all strings, got {value!r}")
    return example


def _bytes(value: str | dict[str, str]) -> bytes:
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise bad_request(f"expected a string or {{'b64': ...}}, got {value!r}")
        return base64.b64decode(value["b64"])
    return value.encode()


def classifications(outputs: Mapping[str, np.ndarray[Any, Any]]) -> list[list[list[Any]]]:
    """One `[[label, score], ...]` per example; labels are the `classes` output, else the score's index."""
    scores = outputs.get("scores")
    classes = outputs.get("classes")
    if scores is None and classes is None:
        raise bad_request("a classify signature outputs 'classes' and/or 'scores'")
    rows = (scores if scores is not None else classes).shape[0]  # type: ignore[union-attr]
    return [_classes(_row(classes, i), _row(scores, i)) for i in range(rows)]


def _row(array: Any, i: int) -> Any:
    return None if array is None else array[i]


def _classes(labels: Any, scores: Any) -> list[list[Any]]:
    count = len(scores) if scores is not None else len(labels)
    names = [_label(labels[j]) if labels is not None else str(j) for j in range(count)]
    return [[names[j], float(scores[j])] if scores is not None else [names[j]] for j in range(count)]


def _label(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def regressions(outputs: Mapping[str, np.ndarray[Any, Any]]) -> list[float]:
    values = outputs.get("outputs")
    if values is None:
        raise bad_request("a regress signature outputs 'outputs'")
    return [float(v) for v in np.asarray(values).reshape(len(values), -1)[:, 0]]
