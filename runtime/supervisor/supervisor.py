"""The supervisor: reconciles every container towards RUNNING on a tick, with `now` passed in.

It knows processes, not HTTP: readiness probes and artifact fetches are work it asks for and
collects on a later tick (the `Work` seam), so unit tests drive it with fakes and a fake clock.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from adapters import get_adapter
from adapters.base import Launch
from runtime.config import ContainerSpec, Deployment
from runtime.routing import Route, RoutingTable
from runtime.supervisor.exits import describe_returncode
from runtime.supervisor.isolation import Isolation
from runtime.supervisor.osproc import Handle, ProcessOs
from runtime.supervisor.prepared import Prepared
from runtime.supervisor.states import LIVE, Event, Lifecycle, State
from runtime.supervisor.work import Work

log = logging.getLogger("runtime.supervisor")
UNHEALTHY_PINGS = 3  # failed health probes in a row before a RUNNING container is restarted


class Container:
    """One container's record: its lifecycle, the handle we spawned, and its restart bookkeeping."""

    def __init__(self, spec: ContainerSpec, port: int, block: int, emit: Callable[[Event], None]) -> None:
        self.spec = spec
        self.port = port
        self.safe_ports = (port + 1, port + block - 1)
        self.life = Lifecycle(spec.hostname, emit)
        self.handle: Handle | None = None
        self.model_dir: Path | None = None
        self.prepared: Prepared | None = None  # what the fetch step made: model dir, interpreter, more data
        self.failures = 0  # failed starts in a row
        self.retry_at = 0.0
        self.kill_at = 0.0  # when STOPPING turns into SIGKILL
        self.kill_reason: str | None = None  # why we killed it ourselves, for the exit line
        self.bad_pings = 0
        self.next_ping = 0.0
        self.probe_url = f"http://127.0.0.1:{port}/ping"  # the adapter's readiness URL, set at each spawn

    @property
    def state(self) -> State:
        return self.life.state


class Supervisor:
    def __init__(
        self,
        deployment: Deployment,
        os_: ProcessOs,
        work: Work,
        isolation: Isolation,
        on_event: Callable[[Event], None] = lambda e: None,
    ) -> None:
        self.deployment = deployment
        self.server = deployment.server
        self._os = os_
        self._work = work
        self._isolation = isolation
        self._on_event = on_event
        self.version = 0
        self.stopping = False
        self.containers = [
            Container(spec, self.server.port_base + spec.index * self.server.port_block,
                      self.server.port_block, self._emit)
            for spec in deployment.containers
        ]  # fmt: skip

    def _emit(self, event: Event) -> None:
        self.version += 1
        self._on_event(event)

    def log_path(self, c: Container) -> Path:
        return self.server.log_dir / f"{c.spec.hostname}.log"

    def table(self) -> RoutingTable:
        d = self.deployment
        routes = tuple(Route(c.spec.hostname, c.port, c.state.value, str(self.log_path(c))) for c in self.containers)
        return RoutingTable(d.endpoint_name, d.variant_name, d.mode, routes, self.version)

    def start(self, now: float) -> None:
        for c in self.containers:
            self._isolation.prepare(c.spec)
            data = c.spec.model_data.uri if c.spec.model_data else c.spec.model_data_url
            c.life.to(State.FETCHING, f"fetching {data or 'no artifact'}", now)
            self._work.start_fetch(c.spec.hostname, c.spec.model_data_url)

    def tick(self, now: float) -> None:
        for c in self.containers:
            self._reconcile(c, now)

    def _reconcile(self, c: Container, now: float) -> None:
        if c.handle is not None and c.state in LIVE:
            code = c.handle.poll()
            if code is not None:
                self._exited(c, code, now)
                return
        if c.state is State.FETCHING:
            self._fetched(c, now)
        elif c.state is State.STARTING:
            self._starting(c, now)
        elif c.state is State.RUNNING:
            self._health(c, now)
        elif c.state is State.BACKOFF and now >= c.retry_at and not self.stopping:
            self._spawn(c, now)
        elif c.state is State.STOPPING and now >= c.kill_at:
            self._kill(c, "did not stop within the grace period")
            c.kill_at = now + self.server.stop_grace_s

    def _fetched(self, c: Container, now: float) -> None:
        outcome = self._work.take(f"fetch:{c.spec.hostname}")
        if outcome is None:
            return
        if outcome.error is not None:
            c.life.to(State.FATAL, f"gave up: {outcome.error}", now)
            return
        c.prepared = outcome.value if isinstance(outcome.value, Prepared) else Prepared(outcome.value)
        c.model_dir = c.prepared.model_dir
        self._spawn(c, now)

    def _spawn(self, c: Container, now: float) -> None:
        assert c.model_dir is not None and c.prepared is not None
        adapter = get_adapter(c.spec.adapter)
        work_dir = self.server.run_dir / c.spec.hostname
        (work_dir / "tmp").mkdir(parents=True, exist_ok=True)
        launch = Launch(
            hostname=c.spec.hostname, bind_port=c.port, safe_ports=c.safe_ports,
            model_dir=self._isolation.model_path(c.model_dir), work_dir=work_dir, environment=c.spec.environment,
            command=c.spec.command, memory_limit=c.spec.limits.memory_bytes,
            python=c.prepared.python or sys.executable,
        )  # fmt: skip
        views = c.prepared.views
        mounts = tuple((v.host, v.target) for v in views)
        argv = self._isolation.wrap(c.spec, adapter.command(launch), c.model_dir, mounts)
        c.probe_url = adapter.readiness_url(launch)
        seen = {v.variable: str(self._isolation.view(v.host, v.target)) for v in views}
        env = {**_base_environment(), **c.prepared.environment, **seen, **adapter.environment(launch),
               **c.spec.environment}  # fmt: skip
        c.kill_reason, c.bad_pings = None, 0
        try:
            c.handle = self._os.spawn(c.spec.hostname, argv, env, work_dir, self.log_path(c))
        except OSError as exc:
            c.handle = None
            c.life.to(State.STARTING, f"spawn failed: {exc}", now)
            self._exited(c, 127, now)
            return
        self._isolation.attach(c.spec, c.handle.pid)
        c.life.to(State.STARTING, f"spawned: '{c.spec.hostname}' pid={c.handle.pid}", now)

    def _starting(self, c: Container, now: float) -> None:
        outcome = self._work.take(f"probe:{c.spec.hostname}")
        if outcome is not None and outcome.value is True:
            c.next_ping = now + self.server.ping_interval_s
            c.life.to(State.RUNNING, f"success: /ping answered 200 after {now - c.life.since:.1f}s", now)
            return
        if now - c.life.since > self.server.startup_timeout_s:
            c.kill_reason = f"did not pass the ping health check within {self.server.startup_timeout_s:g}s"
            self._kill(c, c.kill_reason)
        elif not self._work.busy(f"probe:{c.spec.hostname}"):
            self._work.start_probe(c.spec.hostname, c.probe_url, self.server.ping_timeout_s)

    def _health(self, c: Container, now: float) -> None:
        outcome = self._work.take(f"probe:{c.spec.hostname}")
        if outcome is not None:
            c.bad_pings = 0 if outcome.value is True else c.bad_pings + 1
            if c.bad_pings >= UNHEALTHY_PINGS:
                c.kill_reason = f"failed {UNHEALTHY_PINGS} health checks in a row"
                self._kill(c, c.kill_reason)
                return
        if now >= c.next_ping and not self._work.busy(f"probe:{c.spec.hostname}"):
            c.next_ping = now + self.server.ping_interval_s
            self._work.start_probe(c.spec.hostname, c.probe_url, self.server.ping_timeout_s)

    def _kill(self, c: Container, why: str) -> None:
        if c.handle is not None:
            log.warning("killing '%s' pid=%s: %s", c.spec.hostname, c.handle.pid, why)
            self._os.signal_group(c.handle.pid, signal.SIGKILL)
        self._isolation.kill(c.spec)

    def _exited(self, c: Container, code: int, now: float) -> None:
        was, pid = c.state, c.handle.pid if c.handle else None
        # The leader is gone; anything it left in its group or cgroup goes with it.
        if pid is not None:
            self._os.signal_group(pid, signal.SIGKILL)
        self._isolation.kill(c.spec)
        c.handle = None
        cause = c.kill_reason or self._isolation.exit_note(c.spec) or describe_returncode(code)
        if was is State.STOPPING:
            c.life.to(State.STOPPED, f"stopped: ({cause})", now)
            return
        # Read how long it ran before the transition below resets `since` to now.
        ran_s = now - c.life.since
        c.life.to(State.EXITED, f"exited: ({cause}; not expected)", now)
        if was is State.RUNNING and ran_s >= self.server.stable_after_s:
            c.failures = 0
        self._after_exit(c, now)

    def _after_exit(self, c: Container, now: float) -> None:
        c.failures += 1
        if self.stopping:
            c.life.to(State.STOPPED, "stopped: not restarted during shutdown", now)
        elif c.failures > self.server.start_retries:
            c.life.to(State.FATAL, f"gave up: {c.failures} exits in a row", now)
        else:
            delay = min(self.server.backoff_base_s * 2 ** (c.failures - 1), self.server.backoff_max_s)
            c.retry_at = now + delay
            c.life.to(State.BACKOFF, f"restart {c.failures} of {self.server.start_retries} in {delay:g}s", now)

    def begin_stop(self, now: float) -> None:
        """SIGTERM every process group; tick() then SIGKILLs what outlives the grace period."""
        self.stopping = True
        for c in self.containers:
            if c.state in (State.STARTING, State.RUNNING) and c.handle is not None:
                c.life.to(State.STOPPING, "stopping: sent SIGTERM", now)
                c.kill_at = now + self.server.stop_grace_s
                self._os.signal_group(c.handle.pid, signal.SIGTERM)
            elif c.state in (State.FETCHING, State.BACKOFF, State.EXITED, State.FATAL):
                c.life.to(State.STOPPED, "stopped", now)

    def all_stopped(self) -> bool:
        return all(c.state is State.STOPPED for c in self.containers)

    def close(self) -> None:
        self._isolation.close()


def _base_environment() -> dict[str, str]:
    """What every container inherits from coserve: enough to run, nothing secret of ours."""
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "PYTHONPATH", "VIRTUAL_ENV", "JAVA_HOME", "TZ")
    return {k: os.environ[k] for k in keep if k in os.environ}
