"""Train two digits classifiers on scikit-learn's bundled digits (offline) and package each artifact.

Each model.tar.gz carries its server under `code/`, so the deployment runs `$(SM_MODEL_DIR)/code/...`.
"""

from __future__ import annotations

import io
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


def split() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    return train_test_split(digits.data, digits.target, test_size=0.25, random_state=0)  # type: ignore[no-any-return]


def build(out: Path) -> dict[str, Path]:
    """`digits-sklearn` (logistic regression) and `digits-centroid` (nearest centroid) artifacts."""
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    out.mkdir(parents=True, exist_ok=True)
    x_train, _, y_train, _ = split()
    model = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    buf = io.BytesIO()
    joblib.dump(model, buf)
    centroids = np.stack([x_train[y_train == d].mean(axis=0) for d in range(10)])
    npy = io.BytesIO()
    np.save(npy, centroids)
    return {
        "digits-sklearn": _tar(out / "digits-sklearn.tar.gz", {
            "model.joblib": buf.getvalue(), "code/sklearn_server.py": (HERE / "sklearn_server.py").read_bytes()}),
        "digits-centroid": _tar(out / "digits-centroid.tar.gz", {
            "centroids.npy": npy.getvalue(), "code/centroid_server.py": (HERE / "centroid_server.py").read_bytes()}),
    }  # fmt: skip
