"""Counters of wakes, on both sides: the supervisor side counts wakes and their time to a running copy, the
router side the requests that waited and how they ended. Plain numbers: the metrics part exports them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WakeStats:
    wakes: int = 0  # wakes started (the supervisor side)
    evictions: int = 0  # idle-eligible components scaled to zero to make room for a wake
    wake_seconds: list[float] = field(default_factory=list)  # wake asked -> a copy RUNNING, per wake (last 1000)

    def woke(self, seconds: float) -> None:
        self.wake_seconds = [*self.wake_seconds[-999:], seconds]


@dataclass
class WaitStats:
    waited: int = 0  # requests held while their component woke (the router side)
    woken: int = 0  # of those, the ones a copy then served
    timed_out: int = 0  # of those, the ones answered ServiceUnavailable past WakeTimeout or for a shortage
    wait_seconds: float = 0.0  # summed time held
