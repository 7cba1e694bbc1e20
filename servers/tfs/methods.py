"""predict, classify and regress on one servable, for a parsed TFS REST request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from servers.tfs import tensors
from servers.tfs.errors import bad_request
from servers.tfs.examples import classifications, regressions, serialized_examples
from servers.tfs.servables import CLASSIFY, REGRESS, Servable, Signature


def run(servable: Servable, method: str, request: Mapping[str, Any]) -> dict[str, Any]:
    signature = servable.signature(request.get("signature_name"))
    if method == "predict":
        return predict(signature, request)
    if method == "classify":
        return {"result": classifications(examples(signature, CLASSIFY, request))}
    if method == "regress":
        return {"result": regressions(examples(signature, REGRESS, request))}
    raise bad_request(f"unknown method {method!r}")


def predict(signature: Signature, request: Mapping[str, Any]) -> dict[str, Any]:
    if "instances" in request:
        if "inputs" in request:
            raise bad_request("Not both 'instances' and 'inputs' may be given")
        out = signature.run(tensors.from_instances(request["instances"], signature.inputs))
        return {"predictions": tensors.predictions(out)}
    if "inputs" in request:
        return {"outputs": tensors.columnar(signature.run(tensors.from_inputs(request["inputs"], signature.inputs)))}
    raise bad_request("Missing 'inputs' or 'instances' key")


def examples(signature: Signature, method: str, request: Mapping[str, Any]) -> tensors.Arrays:
    if signature.method != method:
        raise bad_request(f"Expected signature method_name to be {method}. Was: {signature.method}")
    return run_serialized(signature, serialized_examples(request))


def run_serialized(signature: Signature, serialized: list[bytes]) -> tensors.Arrays:
    if len(signature.inputs) != 1:
        raise bad_request(f"signature {signature.key!r} must take one input of serialized tf.Examples")
    (name,) = signature.inputs
    return signature.run({name: np.asarray(serialized, dtype=object)})
