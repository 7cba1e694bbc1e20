"""What the demo serves: each suite builds its artifacts and knows how to ask its containers."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[1]


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class DemoContainer:
    hostname: str
    image: str
    settings: dict[str, Any]
    payload: Callable[[Any], Any]  # a batch of inputs -> the JSON body this container expects
    predictions: Callable[[Any], list[int]]  # its JSON answer -> predicted classes
    environment: dict[str, str] = field(default_factory=dict)

    def definition(self, url: str) -> dict[str, Any]:
        c: dict[str, Any] = {"ContainerHostname": self.hostname, "Image": self.image, "ModelDataUrl": url}
        if self.environment:
            c["Environment"] = self.environment
        return c


class Suite:
    endpoint: str
    containers: list[DemoContainer]

    def build(self, out: Path) -> dict[str, Path]:
        raise NotImplementedError

    def batches(self) -> Iterator[tuple[Any, list[int]]]:
        raise NotImplementedError


class Digits(Suite):
    """Two bring-your-own containers on two stacks: scikit-learn on starlette, NumPy on the stdlib server."""

    endpoint = "digits-multi-container-ep"

    def __init__(self) -> None:
        self.module = load(EXAMPLES / "digits" / "build.py")
        python = "$(COSERVE_PYTHON)"
        self.containers = [
            DemoContainer("digits-sklearn", "process",
                          {"Command": [python, "$(SM_MODEL_DIR)/code/sklearn_server.py"], "Memory": "512MiB"},
                          lambda x: {"instances": x.tolist()}, lambda doc: doc["predictions"]),
            DemoContainer("digits-centroid", "process",
                          {"Command": [python, "$(SM_MODEL_DIR)/code/centroid_server.py"], "Memory": "256MiB"},
                          lambda x: {"instances": x.tolist()}, lambda doc: doc["predictions"]),
        ]  # fmt: skip

    def build(self, out: Path) -> dict[str, Path]:
        done = {c.hostname: out / f"{c.hostname}.tar.gz" for c in self.containers}
        return done if all(p.exists() for p in done.values()) else self.module.build(out)  # type: ignore[no-any-return]

    def batches(self) -> Iterator[tuple[Any, list[int]]]:
        _, x_test, _, y_test = self.module.split()
        for i in range(0, len(x_test), 32):
            yield x_test[i : i + 32], y_test[i : i + 32].tolist()


SUITES: dict[str, Callable[[], Suite]] = {"digits": Digits}
