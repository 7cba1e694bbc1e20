"""Train the iris pipeline and write one model.tar.gz per step (scikit-learn's bundled iris, offline).

Each artifact carries its server's code under `code/`, as SageMaker artifacts do, so the deployment
file runs `$(SM_MODEL_DIR)/code/<step>.py`.

    python examples/pipeline/build.py [OUT_DIR]      (default: examples/pipeline/build)
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def train() -> tuple[Any, Any, Any, list[str]]:
    """The scaler and classifier, plus held-out rows and species names, as the tests rebuild them."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    iris = load_iris()
    x_train, x_test, y_train, _ = train_test_split(iris.data, iris.target, test_size=0.2, random_state=7)
    scaler = StandardScaler().fit(x_train)
    model = LogisticRegression(max_iter=500).fit(scaler.transform(x_train), y_train)
    return scaler, model, x_test, list(iris.target_names)


def build(out: Path) -> dict[str, Path]:
    import joblib

    out.mkdir(parents=True, exist_ok=True)
    scaler, model, _, names = train()
    buf = io.BytesIO()
    joblib.dump(model, buf)
    scaler_doc = {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()}
    data = {
        "featurizer": {"scaler.json": json.dumps(scaler_doc).encode()},
        "classifier": {"model.joblib": buf.getvalue()},
        "formatter": {"labels.json": json.dumps(dict(enumerate(names))).encode()},
    }
    return {
        step: _tar(out / f"{step}.tar.gz", {**files, f"code/{step}.py": (HERE / f"{step}.py").read_bytes()})
        for step, files in data.items()
    }


if __name__ == "__main__":
    for step, path in build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "build").items():
        print(f"{step}: {path}")
