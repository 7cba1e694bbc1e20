"""Steady, bounded load through the balancer: a fixed pool of threads, one boto3 client each, no retries.

Every request is recorded with when it started and ended, whether it succeeded, and which host and model
version answered (the echo container reports its network namespace and the model file it serves).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

# The echo container holds each request this long (its behaviour, chosen per request), so that requests are
# in flight on every host at any moment, as under real traffic, and the pool's rate stays bounded.
HOLD = "sleep=0.02"


@dataclass(frozen=True)
class Outcome:
    started: float
    ended: float
    host: str | None  # the answering host's network namespace, None on failure
    model: str | None  # the model version it served
    error: str | None


class Load:
    def __init__(self, url: str, endpoint: str, threads: int = 6) -> None:
        config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=30, connect_timeout=5)
        self.clients = [
            boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
                         aws_access_key_id="AKIDTEST", aws_secret_access_key="secret", config=config)
            for _ in range(threads)
        ]  # fmt: skip
        self.endpoint = endpoint
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def one(self, client: Any) -> Outcome:
        started = time.monotonic()
        try:
            r = client.invoke_endpoint(EndpointName=self.endpoint, Body=b"{}", ContentType="application/json",
                                       CustomAttributes=HOLD)  # fmt: skip
            doc = json.loads(r["Body"].read())
            return Outcome(started, time.monotonic(), doc["net_namespace"], doc["model"], None)
        except (ClientError, BotoCoreError) as exc:
            return Outcome(started, time.monotonic(), None, None, f"{type(exc).__name__}: {exc}")

    def _loop(self, client: Any, limit: int | None) -> None:
        done = 0
        while not self._stop.is_set() and (limit is None or done < limit):
            outcome = self.one(client)
            done += 1
            with self._lock:
                self.outcomes.append(outcome)

    def start(self, per_thread: int | None = None) -> None:
        """Every thread sends `per_thread` requests (None: until stop())."""
        self._stop.clear()
        self._threads = [threading.Thread(target=self._loop, args=(c, per_thread)) for c in self.clients]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self.join()

    def join(self) -> None:
        for t in self._threads:
            t.join(120)
        self._threads = []

    def run(self, per_thread: int) -> list[Outcome]:
        """A fixed number of requests; returns just those."""
        before = len(self.snapshot())
        self.start(per_thread)
        self.join()
        return self.snapshot()[before:]

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)

    def close(self) -> None:
        self.stop()
        for c in self.clients:
            c.close()


def spread(outcomes: list[Outcome]) -> Counter[str | None]:
    return Counter(o.host for o in outcomes)
