"""`coserve status` and `coserve top`: each container's figures, read from a running coserve's GET /coserve/status.

Rates need two readings: `status` takes two `--sample` seconds apart (0: none, rates shown as -), `top`
one per refresh. Latency percentiles come from the histogram buckets: since start for `status`, over the
last refresh for `top`. MEMORY is use / limit; REQUEST is what admission reserved for the container; the first
title says how much of the host's memory (or coserve's own cgroup's) is reserved, what is free, and how far the
limits overcommit it. One table per endpoint; while an update runs an endpoint's two generations side by side,
each container's name says its generation (requests are counted per hostname, so both rows show the same ones).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from runtime.metrics.summary import quantile
from runtime.units import format_size

Doc = dict[str, Any]


def fetch(url: str, timeout: float = 5.0) -> Doc:
    """Signed with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when both are set: a front door under Coserve.Auth
    answers only signed reads (or point `url` at Coserve.Server.StatusListen, which needs none)."""
    target = f"{url.rstrip('/')}/coserve/status"
    with urllib.request.urlopen(urllib.request.Request(target, headers=_signature(target)), timeout=timeout) as r:
        doc: Doc = json.loads(r.read())
    return doc


def _signature(url: str) -> dict[str, str]:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return {}
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]  # imported on use: only a signed read needs it
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    request = AWSRequest("GET", url)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    SigV4Auth(Credentials(key, secret), "sagemaker", region).add_auth(request)
    return dict(request.headers.items())


def _why(exc: OSError) -> str:
    if isinstance(exc, urllib.error.HTTPError) and exc.code == 403:
        return (f"{exc} (under Coserve.Auth: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to sign, "
                "or use --url with Coserve.Server.StatusListen)")  # fmt: skip
    return str(exc)


def _buckets(now: Doc, before: Doc | None) -> list[tuple[float, float]]:
    """The container-latency buckets of `now`, less those of `before` (a window), as (bound, cumulative)."""
    old = {float(b): n for b, n in before["latency"]["container"]["buckets"]} if before else {}
    return [(float(b), n - old.get(float(b), 0.0)) for b, n in now["latency"]["container"]["buckets"]]


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.2f}"


def _name(c: Doc, generations: bool) -> str:
    return f"{c['hostname']} (gen {c.get('generation', '?')})" if generations else c["hostname"]


def _row(c: Doc, before: Doc | None, seconds: float, window: bool, generations: bool) -> list[str]:
    rps = "-" if before is None or seconds <= 0 else f"{(c['invocations'] - before['invocations']) / seconds:.1f}"
    buckets = _buckets(c, before if window else None)
    limit = c.get("memory_limit_bytes")
    memory = "-" if limit is None else \
        f"{format_size(c['memory_bytes'])} / {format_size(limit)} ({c['memory_percent']:.0f}%)"  # fmt: skip
    cpu = "-" if c.get("cpu_percent") is None else f"{c['cpu_percent']:.0f}%"
    request = c.get("memory_request_bytes")
    return [_name(c, generations), c["state"], rps, _ms(quantile(buckets, 0.5)), _ms(quantile(buckets, 0.99)),
            f"{c['errors_4xx']:.0f}", f"{c['errors_5xx']:.0f}", cpu, memory,
            "-" if request is None else format_size(request), str(c.get("restarts", "-")),
            str(c.get("oom_kills", "-")), _throttled(c)]  # fmt: skip


def _throttled(c: Doc) -> str:
    """CPU throttling since start: periods that hit the quota, and the time waited (- before it was reported)."""
    if c.get("cpu_throttled_periods") is None:
        return "-"
    return f"{c['cpu_throttled_periods']} ({c['cpu_throttled_seconds']:.1f}s)"


def _host(doc: Doc) -> str:
    """Admission's ledger in a few words: reserved (requests + coserve's reserve) of the capacity, and free."""
    host = doc.get("host")
    if not host:
        return ""
    text = (f"  memory reserved {format_size(host['reserved_bytes'])} of {format_size(host['capacity_bytes'])}"
            f", free {format_size(max(host['free_bytes'], 0))}")  # fmt: skip
    over = host["overcommit_bytes"]
    return text + (f", limits overcommit by {format_size(over)}" if over else "")


def render(doc: Doc, before: Doc | None = None, seconds: float = 0.0, window: bool = False) -> Group:
    """One table per endpoint (the document's `endpoints`; a document without them is one endpoint's).
    `window`: latency percentiles over the requests since `before`, else since coserve started."""
    endpoints = doc.get("endpoints", [doc])
    earlier = {e["endpoint"]: e for e in before.get("endpoints", [before])} if before else {}
    disk = doc.get("disk_percent")
    host = (f"  disk {disk:.0f}%" if disk is not None else "") + _host(doc)
    if not endpoints:
        return Group(f"no endpoints{host}")
    return Group(*(_table(e, earlier.get(e["endpoint"]), seconds, window, host if i == 0 else "")
                   for i, e in enumerate(endpoints)))  # fmt: skip


def _table(doc: Doc, before: Doc | None, seconds: float, window: bool, host: str) -> Table:
    """One endpoint's containers; `host`: the host's figures, said in the first endpoint's title."""
    frontdoor = doc["variant_figures"]
    table = Table(
        title=f"{doc['endpoint']} / {doc['variant']} ({doc['mode']})"
        + host
        + f"  front-door errors 4xx {frontdoor['errors_4xx']:.0f} 5xx {frontdoor['errors_5xx']:.0f}",
        title_justify="left",
    )
    names = (
        "CONTAINER",
        "STATE",
        "RPS",
        "P50 ms",
        "P99 ms",
        "4XX",
        "5XX",
        "CPU",
        "MEMORY",
        "REQUEST",
        "RESTARTS",
        "OOM",
        "THROTTLED",
    )
    for name in names:
        table.add_column(name, no_wrap=True, justify="left" if name in ("CONTAINER", "STATE", "MEMORY") else "right")
    old = {(c["hostname"], c.get("generation")): c for c in before["containers"]} if before else {}
    generations = len({c.get("generation") for c in doc["containers"]}) > 1
    for c in doc["containers"]:
        table.add_row(*_row(c, old.get((c["hostname"], c.get("generation"))), seconds, window, generations))
    return table


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=200)  # a pipe must not wrap the columns


def status(url: str, sample: float) -> int:
    try:
        before = fetch(url) if sample > 0 else None
        if before is not None:
            time.sleep(sample)  # the rate's window, not a synchronisation
        doc = fetch(url)
    except OSError as exc:
        _console().print(f"coserve: cannot read {url}/coserve/status: {_why(exc)}")
        return 1
    _console().print(render(doc, before, sample))
    return 0


def top(url: str, interval: float) -> int:
    console = _console()
    try:
        before, at = fetch(url), time.monotonic()
        with Live(render(before), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(interval)
                doc, now = fetch(url), time.monotonic()
                live.update(render(doc, before, now - at, window=True), refresh=True)
                before, at = doc, now
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        console.print(f"coserve: cannot read {url}/coserve/status: {_why(exc)}")
        return 1
