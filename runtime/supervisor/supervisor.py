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
from adapters.base import ContainerEngine, Launch
from adapters.threads import host_cores
from runtime.config import ContainerSpec, Deployment
from runtime.routing import ContainerRoute, EndpointTable, HostTable
from runtime.supervisor.allotment import allotments
from runtime.supervisor.exits import describe_returncode
from runtime.supervisor.isolation import Isolation
from runtime.supervisor.osproc import Handle, ProcessOs
from runtime.supervisor.prepared import Prepared
from runtime.supervisor.states import LIVE, Event, Lifecycle, State
from runtime.supervisor.work import Work

log = logging.getLogger("runtime.supervisor")
UNHEALTHY_PINGS = 3  # failed health probes in a row before a RUNNING container is restarted
FAIL_FAST_LINES = 5  # lines of its output quoted when a container fails the same way twice before a ping
CLEANUP_TIMEOUT_S = 60.0  # an engine's cleanup still running after this is killed (a stuck `podman rm`)


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
        self.early_exit: tuple[str, int] | None = None  # (last output line, exit code) of a start that never ran
        self.repeated: str | None = None  # set when two starts in a row failed that same way: its last lines
        self.cleanup: list[str] | None = None  # an engine's argv that removes its leftovers after an exit
        self.cleaner: Handle | None = None  # that cleanup, while it runs
        self.cleaner_since = 0.0

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
            Container(spec, self.server.container_port(spec.index),
                      self.server.port_block, self._emit)
            for spec in deployment.containers
        ]  # fmt: skip

    def _emit(self, event: Event) -> None:
        self.version += 1
        self._on_event(event)

    def log_path(self, c: Container) -> Path:
        return self.server.container_log(c.spec.hostname)

    def table(self) -> HostTable:
        d = self.deployment
        routes = tuple(
            ContainerRoute(c.spec.hostname, c.port, c.state.value, str(self.log_path(c))) for c in self.containers
        )
        return HostTable((EndpointTable(d.endpoint_name, d.variant_name, d.mode, routes),), self.version)

    def start(self, now: float) -> None:
        for c in self.containers:
            self._isolation.prepare(c.spec)
            data = c.spec.model_data.uri if c.spec.model_data else c.spec.model_data_url
            c.life.to(State.FETCHING, f"fetching {data or 'no artifact'}", now)
            self._work.start_fetch(c.spec.hostname, c.spec.model_data_url)

    def tick(self, now: float) -> None:
        for c in self.containers:
            self._reap_cleaner(c, now)
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
        elif c.state is State.BACKOFF and now >= c.retry_at and not self.stopping and c.cleaner is None:
            self._spawn(c, now)
        elif c.state is State.STOPPING and now >= c.kill_at:
            self._kill(c, "did not stop within the grace period")
            c.kill_at = now + self.server.stop_grace_s

    def cpu_allotment(self, spec: ContainerSpec) -> float:
        """The cores this container may count on, for its thread pools (see adapters.threads)."""
        return allotments(self.deployment.containers, host_cores())[spec.hostname]

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
        engine = isinstance(adapter, ContainerEngine)  # it mounts the model and more data itself: no mounts of ours
        mounts = tuple((v.host, v.target) for v in c.prepared.views)
        launch = Launch(
            hostname=c.spec.hostname, bind_port=c.port, safe_ports=c.safe_ports,
            model_dir=c.model_dir if engine else self._isolation.model_path(c.model_dir), work_dir=work_dir,
            environment=c.spec.environment, command=c.spec.command, memory_limit=c.spec.limits.memory_bytes,
            python=c.prepared.python or sys.executable, mounts=mounts,
            image=c.spec.image, endpoint=self.deployment.endpoint_name, cgroups=self._isolation.kind,
            cpu_allotment=self.cpu_allotment(c.spec),
        )  # fmt: skip
        argv = self._isolation.wrap(c.spec, adapter.command(launch), *((None,) if engine else (c.model_dir, mounts)))
        c.cleanup = adapter.cleanup_command(launch) if isinstance(adapter, ContainerEngine) else None
        c.probe_url = adapter.readiness_url(launch)
        views = () if engine else c.prepared.views
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
        self._clean_up(c, now)
        self._note_early_exit(c, was, code)
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
        elif c.repeated is not None:
            c.life.to(State.FATAL, f"gave up: failed the same way twice in a row before answering a ping: "
                      f"{c.repeated}", now)  # fmt: skip
        else:
            delay = min(self.server.backoff_base_s * 2 ** (c.failures - 1), self.server.backoff_max_s)
            c.retry_at = now + delay
            c.life.to(State.BACKOFF, f"restart {c.failures} of {self.server.start_retries} in {delay:g}s", now)

    def _note_early_exit(self, c: Container, was: State, code: int) -> None:
        """Fail fast: a start that ends before ever answering a ping (an import error, a bad flag), twice in a
        row with the same last line and exit status, fails the same way every time; restarting only delays
        the message. Exits we caused (startup timeout, failed pings) do not count."""
        if was is not State.STARTING or c.kill_reason is not None:
            c.early_exit = c.repeated = None
            return
        lines = c.handle.last_lines() if c.handle is not None else []
        signature = (lines[-1] if lines else "", code)
        quoted = " / ".join(line[:300] for line in lines[-FAIL_FAST_LINES:])
        c.repeated = f"{quoted or 'no output'} ({describe_returncode(code)})" if signature == c.early_exit else None
        c.early_exit = signature

    def _clean_up(self, c: Container, now: float) -> None:
        """Run the engine's cleanup (podman's container record, mounts, network) outside the container's cgroup.
        The next start, and the end of a shutdown, wait for it."""
        if c.cleanup is None or c.cleaner is not None:
            return
        try:
            c.cleaner = self._os.spawn(c.spec.hostname, c.cleanup, _base_environment(),
                                       self.server.run_dir / c.spec.hostname, self.log_path(c))  # fmt: skip
            c.cleaner_since = now
        except OSError as exc:
            log.error("'%s': cleanup %s failed to start: %s", c.spec.hostname, c.cleanup[0], exc)

    def _reap_cleaner(self, c: Container, now: float) -> None:
        if c.cleaner is None:
            return
        if c.cleaner.poll() is None and now - c.cleaner_since > CLEANUP_TIMEOUT_S:
            log.error("'%s': cleanup %s still running after %gs; killed", c.spec.hostname, c.cleanup, CLEANUP_TIMEOUT_S)
            self._os.signal_group(c.cleaner.pid, signal.SIGKILL)
        elif c.cleaner.poll() is not None:
            c.cleaner = None

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
        return all(c.state is State.STOPPED and c.cleaner is None for c in self.containers)

    def close(self) -> None:
        self._isolation.close()


def _base_environment() -> dict[str, str]:
    """What every container inherits from coserve: enough to run, nothing secret of ours."""
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "PYTHONPATH", "VIRTUAL_ENV", "JAVA_HOME", "TZ")
    return {k: os.environ[k] for k in keep if k in os.environ}
