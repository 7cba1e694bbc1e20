"""Giving freed memory back to the OS after a spike of large requests or answers.

Request bodies arrive in reads of up to a few hundred KiB; glibc serves those from its heap, and once a burst
of concurrent 6 MiB uploads is over the heap is full of free holes that free() never returns: 24 uploads left
the front door 45 MB above where it started, for good (tests/runtime/router/hostile/test_auth.py). malloc_trim(0)
releases those pages. It runs from the connection sweep, and only when a large body or answer passed since
the last sweep: trimming after small requests too cost 15-25% more CPU per request (benchmarks/overhead.py),
the pages it hands back being faulted in again by the next ones. Elsewhere than glibc it does nothing.

`settle_heap` is the collector's side: once the front door serves, what start-up made (modules, config,
routes) is frozen out of the cyclic collector and young collections come less often; perf showed 3-4% of
the front door's CPU under load in the collector, re-walking those objects.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable

GC_YOUNG = 20_000  # allocations between young collections (CPython's default is 700): a few MB at most
LARGE = 64 * 2**10  # a body this size or more makes the next sweep trim
_pending = [False]  # a large body passed since the last trim (one flag per process: the front door is one loop)


def note(size: int) -> None:
    """A request body or container answer of `size` bytes was held and let go."""
    if size >= LARGE:
        _pending[0] = True


def release_free_memory() -> None:
    if not _pending[0]:
        return
    _pending[0] = False
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim: Callable[[int], int] | None = getattr(ctypes.CDLL(name), "malloc_trim", None)
    return trim


def settle_heap() -> None:
    """Once serving: move every object alive now out of the collector's reach, collect the young less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, older, oldest)
