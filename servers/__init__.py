"""The model servers coserve ships itself: what runs inside a container, unlike the declarative adapters.

- `tfs`: a TensorFlow-Serving-compatible server (REST + gRPC) with the SageMaker TF container's request handling,
  used where `tensorflow_model_server` is not installed.
- `pytorch_handler`: the handler TorchServe's Python workers run (SageMaker's PyTorch user-code contract).
- `torchserve`: the TorchServe container's entry point (lays out its work dir, then execs the JVM).

Adapters say how to start these; nothing here is imported by the supervisor or the router.
"""
