"""One container's record in the supervisor: its unit, its lifecycle, the handle we spawned, its bookkeeping."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runtime.supervisor.keys import ContainerKey, WorkKey, WorkKind
from runtime.supervisor.osproc import Handle
from runtime.supervisor.prepared import Prepared
from runtime.supervisor.states import Event, Lifecycle, State
from runtime.supervisor.units import Unit


class Container:
    def __init__(self, unit: Unit, block: int, port: int, port_block: int, emit: Callable[[Event], None]) -> None:
        self.unit = unit
        self.spec = unit.spec
        self.key: ContainerKey = unit.key
        self.fetch_key = WorkKey(WorkKind.FETCH, unit.key)
        self.probe_key = WorkKey(WorkKind.PROBE, unit.key)
        self.block = block  # its port block, held until it is forgotten
        self.port = port
        self.safe_ports = (port + 1, port + port_block - 1)
        self.life = Lifecycle(unit.spec.hostname, emit, unit.key)
        self.stop_asked = False  # stop() or shutdown: it is not restarted again
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
        self.ready: Callable[[int, bytes], bool] = lambda status, body: status == 200  # the adapter's, at spawn
        self.early_exit: tuple[str, int] | None = None  # (last output line, exit code) of a start that never ran
        self.repeated: str | None = None  # set when two starts in a row failed that same way: its last lines
        self.cleanup: list[str] | None = None  # an engine's argv that removes its leftovers after an exit
        self.cleaner: Handle | None = None  # that cleanup, while it runs
        self.cleaner_since = 0.0

    @property
    def state(self) -> State:
        return self.life.state

    @property
    def log_path(self) -> Path:
        return self.unit.log_path
