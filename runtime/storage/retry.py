"""Retry one network step with exponential backoff; only TransientError is retried."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from runtime.storage.settings import ArtifactError, StorageSettings, TransientError

log = logging.getLogger("runtime.storage")

T = TypeVar("T")


def backoff_delay(settings: StorageSettings, attempt: int) -> float:
    """Delay before attempt `attempt + 1`; jitter keeps several starting hosts from retrying in step."""
    return float(settings.backoff_base_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.0))


def with_retry(
    settings: StorageSettings,
    url: str,
    what: str,
    step: Callable[[], T],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `step`, retrying TransientError up to settings.max_attempts times in all.

    ArtifactError (permanent or not) passes straight through; running out of attempts becomes a
    non-permanent ArtifactError that says how many attempts were made and the last cause.
    """
    attempts = max(1, settings.max_attempts)
    for attempt in range(1, attempts + 1):
        try:
            return step()
        except TransientError as exc:
            if attempt == attempts:
                raise ArtifactError(url, f"{what} failed after {attempts} attempts: {exc}", permanent=False) from exc
            delay = backoff_delay(settings, attempt)
            log.warning(
                "%s: %s failed (attempt %d/%d): %s; retrying in %.2fs",
                url,
                what,
                attempt,
                attempts,
                exc,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # the loop always returns or raises
