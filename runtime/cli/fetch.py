"""`coserve fetch deploy.yaml`: fill the artifact cache and unpack every model, then exit.

For baking images and EC2 user-data: a later `coserve serve` with the same Storage.CacheDir downloads
nothing. Every container is attempted; the exit status is 1 if any failed.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from runtime.config import Deployment
from runtime.config.sources import describe
from runtime.models import ModelPreparer


def fetch_all(d: Deployment, console: Console | None = None) -> int:
    console = console or Console(stderr=True)
    preparer = ModelPreparer(d)
    table = Table(title=f"{d.endpoint_name}: model artifacts in {d.storage.cache_dir}")
    for column in ("container", "model data", "result", "seconds"):
        table.add_column(column)
    failed = 0
    for c in d.containers:
        started = time.monotonic()
        try:
            where = preparer.prepare(c)
            result = f"[green]ok[/green] {where.model_dir}"
        except RuntimeError as exc:
            failed += 1
            result = f"[red]failed[/red] {exc}"
        data = describe(c.model_data_url, c.model_data, c.additional_sources)
        table.add_row(c.hostname, data, result, f"{time.monotonic() - started:.2f}")
    preparer.store.close()
    stats = preparer.store.stats()
    console.print(table)
    console.print(f"downloads: {stats.misses}, cache hits: {stats.hits}, bytes fetched: {stats.bytes_fetched}")
    return 1 if failed else 0
