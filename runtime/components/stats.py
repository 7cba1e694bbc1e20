"""Counters of wakes, on both sides: the supervisor side counts wakes, evictions and each wake's time to a running
copy, and publishes them as `stats.json` beside the wake signals; the router side counts the requests that waited
(runtime.components.metrics exports both on /metrics)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from runtime.published import write_atomic

FILE = "stats.json"


@dataclass
class WakeStats:
    wakes: int = 0  # wakes started (the supervisor side)
    evictions: int = 0  # idle-eligible components scaled to zero to make room for a wake
    woken: int = 0  # wakes that reached a running copy
    wake_seconds: float = 0.0  # summed over those: wake asked -> a copy RUNNING

    def woke(self, seconds: float) -> None:
        self.woken += 1
        self.wake_seconds += seconds

    def write(self, folder: Path) -> None:
        write_atomic(folder / FILE, json.dumps(asdict(self)))

    @staticmethod
    def read(folder: Path) -> WakeStats | None:
        try:
            return WakeStats(**json.loads((folder / FILE).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


@dataclass
class WaitStats:
    waited: int = 0  # requests held while their component woke (the router side)
    woken: int = 0  # of those, the ones a copy then served
    timed_out: int = 0  # of those, the ones answered ServiceUnavailable past WakeTimeout or for a shortage
    wait_seconds: float = 0.0  # summed time held
