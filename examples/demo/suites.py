"""What the demo serves: each suite builds its artifacts and knows how to ask its containers."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
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
    streamers: list[DemoContainer]  # containers that stream their answer (invoke_endpoint_with_response_stream)

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
        self.streamers = [
            DemoContainer("zen-writer", "process",
                          {"Command": [python, "$(SM_MODEL_DIR)/code/zen_writer.py"], "Memory": "128MiB"},
                          lambda prompt: {"prompt": prompt, "words": 24}, lambda doc: []),
        ]  # fmt: skip

    def build(self, out: Path) -> dict[str, Path]:
        done = {c.hostname: out / f"{c.hostname}.tar.gz" for c in self.containers}
        built = done if all(p.exists() for p in done.values()) else self.module.build(out)
        return {**built, "zen-writer": zen_writer_artifact(out / "zen-writer.tar.gz")}

    def batches(self) -> Iterator[tuple[Any, list[int]]]:
        _, x_test, _, y_test = self.module.split()
        for i in range(0, len(x_test), 32):
            yield x_test[i : i + 32], y_test[i : i + 32].tolist()


class Mnist(Suite):
    """SageMaker's multi-container example, locally: a Keras model in TF Serving and a PyTorch Net in
    TorchServe, given by the same framework image URIs and invoked with the same payloads as its client."""

    endpoint = "mnist-multi-container-ep"
    tf_image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-inference:2.3.1-cpu"
    pt_image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:1.8.1-cpu-py36"

    def __init__(self) -> None:
        self.tf = load(EXAMPLES / "mnist" / "tensorflow" / "train.py")
        self.pt = load(EXAMPLES / "mnist" / "pytorch" / "train.py")
        self.x_train, self.x_test, self.y_train, self.y_test = digits_28x28()
        self.streamers = []
        argmax: Callable[[Any], list[int]] = lambda rows: [max(range(10), key=r.__getitem__) for r in rows]  # noqa: E731
        self.containers = [
            DemoContainer("tensorflow-mnist", self.tf_image, {"Memory": "1536MiB"},
                          lambda x: {"instances": self.tf.normalize(x).tolist()},
                          lambda doc: argmax(doc["predictions"])),
            DemoContainer("pytorch-mnist", self.pt_image, {"Memory": "1GiB"},
                          lambda x: {"inputs": self.pt.normalize(x).tolist()}, argmax,
                          environment={"SAGEMAKER_PROGRAM": "inference.py"}),
        ]  # fmt: skip

    def build(self, out: Path) -> dict[str, Path]:
        tf, pt = out / "tensorflow-mnist" / "model.tar.gz", out / "pytorch-mnist" / "model.tar.gz"
        if not tf.exists():
            self.tf.build_artifact(tf.parent, self.tf.normalize(self.x_train), self.y_train, epochs=20)
        if not pt.exists():
            self.pt.build_artifact(pt.parent, self.x_train, self.y_train, epochs=8)
        return {"tensorflow-mnist": tf, "pytorch-mnist": pt}

    def batches(self) -> Iterator[tuple[Any, list[int]]]:
        for i in range(0, len(self.x_test), 16):  # 16 images per request, as the notebook samples
            yield self.x_test[i : i + 16], self.y_test[i : i + 16].tolist()


def zen_writer_artifact(path: Path) -> Path:
    """model.tar.gz of the streaming demo container: its bigram table and its server."""
    server = EXAMPLES / "demo" / "zen_writer.py"
    table = json.dumps(load(server).train()).encode()
    with tarfile.open(path, "w:gz") as tar:
        tar.add(server, "code/zen_writer.py")
        info = tarfile.TarInfo("bigrams.json")
        info.size = len(table)
        tar.addfile(info, io.BytesIO(table))
    return path


def digits_28x28() -> tuple[Any, Any, Any, Any]:
    """scikit-learn's bundled 8x8 digits (offline), scaled up to MNIST's 28x28 uint8 images."""
    import numpy as np
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.clip(zoom(digits.images, (1, 3.5, 3.5), order=1) * (255 / 16), 0, 255).astype(np.uint8)
    return train_test_split(images, digits.target, test_size=0.2, random_state=0)  # type: ignore[no-any-return]


SUITES: dict[str, Callable[[], Suite]] = {"mnist": Mnist, "digits": Digits}
