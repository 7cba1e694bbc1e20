"""`coserve cache ls|prune deploy.yaml`: what the artifact cache holds, and pruning it by hand."""

from __future__ import annotations

import datetime
import sys

from rich.console import Console
from rich.table import Table

from runtime.config import Deployment
from runtime.models import ModelPreparer
from runtime.storage.budget import CacheEntry
from runtime.units import format_size, parse_size


def cache_command(d: Deployment, action: str, to: str | None, console: Console | None = None) -> int:
    console = console or Console()
    store = ModelPreparer(d).store
    try:
        budget = store.budget() if to is None else parse_size(to)
    except ValueError as exc:
        print(f"coserve: --to: {exc}", file=sys.stderr)
        return 2
    store.close()  # this process serves nothing: it holds no claims
    if action == "prune":
        evicted = store.prune(budget) or []
        for entry in evicted:
            console.print(f"evicted {entry.name} ({format_size(entry.size)}) {entry.source}")
        stats = store.stats()
        console.print(f"{len(evicted)} evicted; the cache holds {format_size(stats.size_bytes)} "
                      f"of a budget of {format_size(budget)}")  # fmt: skip
        return 0
    _listing(console, store.entries(), budget, d)
    return 0


def _listing(console: Console, entries: list[CacheEntry], budget: int, d: Deployment) -> None:
    table = Table(title=f"artifact cache in {d.storage.cache_dir} (budget {format_size(budget)})")
    for column in ("artifact", "size", "last used", "in use by", "source"):
        table.add_column(column)
    for e in sorted(entries, key=lambda e: e.last_used, reverse=True):
        used = datetime.datetime.fromtimestamp(e.last_used).isoformat(timespec="seconds")
        table.add_row(e.name[:24], format_size(e.size), used, ", ".join(e.in_use) or "-", e.source)
    console.print(table)
    console.print(f"{len(entries)} artifacts, {format_size(sum(e.size for e in entries))}")
