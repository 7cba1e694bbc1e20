"""The TensorFlow Serving container's server side: what `python -m servers.tfs` runs.

Two shapes, one request-handling core:
- built-in (no `tensorflow_model_server` on this host): ONE process on the TensorFlow Python runtime serves
  /ping, /invocations and TF Serving's REST API on SAGEMAKER_BIND_TO_PORT (REST also on the TFS REST port),
  and TF Serving's gRPC PredictionService/ModelService on the TFS gRPC port. /invocations calls the model
  in-process: no HTTP hop on the hot path.
- binary: `tensorflow_model_server` runs as this process's child on the TFS ports, and this process is the
  SageMaker front (nginx + njs in SageMaker's image) translating /invocations to its REST API.

Ports as SageMaker's serve.py lays them out: gRPC at the low end of SAGEMAKER_SAFE_PORT_RANGE, REST at +1.
"""
