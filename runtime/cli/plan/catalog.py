"""Instance types and their prices: the table the consolidation benchmark uses (benchmarks/prices.json)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GIB = 2**30
DEFAULT_PRICES = Path(__file__).resolve().parents[3] / "benchmarks" / "prices.json"
# Accelerated SageMaker/EC2 families: GPUs (g, p), Inferentia, Trainium, Habana (dl).
_ACCELERATED = re.compile(r"^(?:ml\.)?(?:g\d|p\d|inf\d|trn\d|dl\d)[a-z]*\.")


def is_accelerated(instance_type: str) -> bool:
    return bool(_ACCELERATED.match(instance_type))


@dataclass(frozen=True)
class Instance:
    name: str  # the SageMaker type, ml.c5.large
    vcpu: int
    memory_bytes: int
    sagemaker_usd_per_hour: float
    ec2: str  # the EC2 type with the same shape, c5.large
    ec2_usd_per_hour: float


@dataclass(frozen=True)
class Catalog:
    instances: tuple[Instance, ...]
    hours_per_month: float
    source: str

    def get(self, name: str) -> Instance | None:
        return next((i for i in self.instances if name in (i.name, i.ec2)), None)


class CatalogError(ValueError):
    pass


def load_catalog(path: Path | None = None) -> Catalog:
    """Raises CatalogError naming the file and what is wrong with it."""
    path = path or DEFAULT_PRICES
    try:
        doc = json.loads(path.read_text())
        return Catalog(tuple(_instance(n, row) for n, row in doc["instances"].items()),
                       float(doc["hours_per_month"]), str(doc["source"]))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CatalogError(f"price table {path}: {exc!r}") from None


def _instance(name: str, row: dict[str, Any]) -> Instance:
    return Instance(name, int(row["vcpu"]), int(float(row["memory_gib"]) * GIB), float(row["sagemaker_usd_per_hour"]),
                    str(row["ec2"]), float(row["ec2_usd_per_hour"]))  # fmt: skip
