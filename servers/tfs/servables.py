"""Loaded SavedModel versions and their signatures: the only module that calls TensorFlow to run a model.

Each signature keeps the SavedModel's ConcreteFunction and is called with tensors built once per request:
no tf.function tracing at request time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf  # type: ignore[import-untyped]
from tensorflow.core.protobuf import saved_model_pb2  # type: ignore[import-untyped]

from servers.tfs.errors import bad_request
from servers.tfs.tensors import Arrays, TensorInfo

log = logging.getLogger("servers.tfs.servables")
PREDICT = "tensorflow/serving/predict"
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"


class Signature:
    def __init__(self, key: str, fn: Any, method: str) -> None:
        self.key = key
        self.fn = fn
        self.method = method
        specs = fn.structured_input_signature[1]
        self.dtypes = {n: s.dtype for n, s in specs.items()}
        self.inputs = {n: TensorInfo(np.dtype(s.dtype.as_numpy_dtype), _shape(s.shape)) for n, s in specs.items()}
        self.outputs = tuple(fn.structured_outputs)

    def run(self, feeds: Arrays) -> Arrays:
        if feeds.keys() != self.inputs.keys():
            raise bad_request(f"signature {self.key!r} takes inputs {sorted(self.inputs)}, got {sorted(feeds)}")
        for name, array in feeds.items():
            _check_shape(name, array.shape, self.inputs[name].shape)
        tensors = {n: tf.constant(a, dtype=self.dtypes[n]) for n, a in feeds.items()}
        return {n: t.numpy() for n, t in self.fn(**tensors).items()}


@dataclass
class Servable:
    name: str
    version: int
    signatures: dict[str, Signature]
    signature_defs: Any  # the SavedModel's SignatureDef map, for model metadata
    loaded: Any  # the restored object: it owns the variables the signatures read

    def signature(self, key: str | None) -> Signature:
        found = self.signatures.get(key or DEFAULT_SIGNATURE)
        if found is None:
            raise bad_request(f'Serving signature key "{key or DEFAULT_SIGNATURE}" not found.')
        return found


def configure_threads(intra_op: int, inter_op: int) -> None:
    """Before the first op runs: TF fixes its thread pools when its runtime starts."""
    tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    tf.config.threading.set_inter_op_parallelism_threads(inter_op)


def load_servable(name: str, version: int, path: Path) -> Servable:
    loaded = tf.saved_model.load(str(path))
    defs = _signature_defs(path)
    signatures = {
        key: Signature(key, fn, defs[key].method_name if key in defs else PREDICT)
        for key, fn in loaded.signatures.items()
    }
    log.info("loaded %s version %s from %s: signatures %s", name, version, path, sorted(signatures))
    return Servable(name, version, signatures, defs, loaded)


def _signature_defs(path: Path) -> Any:
    """The SignatureDefs as written: their method_name (predict/classify/regress) is not kept by tf.saved_model.load."""
    pb = path / "saved_model.pb"
    if not pb.exists():
        return {}
    model = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
    serving = [g for g in model.meta_graphs if "serve" in g.meta_info_def.tags] or list(model.meta_graphs)
    return {k: v for k, v in serving[0].signature_def.items() if not k.startswith("__")} if serving else {}


def _shape(shape: Any) -> tuple[int | None, ...] | None:
    return tuple(shape.as_list()) if shape.rank is not None else None


def _check_shape(name: str, got: tuple[int, ...], want: tuple[int | None, ...] | None) -> None:
    """Signature functions do not check shapes, and some kernels abort the process on a wrong one (oneDNN's conv)."""
    if want is None:
        return
    if len(got) != len(want) or any(w is not None and w != g for g, w in zip(got, want, strict=False)):
        shown = [-1 if w is None else w for w in want]
        raise bad_request(f"input {name!r} has shape {list(got)}; the signature expects {shown}")
