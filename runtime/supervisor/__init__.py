"""The process side: the container lifecycle, isolation seam and OS seam."""

from runtime.supervisor.states import Event, State
from runtime.supervisor.supervisor import Supervisor

__all__ = ["Event", "State", "Supervisor"]
