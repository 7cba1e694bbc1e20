"""The supervisor: reconciles every container towards RUNNING on a tick, with `now` passed in.

It knows processes, not HTTP and not endpoints: readiness probes and artifact fetches are work it asks for
and collects on a later tick (the `Work` seam), so unit tests drive it with fakes and a fake clock. Sets of
containers (units) are added, stopped and forgotten at run time; each is keyed by its ContainerKey, which
names its cgroup, its work directory and its port block, so two generations may share hostnames.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path

from adapters import get_adapter
from adapters.base import ContainerEngine, Launch
from adapters.threads import host_cores
from runtime.config import ServerSettings
from runtime.supervisor.allotment import allotment_list
from runtime.supervisor.container import Container
from runtime.supervisor.exits import describe_returncode
from runtime.supervisor.isolation import Isolation
from runtime.supervisor.keys import ContainerKey
from runtime.supervisor.osproc import ProcessOs
from runtime.supervisor.ports import PortBlocks
from runtime.supervisor.prepared import Prepared
from runtime.supervisor.states import LIVE, Event, State
from runtime.supervisor.units import ContainerStatus, Unit
from runtime.supervisor.work import Probe, Work

log = logging.getLogger("runtime.supervisor")
UNHEALTHY_PINGS = 3  # failed health probes in a row before a RUNNING container is restarted
FAIL_FAST_LINES = 5  # lines of its output quoted when a container fails the same way twice before a ping
CLEANUP_TIMEOUT_S = 60.0  # an engine's cleanup still running after this is killed (a stuck `podman rm`)


class Supervisor:
    """Containers come and go as units: add() starts a set, stop() ends one, forget() lets it go once
    stopped. Each is keyed by its ContainerKey; the others are never touched."""

    def __init__(
        self,
        server: ServerSettings,
        os_: ProcessOs,
        work: Work,
        isolation: Isolation,
        on_event: Callable[[Event], None] = lambda e: None,
        avoid_ports: Collection[int] = (),
    ) -> None:
        self.server = server
        self._os = os_
        self._work = work
        self._isolation = isolation
        self._on_event = on_event
        self._ports = PortBlocks(server.port_base, server.port_block, avoid_ports)
        self._containers: dict[ContainerKey, Container] = {}  # in the order added: a Serial chain's order
        self.version = 0
        self.stopping = False  # shutdown: nothing starts or restarts any more

    @property
    def containers(self) -> list[Container]:
        return list(self._containers.values())

    def _emit(self, event: Event) -> None:
        self.version += 1
        # The lifecycle lands in the container's own log, between its output lines.
        c = self._containers.get(event.key) if event.key is not None else None
        if c is not None:
            line = f"coserve: {event.old.value} -> {event.new.value}: {event.message}"
            with contextlib.suppress(OSError):
                self._os.container_log(c.log_path).write(line.encode())
        self._on_event(event)

    def add(self, units: Sequence[Unit], now: float) -> None:
        """Admit, place and start fetching a set of containers, all or none: a ValueError (admission's, or
        the ports') names what does not fit, and nothing of the set is left behind."""
        keys = [u.key for u in units]
        taken = [k for k in keys if k in self._containers] + [k for k, n in Counter(keys).items() if n > 1]
        if taken:
            raise ValueError(f"containers {', '.join(map(str, taken))} are already supervised")
        if self.stopping:
            raise ValueError("coserve is shutting down: no containers are added")
        self._isolation.admit(units)
        blocks: list[int] = []
        try:
            for u in units:
                blocks.append(self._ports.take(u.block))
            for u in units:
                self._isolation.prepare(u)
                u.log_path.parent.mkdir(parents=True, exist_ok=True)
        except (ValueError, OSError) as exc:
            for block in blocks:
                self._ports.free(block)
            for u in units:
                self._isolation.release(u)
            raise ValueError(f"containers {', '.join(map(str, keys))}: {exc}") from exc
        for u, block in zip(units, blocks, strict=True):
            c = Container(u, block, self._ports.port(block), self.server.port_block, self._emit)
            self._containers[u.key] = c
            data = u.spec.model_data.uri if u.spec.model_data else u.spec.model_data_url
            c.life.to(State.FETCHING, f"fetching {data or 'no artifact'}", now)
            self._work.start_fetch(c.fetch_key, u)

    def stop(self, keys: Iterable[ContainerKey], now: float) -> None:
        """SIGTERM each one's process group; tick() SIGKILLs what outlives StopGrace. Never restarted again."""
        for key in keys:
            c = self._containers[key]
            c.stop_asked = True
            if c.state in (State.STARTING, State.RUNNING) and c.handle is not None:
                c.life.to(State.STOPPING, "stopping: sent SIGTERM", now)
                c.kill_at = now + self.server.stop_grace_s
                self._os.signal_group(c.handle.pid, signal.SIGTERM)
            elif c.state in (State.FETCHING, State.BACKOFF, State.EXITED, State.FATAL):
                self._work.forget(c.fetch_key)
                c.life.to(State.STOPPED, "stopped", now)

    def stopped(self, keys: Iterable[ContainerKey]) -> bool:
        return all(self._containers[k].state is State.STOPPED and self._containers[k].cleaner is None for k in keys)

    def forget(self, keys: Iterable[ContainerKey]) -> None:
        """Let stopped containers go: their ports, cgroups and admission are free for others."""
        chosen = [self._containers[k] for k in keys]
        live = [str(c.key) for c in chosen if c.state is not State.STOPPED or c.cleaner is not None]
        if live:
            raise ValueError(f"containers {', '.join(live)} are not stopped yet")
        for c in chosen:
            self._work.forget(c.fetch_key)
            self._work.forget(c.probe_key)
            self._isolation.release(c.unit)
            self._ports.free(c.block)
            del self._containers[c.key]
        self.version += 1

    def work_dir(self, c: Container) -> Path:
        """`<RunDir>/<hostname>.<port block>`: unique among live containers, and short (TorchServe's worker sockets
        live under it, within a Unix socket path's 107 bytes), never a name the run directory's own files use."""
        return self.server.run_dir / f"{c.spec.hostname}.{c.block}"

    def states(self, keys: Iterable[ContainerKey] | None = None) -> dict[ContainerKey, State]:
        chosen = self._containers if keys is None else keys
        return {k: self._containers[k].state for k in chosen}

    def routes(self, keys: Iterable[ContainerKey] | None = None) -> tuple[ContainerStatus, ...]:
        """Each container's key, hostname, port and state, in the order added, for a routing table above."""
        chosen = self._containers.values() if keys is None else (self._containers[k] for k in keys)
        return tuple(ContainerStatus(c.key, c.spec.hostname, c.port, c.state, c.log_path) for c in chosen)

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
        elif c.state is State.BACKOFF and now >= c.retry_at and not c.stop_asked and c.cleaner is None:
            self._spawn(c, now)
        elif c.state is State.STOPPING and now >= c.kill_at:
            self._kill(c, "did not stop within the grace period")
            c.kill_at = now + self.server.stop_grace_s

    def cpu_allotment(self, c: Container) -> float:
        """The cores this container may count on, for its thread pools (see adapters.threads), among all."""
        everyone = self.containers
        return allotment_list([o.spec for o in everyone], host_cores())[everyone.index(c)]

    def _fetched(self, c: Container, now: float) -> None:
        outcome = self._work.take(c.fetch_key)
        if outcome is None:
            bound = c.unit.fetch_timeout_s
            if bound is not None and now - c.life.since > bound:
                self._work.forget(c.fetch_key)  # a fetch already in its thread runs on; its result is dropped
                c.life.to(State.FATAL, f"gave up: the model data was not downloaded within {bound:g}s", now)
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
        work_dir = self.work_dir(c)
        (work_dir / "tmp").mkdir(parents=True, exist_ok=True)
        engine = isinstance(adapter, ContainerEngine)  # it mounts the model and more data itself: no mounts of ours
        mounts = tuple((v.host, v.target) for v in c.prepared.views)
        launch = Launch(
            hostname=c.spec.hostname, bind_port=c.port, safe_ports=c.safe_ports,
            model_dir=c.model_dir if engine else self._isolation.model_path(c.model_dir), work_dir=work_dir,
            environment=c.spec.environment, command=c.spec.command, memory_limit=c.spec.limits.memory_bytes,
            python=c.prepared.python or sys.executable, mounts=mounts,
            image=c.spec.image, endpoint=c.key.endpoint, generation=c.key.generation, cgroups=self._isolation.kind,
            cpu_allotment=self.cpu_allotment(c),
        )  # fmt: skip
        argv = self._isolation.wrap(c.unit, adapter.command(launch), *((None,) if engine else (c.model_dir, mounts)))
        c.cleanup = adapter.cleanup_command(launch) if isinstance(adapter, ContainerEngine) else None
        c.probe_url, c.ready = adapter.readiness_url(launch), adapter.ready
        views = () if engine else c.prepared.views
        seen = {v.variable: str(self._isolation.view(v.host, v.target)) for v in views}
        env = {**_base_environment(), **c.prepared.environment, **seen, **adapter.environment(launch),
               **c.spec.environment}  # fmt: skip
        c.kill_reason, c.bad_pings = None, 0
        try:
            c.handle = self._os.spawn(c.spec.hostname, argv, env, work_dir, c.log_path)
        except OSError as exc:
            c.handle = None
            c.life.to(State.STARTING, f"spawn failed: {exc}", now)
            self._exited(c, 127, now)
            return
        self._isolation.attach(c.unit, c.handle.pid)
        c.life.to(State.STARTING, f"spawned: '{c.spec.hostname}' pid={c.handle.pid}", now)

    def _starting(self, c: Container, now: float) -> None:
        outcome = self._work.take(c.probe_key)
        if outcome is not None and outcome.value is True:
            c.next_ping = now + self.server.ping_interval_s
            c.life.to(State.RUNNING, f"success: /ping answered 200 after {now - c.life.since:.1f}s", now)
            return
        bound = self._startup_bound(c)
        if now - c.life.since > bound:
            c.kill_reason = f"did not pass the ping health check within {bound:g}s"
            self._kill(c, c.kill_reason)
        elif not self._work.busy(c.probe_key):
            self._work.start_probe(c.probe_key, self._probe(c))

    def _startup_bound(self, c: Container) -> float:
        """Its own bound (its unit's, set by its endpoint), else the host's StartupTimeout."""
        own = c.unit.startup_timeout_s
        return self.server.startup_timeout_s if own is None else own

    def _health(self, c: Container, now: float) -> None:
        outcome = self._work.take(c.probe_key)
        if outcome is not None:
            c.bad_pings = 0 if outcome.value is True else c.bad_pings + 1
            if c.bad_pings >= UNHEALTHY_PINGS:
                c.kill_reason = f"failed {UNHEALTHY_PINGS} health checks in a row"
                self._kill(c, c.kill_reason)
                return
        if now >= c.next_ping and not self._work.busy(c.probe_key):
            c.next_ping = now + self.server.ping_interval_s
            self._work.start_probe(c.probe_key, self._probe(c))

    def _probe(self, c: Container) -> Probe:
        return Probe(c.probe_url, self.server.ping_timeout_s, c.ready)

    def _kill(self, c: Container, why: str) -> None:
        if c.handle is not None:
            log.warning("killing '%s' (%s) pid=%s: %s", c.spec.hostname, c.key, c.handle.pid, why)
            self._os.signal_group(c.handle.pid, signal.SIGKILL)
        self._isolation.kill(c.unit)

    def _exited(self, c: Container, code: int, now: float) -> None:
        was, pid = c.state, c.handle.pid if c.handle else None
        # The leader is gone; anything it left in its group or cgroup goes with it.
        if pid is not None:
            self._os.signal_group(pid, signal.SIGKILL)
        self._isolation.kill(c.unit)
        self._clean_up(c, now)
        self._note_early_exit(c, was, code)
        c.handle = None
        cause = c.kill_reason or self._isolation.exit_note(c.unit) or describe_returncode(code)
        if was is State.STOPPING:
            c.life.to(State.STOPPED, f"stopped: ({cause})", now)
            return
        # Read how long it ran before the transition below resets `since` to now.
        ran_s = now - c.life.since
        c.life.to(State.EXITED, f"exited: ({cause}; not expected)", now)
        if was is State.RUNNING and ran_s >= self.server.stable_after_s:
            c.failures = 0
        self._after_exit(c, now, cause)

    def _after_exit(self, c: Container, now: float, cause: str) -> None:
        c.failures += 1
        if c.stop_asked:
            c.life.to(State.STOPPED, "stopped: not restarted during shutdown" if self.stopping else "stopped", now)
        elif c.failures > self.server.start_retries:
            # The cause goes with it: a FailureReason quotes this line alone.
            c.life.to(
                State.FATAL,
                f"gave up: {c.failures} exit{'' if c.failures == 1 else 's'} in a row, the last: {cause}",
                now,
            )
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
                                       self.work_dir(c), c.log_path)  # fmt: skip
            c.cleaner_since = now
        except OSError as exc:
            log.error("'%s': cleanup %s failed to start: %s", c.key, c.cleanup[0], exc)

    def _reap_cleaner(self, c: Container, now: float) -> None:
        if c.cleaner is None:
            return
        if c.cleaner.poll() is None and now - c.cleaner_since > CLEANUP_TIMEOUT_S:
            log.error("'%s': cleanup %s still running after %gs; killed", c.key, c.cleanup, CLEANUP_TIMEOUT_S)
            self._os.signal_group(c.cleaner.pid, signal.SIGKILL)
        elif c.cleaner.poll() is not None:
            c.cleaner = None

    def begin_stop(self, now: float) -> None:
        """Shutdown: stop every container; nothing starts or restarts from here on."""
        self.stopping = True
        self.stop(list(self._containers), now)

    def all_stopped(self) -> bool:
        return self.stopped(self._containers)

    def close(self) -> None:
        self._isolation.close()


def _base_environment() -> dict[str, str]:
    """What every container inherits from coserve: enough to run, nothing secret of ours."""
    keep = ("PATH", "LANG", "LC_ALL", "HOME", "PYTHONPATH", "VIRTUAL_ENV", "JAVA_HOME", "TZ")
    return {k: os.environ[k] for k in keep if k in os.environ}
