"""The TensorFlow half of the MNIST multi-container example: a small Keras CNN served by TF Serving.

`build_artifact(out_dir, X_train, y_train)` trains `SmallConv` (Conv2D(32, 3) → Flatten → Dense(128) →
Dense(10) logits, no softmax) briefly and writes `out_dir/model.tar.gz` holding the SavedModel under the
version folder `00000000/` at the archive root, so TF Serving (and coserve's tensorflow-serving adapter)
serve it as model `model`, version 0. Request: `{"instances": [[28x28x1 floats], ...]}`; answer:
`{"predictions": [[10 logits], ...]}`.

TensorFlow is imported inside the functions: importing this module stays cheap. This folder has no
`__init__.py` on purpose, so that it never shadows the real `tensorflow` package on sys.path.

    python examples/mnist/tensorflow/train.py --out build/tf [--npz mnist.npz]
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

VERSION = "00000000"
Array = np.ndarray[Any, Any]


def small_conv() -> Any:
    import keras

    image = keras.Input(shape=(28, 28, 1), name="image")
    x = keras.layers.Conv2D(32, 3, activation="relu")(image)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    logits = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(image, logits, name="small_conv")


def train(X_train: Array, y_train: Array, epochs: int = 1, batch_size: int = 512) -> Any:
    import keras

    model = small_conv()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, beta_2=0.999),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(X_train.astype("float32"), y_train.astype("int64"), epochs=epochs, batch_size=batch_size, verbose=0)
    return model


def build_artifact(out_dir: Path, X_train: Array, y_train: Array, epochs: int = 1) -> Path:
    """Train, export the SavedModel as version 00000000, and pack `out_dir/model.tar.gz`; returns its path."""
    model = train(X_train, y_train, epochs=epochs)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact = out_dir / "model.tar.gz"
    with tempfile.TemporaryDirectory() as tmp:
        export_dir = Path(tmp) / VERSION
        model.export(str(export_dir), verbose=False)  # a SavedModel with the serving_default signature
        with tarfile.open(artifact, "w:gz") as tar:
            tar.add(export_dir, arcname=VERSION)
    return artifact


def normalize(x: Array) -> Array:
    """Per-image z-score, as the SageMaker notebook's client does, with a channel axis added."""
    x = x.astype("float32")
    mean = x.mean(axis=(1, 2), keepdims=True)
    std = x.std(axis=(1, 2), keepdims=True)
    return np.expand_dims((x - mean) / (std + 1e-8), -1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for model.tar.gz")
    parser.add_argument("--npz", type=Path, help="MNIST as .npz with x_train, y_train (default: random digits)")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    if args.npz:
        with np.load(args.npz) as data:
            x, y = data["x_train"], data["y_train"]
    else:
        rng = np.random.default_rng(0)  # no download here: shapes right, accuracy meaningless
        x, y = rng.integers(0, 256, (2048, 28, 28)), rng.integers(0, 10, 2048)
    print(build_artifact(args.out, normalize(x), y, epochs=args.epochs))


if __name__ == "__main__":
    main()
