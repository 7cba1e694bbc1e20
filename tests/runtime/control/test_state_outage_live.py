"""A live host whose state store becomes unreachable keeps serving what it has, and picks up a change made once
the store is back (issue 23). Real coserve, real boto3, real SQLite.

The outage: another process takes exclusive POSIX locks on every lock slot of the WAL index (`coserve.db-shm`,
bytes 120..127: the writer, checkpointer and recovery locks and the five reader marks). Every read and write of
the file then fails, for root too, with SQLITE_PROTOCOL ("locking protocol") after SQLite's own ~10 s of
retries. Moving the file or its directory away does not do it (the open connections keep their descriptors,
and WAL mode never checks the name), nor does chmod (root).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.runtime.control.test_live_boto3 import WAIT, clients, create_endpoint, host, model_url, start_host
from tests.support import client_error, sigterm_when_parent_dies, wait_for

pytestmark = pytest.mark.integration
__all__ = ["host"]  # the fixture, used by name

LOCKER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 8, 120)  # waits for a moment when no reader holds a slot
print("locked", flush=True)
time.sleep(3600)
"""


@contextmanager
def state_unreachable(state: Path) -> Iterator[None]:
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(state / "coserve.db-shm")], stdout=subprocess.PIPE,
                              text=True, preexec_fn=sigterm_when_parent_dies)  # fmt: skip
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        yield
    finally:
        locker.kill()
        locker.wait(10)
        if locker.stdout is not None:
            locker.stdout.close()


@dataclass
class TimedLoad:
    """Invocations from one thread, each one's time kept; every failure kept with its cause."""

    url: str
    endpoint: str
    times: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        client = boto3.client(
            "sagemaker-runtime", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="AKIDTEST",
            aws_secret_access_key="secret", config=Config(retries={"total_max_attempts": 1}, read_timeout=30),
        )  # fmt: skip
        while not self._stop.is_set():
            start = time.monotonic()
            try:
                client.invoke_endpoint(EndpointName=self.endpoint, Body=b"x", ContentType="text/plain")["Body"].read()
                self.times.append(time.monotonic() - start)
            except Exception as exc:  # every failure counts, whatever its kind
                self.failures.append(repr(exc))
        client.close()

    def __enter__(self) -> TimedLoad:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(60)


def test_a_host_that_cannot_reach_its_state_serves_on_and_catches_up_after(host: tuple[Path, int, int]) -> None:
    tmp, port, base = host
    state = tmp / "state"
    c = start_host(tmp / "host", state, port, base)
    sm, rt = clients(c)
    log = c.log
    try:
        create_endpoint(sm, "ep", "m1", "c1", [{"Image": "process", "ModelDataUrl": model_url(tmp, "v1", "v1")}])
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=WAIT)
        with TimedLoad(c.url, "ep") as load:
            wait_for(lambda: len(load.times) >= 20, 60, "load before the outage")
            with state_unreachable(state):
                began, before = time.monotonic(), len(load.times)
                refused: dict[str, Any] = client_error(lambda: sm.describe_endpoint(EndpointName="ep"))
                assert refused["Error"]["Code"] == "ServiceUnavailable", refused
                assert refused["ResponseMetadata"]["HTTPStatusCode"] == 503
                wait_for(lambda: "state store unreachable" in log.read_text(), 60, "the reconciler to see it")
                wait_for(lambda: time.monotonic() - began >= 20 and len(load.times) >= before + 20, 90, "load")
                during = len(load.times) - before
                assert c.ping()[0] == 200, "an outage of the state does not take the host out of a balancer"
            wait_for(lambda: "state store reachable again" in log.read_text(), 60, "the reconciler to see it back")
        assert load.failures == [], load.failures[:5]
        text = log.read_text()
        assert text.count("state store unreachable") == 1 and text.count("reachable again") == 1
        assert text.count(" ERROR runtime.control") == 1 and c.proc.poll() is None  # found once, no traceback
        print(f"outage {time.monotonic() - began:.0f}s: {during} invocations, 0 failed; slowest over the run "
              f"{max(load.times):.2f}s")  # fmt: skip
        sm.delete_endpoint(EndpointName="ep")  # made once the state is back: the host acts on it
        sm.get_waiter("endpoint_deleted").wait(EndpointName="ep", WaiterConfig=WAIT)
        code = client_error(lambda: rt.invoke_endpoint(EndpointName="ep", Body=b"x"))["Error"]["Code"]
        assert code == "ValidationError"
        assert c.descendants() == [], "nothing of the endpoint runs"
    finally:
        sm.close()
        rt.close()
        c.stop()
