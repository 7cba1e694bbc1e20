"""The user's inference module and the pipeline built from it, as SageMaker's toolkit does."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from servers.pytorch_handler import defaults

STAGES = ("input_fn", "predict_fn", "output_fn")
Fn = Callable[..., Any]


class UserCodeError(Exception):
    """The artifact's code cannot be used as it is: the container cannot start."""


def load_module(model_dir: Path, env: Mapping[str, str]) -> ModuleType | None:
    """SAGEMAKER_PROGRAM (default inference.py) from code/, else from the model dir's root."""
    program = env.get("SAGEMAKER_PROGRAM", "inference.py")
    name = program.removesuffix(".py")
    for folder in (model_dir / "code", model_dir):
        if (folder / f"{name}.py").is_file():
            sys.path.insert(0, str(folder))  # so its sibling modules import, as on SageMaker
            return importlib.import_module(name)
    if "SAGEMAKER_PROGRAM" in env:
        raise UserCodeError(f"SAGEMAKER_PROGRAM={program} is in neither {model_dir}/code nor {model_dir}")
    return None


class Pipeline:
    """model_fn once; then transform_fn, or input_fn → predict_fn → output_fn, per request."""

    def __init__(self, module: ModuleType | None) -> None:
        self.fns: dict[str, Fn | None] = {
            name: getattr(module, name, None) for name in ("model_fn", "transform_fn", *STAGES)
        }
        self.model: Any = None

    def load(self, model_dir: Path) -> None:
        own = [name for name in STAGES if self.fns[name] is not None]
        if self.fns["transform_fn"] is not None and own:
            raise UserCodeError(
                f"transform_fn cannot be used together with {', '.join(own)}: define either transform_fn "
                "or input_fn/predict_fn/output_fn"
            )
        self.model = (self.fns["model_fn"] or defaults.model_fn)(str(model_dir))

    def transform(self, body: str | bytes, content_type: str, accept: str) -> tuple[Any, str]:
        """The response body and its content type (Accept's, unless the defaults chose one)."""
        transform_fn = self.fns["transform_fn"]
        if transform_fn is not None:
            result = transform_fn(self.model, body, content_type, accept)
            return (result[0], result[1]) if isinstance(result, tuple) else (result, accept)
        data = (self.fns["input_fn"] or defaults.input_fn)(body, content_type)
        prediction = (self.fns["predict_fn"] or defaults.predict_fn)(data, self.model)
        output_fn = self.fns["output_fn"]
        if output_fn is None:
            return defaults.output_fn(prediction, accept)
        return output_fn(prediction, accept), accept
