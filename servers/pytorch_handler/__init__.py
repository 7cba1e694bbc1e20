"""The handler TorchServe's Python workers run: SageMaker's PyTorch user-code contract.

`service.handle` is TorchServe's entry point. It imports the user's module (`SAGEMAKER_PROGRAM`,
default inference.py, from `code/` or the model dir's root), uses its `model_fn`, `input_fn`,
`predict_fn`, `output_fn` or `transform_fn`, and the toolkit's defaults for what is missing.
Nothing here knows TorchServe beyond `handle(data, context)` and the context's header calls.
"""

SERVER_PID_ENV = "COSERVE_SERVER_PID"  # the server's pid, which the handler ends when the model cannot load
