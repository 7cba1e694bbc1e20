"""TF Serving's gRPC API from tensorflow-serving-api: PredictionService and ModelService, over the same servables.

Runs on a grpcio thread pool; model calls release the GIL inside TensorFlow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any, TypeVar

import grpc  # type: ignore[import-untyped]
import tensorflow as tf  # type: ignore[import-untyped]
from tensorflow_serving.apis import (  # type: ignore[import-untyped]
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from servers.tfs.errors import status_of
from servers.tfs.examples import classifications, regressions
from servers.tfs.methods import run_serialized
from servers.tfs.registry import Registry
from servers.tfs.servables import CLASSIFY, REGRESS

log = logging.getLogger("servers.tfs.grpc")
T = TypeVar("T")
_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND}
_STATES = {"START": 10, "LOADING": 20, "AVAILABLE": 30, "UNLOADING": 40, "END": 50}  # ModelVersionStatus.State


def _guarded(call: Callable[[], T], context: grpc.ServicerContext) -> T:
    try:
        return call()
    except Exception as exc:
        status = status_of(exc)
        if status >= 500:
            log.exception("gRPC call failed")
        context.abort(_CODES.get(status, grpc.StatusCode.INTERNAL), str(exc))
        raise  # abort() raises; this line is for the type checker


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):  # type: ignore[misc]
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _servable(self, spec: Any) -> Any:
        return self.registry.get(spec.name, spec.version.value if spec.HasField("version") else None)

    def Predict(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _guarded(lambda: self._predict(request), context)

    def _predict(self, request: Any) -> Any:
        servable = self._servable(request.model_spec)
        signature = servable.signature(request.model_spec.signature_name or None)
        outputs = signature.run({k: tf.make_ndarray(v) for k, v in request.inputs.items()})
        wanted = set(request.output_filter) or set(outputs)
        response = predict_pb2.PredictResponse()
        _spec(response.model_spec, servable, signature.key)
        for name in wanted & set(outputs):
            response.outputs[name].CopyFrom(tf.make_tensor_proto(outputs[name]))
        return response

    def Classify(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _guarded(lambda: self._examples(request, CLASSIFY), context)

    def Regress(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _guarded(lambda: self._examples(request, REGRESS), context)

    def _examples(self, request: Any, method: str) -> Any:
        servable = self._servable(request.model_spec)
        signature = servable.signature(request.model_spec.signature_name or None)
        if signature.method != method:
            raise ValueError(f"Expected signature method_name to be {method}. Was: {signature.method}")
        outputs = run_serialized(signature, _serialized(request.input))
        if method == CLASSIFY:
            response = classification_pb2.ClassificationResponse()
            for row in classifications(outputs):
                response.result.classifications.add().classes.extend(
                    classification_pb2.Class(label=c[0], score=c[1] if len(c) > 1 else 0.0) for c in row
                )
        else:
            response = regression_pb2.RegressionResponse()
            response.result.regressions.extend(regression_pb2.Regression(value=v) for v in regressions(outputs))
        _spec(response.model_spec, servable, signature.key)
        return response

    def GetModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _guarded(lambda: self._metadata(request), context)

    def _metadata(self, request: Any) -> Any:
        servable = self._servable(request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _spec(response.model_spec, servable, "")
        response.metadata["signature_def"].Pack(
            get_model_metadata_pb2.SignatureDefMap(signature_def=servable.signature_defs)
        )
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):  # type: ignore[misc]
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def GetModelStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        return _guarded(lambda: self._status(request), context)

    def _status(self, request: Any) -> Any:
        spec = request.model_spec
        response = get_model_status_pb2.GetModelStatusResponse()
        wanted = spec.version.value if spec.HasField("version") else None
        for version, state, error in self.registry.status(spec.name, wanted):
            entry = response.model_version_status.add(version=version, state=_STATES[state])
            entry.status.error_code = 2 if error else 0  # tensorflow.error.Code UNKNOWN / OK
            entry.status.error_message = error
        return response


def _serialized(model_input: Any) -> list[bytes]:
    if model_input.HasField("example_list_with_context"):
        both = model_input.example_list_with_context
        merged = []
        for example in both.examples:
            full = tf.train.Example()
            full.CopyFrom(both.context)
            full.MergeFrom(example)
            merged.append(full.SerializeToString())
        return merged
    return [e.SerializeToString() for e in model_input.example_list.examples]


def _spec(spec: Any, servable: Any, signature: str) -> None:
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = signature


def start_grpc(registry: Registry, port: int, workers: int) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(registry), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(registry), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    log.info("gRPC PredictionService and ModelService on 127.0.0.1:%s", port)
    return server
