"""The default decoders and encoders: JSON, CSV and NPY, chosen by Content-Type and Accept."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

JSON, CSV, NPY = "application/json", "text/csv", "application/x-npy"
TEXT_TYPES = (JSON, CSV)  # decoded to str before input_fn, as SageMaker's toolkit does


class UnsupportedFormatError(Exception):
    """A content type the default functions cannot handle: the client's fault, 415."""


def media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def decode(body: str | bytes, content_type: str) -> np.ndarray[Any, Any]:
    kind = media_type(content_type)
    if kind == JSON:
        return np.array(json.loads(body))
    if kind == CSV:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return np.genfromtxt(io.StringIO(text), delimiter=",", dtype=np.float32)
    if kind == NPY:
        raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        return np.asarray(np.load(io.BytesIO(raw), allow_pickle=False))
    raise UnsupportedFormatError(f"Content type {content_type} is not supported by the default input_fn")


def encode(prediction: Any, accept: str) -> tuple[bytes, str]:
    """The first type in Accept that is supported, as (body, content type)."""
    for kind in (media_type(a) for a in accept.split(",")):
        if kind == JSON:
            return json.dumps(np.asarray(prediction).tolist()).encode("utf-8"), JSON
        if kind == CSV:
            out = io.StringIO()
            # One row per sample; a 1-D prediction is one row, not one value per line.
            np.savetxt(out, np.atleast_2d(np.asarray(prediction)), delimiter=",", fmt="%s")
            return out.getvalue().encode("utf-8"), CSV
        if kind == NPY:
            buf = io.BytesIO()
            np.save(buf, np.asarray(prediction), allow_pickle=False)
            return buf.getvalue(), NPY
    raise UnsupportedFormatError(f"Accept {accept} is not supported by the default output_fn")
