"""The supervisor side's view of the components in the state store: every component, and conditional writes of
what it did (each applies only to the generation it acted on)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from runtime.control.icstore import Component, ComponentStatus
from runtime.control.store import Store


class ComponentStore:
    """The supervisor side's view: every component, and conditional writes of what it did."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def components(self) -> list[Component]:
        with self.store.transaction(write=False) as tx:
            return tx.components()

    def settle(self, c: Component, status: ComponentStatus, reason: str | None = None) -> bool:
        """Move a component on from the status it was given in (Creating/Updating) to `status`."""
        return self._change(c, lambda now: replace(c, status=status, failure_reason=reason, previous=None,
                                                   modified=now))  # fmt: skip

    def roll_back(self, c: Component, reason: str) -> bool:
        """An update's new copies failed: the previous Specification serves on, InService, with the reason."""
        assert c.previous is not None
        return self._change(c, lambda now: replace(
            c, status="InService", failure_reason=reason, spec=c.previous or c.spec, previous=None,
            spec_version=c.spec_version - 1, modified=now,  # an update adds exactly one
        ))  # fmt: skip

    def set_current(self, name: str, current: int) -> None:
        """How many copies run now: not an API change, so the generation stays."""
        with self.store.transaction() as tx:
            now = tx.component(name)
            if now is not None and now.current != current:
                tx.put_component(replace(now, current=current))

    def forget(self, c: Component) -> bool:
        with self.store.transaction() as tx:
            now = tx.component(c.name)
            return now is not None and now.generation == c.generation and tx.delete_component(c.name)

    def _change(self, c: Component, change: Callable[[float], Component]) -> bool:
        with self.store.transaction() as tx:
            now = tx.component(c.name)
            if now is None or now.generation != c.generation:
                return False
            tx.put_component(replace(change(self.store.clock()), generation=c.generation + 1, current=now.current))
            return True
