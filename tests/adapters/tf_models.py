"""SavedModel artifacts for the TF Serving tests, built with real TensorFlow (imported on first use).

- `mnist_dir`: the example's Keras SmallConv, as version 00000000 at the root (model `model`).
- `adder/1`, `adder/2`: y = x + 1 and y = x + 2 for x of shape [None, 3] (input `x`, output `y`).
- `scorer/1`: serving_default is a regress signature (tf.Examples with float feature `x` → 10·x) and
  `classify` a classify signature (classes `lo`/`hi`, scores [1-x, x]); their SignatureDef method names
  are set as TF Serving's own exporters set them.
"""

from __future__ import annotations

import importlib.util
import shutil
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mnist" / "tensorflow" / "train.py"
INFERENCE_PY = """
import json

from helper import SCALE  # from code/lib


def input_handler(data, context):
    payload = json.loads(data.read().decode("utf-8"))
    if "fail" in payload:
        raise ValueError(f"input_handler refused: {payload['fail']}")
    return json.dumps({"instances": [[v * SCALE for v in payload["values"]]]})


def output_handler(response, context):
    if response.status_code != 200:
        raise ValueError(response.content.decode())
    row = response.json()["predictions"][0]
    reply = {"total": sum(row), "model": context.model_name, "method": context.method,
             "content_type": context.request_content_type, "grpc_port": context.grpc_port}
    return json.dumps(reply), "application/vnd.total+json"
"""


def mnist_samples(n: int, seed: int = 0) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).normal(size=(n, 28, 28, 1)).astype("float32")


def build_mnist(out_dir: Path) -> Path:
    """The example's build_artifact on random digits (a few hundred, one epoch): model.tar.gz."""
    spec = importlib.util.spec_from_file_location("coserve_example_tf_train", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    labels = np.random.default_rng(1).integers(0, 10, 256)
    return example.build_artifact(out_dir, mnist_samples(256, seed=2), labels)  # type: ignore[no-any-return]


def save_adder(path: Path, k: float) -> None:
    import tensorflow as tf

    class Adder(tf.Module):  # type: ignore[misc]
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def serve(self, x: Any) -> dict[str, Any]:
            return {"y": x + k}

    module = Adder()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def save_scorer(path: Path) -> None:
    import tensorflow as tf

    spec = tf.TensorSpec([None], tf.string, name="inputs")

    class Scorer(tf.Module):  # type: ignore[misc]
        def _x(self, serialized: Any) -> Any:
            return tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]

        @tf.function(input_signature=[spec])
        def regress(self, inputs: Any) -> dict[str, Any]:
            return {"outputs": self._x(inputs) * 10.0}

        @tf.function(input_signature=[spec])
        def classify(self, inputs: Any) -> dict[str, Any]:
            x = self._x(inputs)
            classes = tf.tile(tf.constant([["lo", "hi"]]), [tf.shape(x)[0], 1])
            return {"classes": classes, "scores": tf.concat([1.0 - x, x], axis=1)}

    module = Scorer()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.regress, "classify": module.classify})
    _set_methods(path, {"serving_default": "tensorflow/serving/regress", "classify": "tensorflow/serving/classify"})


def _set_methods(path: Path, methods: dict[str, str]) -> None:
    """tf.saved_model.save writes every signature as predict; TFS's estimator exporters wrote these."""
    from tensorflow.core.protobuf import saved_model_pb2

    pb = path / "saved_model.pb"
    model = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
    for key, method in methods.items():
        model.meta_graphs[0].signature_def[key].method_name = method
    pb.write_bytes(model.SerializeToString())
    (path / "fingerprint.pb").unlink(missing_ok=True)  # it hashes saved_model.pb as written


def build_main(out_dir: Path, mnist_tar: Path) -> Path:
    """mnist at the root (model `model`, found first), adder v1 + v2, scorer: one model.tar.gz."""
    tree = out_dir / "main"
    with tarfile.open(mnist_tar) as tar:
        tar.extractall(tree, filter="data")
    save_adder(tree / "adder" / "1", 1.0)
    save_adder(tree / "adder" / "00000002", 2.0)  # leading zeros: version 2
    save_scorer(tree / "scorer" / "1")
    return pack(tree, out_dir / "main.tar.gz")


def build_with_code(out_dir: Path) -> Path:
    """adder v1 plus code/inference.py (input_handler/output_handler) and code/lib/helper.py."""
    tree = out_dir / "code"
    save_adder(tree / "adder" / "1", 1.0)
    (tree / "code" / "lib").mkdir(parents=True)
    (tree / "code" / "inference.py").write_text(INFERENCE_PY)
    (tree / "code" / "lib" / "helper.py").write_text("SCALE = 10.0\n")
    return pack(tree, out_dir / "code.tar.gz")


def pack(tree: Path, artifact: Path) -> Path:
    with tarfile.open(artifact, "w:gz") as tar:
        for child in sorted(tree.iterdir()):
            tar.add(child, arcname=child.name)
    shutil.rmtree(tree)
    return artifact
