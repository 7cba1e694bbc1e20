"""wrk as the load generator: a Lua script for the POST body and headers, JSON figures out of `done()`.

Debian's wrk is wrk 4 (no wrk2 `-R`): a fixed, moderate rate is approximated with the Lua `delay()` hook,
a per-connection pause of `connections / rate` seconds between a response and the next request.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "socket_errors": %d, "non2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, "mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class Load:
    url: str
    connections: int
    seconds: float
    delay_ms: int = 0  # per-connection pause between requests; 0 is closed-loop, as fast as it goes
    cpus: str | None = None  # taskset CPU list for wrk itself


def script(body: bytes, headers: dict[str, str], delay_ms: int) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body.decode()}]==]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    if delay_ms:
        lines.append(f"delay = function() return {delay_ms} end")
    return "\n".join(lines) + "\n" + _DONE


def run(load: Load, body: bytes, headers: dict[str, str], scratch: Path) -> dict[str, Any]:
    """One wrk run (one thread): requests/s, latency percentiles in µs, errors."""
    lua = scratch / f"wrk-{load.delay_ms}.lua"
    lua.write_text(script(body, headers, load.delay_ms))
    argv = ["wrk", "-t1", f"-c{load.connections}", f"-d{load.seconds:g}s", "--timeout", "10s", "-s", str(lua), load.url]
    if load.cpus is not None:
        argv = ["taskset", "-c", load.cpus, *argv]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures:\n{out}")
    doc: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    doc["rps"] = doc["requests"] / (doc["duration_us"] / 1e6)
    return doc


def require() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
