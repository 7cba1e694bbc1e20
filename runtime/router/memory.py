"""Giving freed memory back to the OS after a spike of large requests or answers.

Request bodies arrive in reads of up to a few hundred KiB; glibc serves those from its heap, and once a burst
of concurrent 6 MiB uploads is over the heap is full of free holes that free() never returns: 24 uploads left
the front door 45 MB above where it started, for good (tests/hostile/test_http_auth.py). malloc_trim(0)
releases those pages; it costs well under a microsecond when there is nothing to release and about 0.1 ms
after a spike, so the connection sweep calls it on every tick. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim: Callable[[int], int] | None = getattr(ctypes.CDLL(name), "malloc_trim", None)
    return trim


def release_free_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
