"""Response streaming through coserve against reading the container directly: time to first byte, throughput.

One streaming container (benchmarks/containers/stream_source.py) serves both paths. `direct` posts to its port
and reads its chunked answer; `coserve` posts the same request to `/endpoints/<ep>/invocations-response-stream`
and reads the event stream (http.client on both sides, reading as bytes arrive; the event stream is parsed
with botocore's parser once per side, outside the timing, to check every byte came). Sides alternate within
each round. Figures: median time to the first body byte of a one-chunk answer, and MB/s of a large answer.
Writes benchmarks/results/streaming.json.

    .venv/bin/python benchmarks/streaming.py              # about 30 s on 2 cores
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: python benchmarks/streaming.py

from botocore.eventstream import EventStreamBuffer  # noqa: E402

from benchmarks.common import document, fmt_spread, note_start, write_json  # noqa: E402
from benchmarks.launch import serving  # noqa: E402

EP = "stream-bench"


def post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[float, float, bytes]:
    """(seconds to the first body byte, seconds to the end, the body) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.perf_counter()
    conn.request("POST", path, body, headers)
    r = conn.getresponse()
    parts = [r.read1(65536)]
    first = time.perf_counter() - start
    while chunk := r.read1(1 << 20):
        parts.append(chunk)
    total = time.perf_counter() - start
    conn.close()
    return first, total, b"".join(parts)


def payload_of(events: bytes) -> int:
    buf = EventStreamBuffer()
    buf.add_data(events)
    return sum(len(m.payload) for m in buf)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--first-byte-requests", type=int, default=200)
    parser.add_argument("--mib", type=int, default=64)
    args = parser.parse_args()
    note_start()  # the load average before this run's own load, not when the report is written
    doc = {
        "EndpointName": EP,
        "InferenceExecutionConfig": {"Mode": "Direct"},
        "Containers": [{"ContainerHostname": "source", "Image": "process"}],
        "Coserve": {"Containers": {"source": {"Command": [sys.executable, str(ROOT / "benchmarks" / "containers"
                                                                                / "stream_source.py")]}}},
    }  # fmt: skip
    chunk = 64 * 1024
    big = f"{args.mib * 16} {chunk}".encode()
    with tempfile.TemporaryDirectory(prefix="coserve-bench-") as tmp, serving(doc, Path(tmp)) as running:
        container = running.routes()["source"]["port"]
        sides = {
            "direct": (container, "/invocations", {}),
            "coserve": (running.port, f"/endpoints/{EP}/invocations-response-stream",
                        {"X-Amzn-SageMaker-Target-Container-Hostname": "source"}),
        }  # fmt: skip
        first: dict[str, list[float]] = {s: [] for s in sides}
        rate: dict[str, list[float]] = {s: [] for s in sides}
        for r in range(args.rounds):
            for side in sorted(sides, reverse=r % 2 == 1):  # alternate who goes first
                port, path, headers = sides[side]
                times = [post(port, path, b"1 100", headers)[0] for _ in range(args.first_byte_requests)]
                first[side].append(statistics.median(times))
                _, total, body = post(port, path, big, headers)
                got = len(body) if side == "direct" else payload_of(body)
                assert got >= args.mib * 2**20, (side, got)
                rate[side].append(args.mib * 2**20 / total / 1e6)
    results = {
        "first_byte_seconds_median_per_round": first,
        "mb_per_second": rate,
        "ratio_first_byte_coserve_over_direct": round(statistics.median(first["coserve"])
                                                      / statistics.median(first["direct"]), 3),
        "ratio_throughput_coserve_over_direct": round(statistics.median(rate["coserve"])
                                                      / statistics.median(rate["direct"]), 3),
    }  # fmt: skip
    config = {"rounds": args.rounds, "first_byte_requests": args.first_byte_requests, "mib": args.mib,
              "chunk_bytes": chunk}  # fmt: skip
    out = ROOT / "benchmarks" / "results" / "streaming.json"
    write_json(document("streaming", config, results), out)
    for side in sides:
        print(f"{side}: first byte {fmt_spread([t * 1e3 for t in first[side]], 2)} ms, "
              f"{fmt_spread(rate[side], 0)} MB/s")  # fmt: skip
    print(f"coserve / direct: first byte x{results['ratio_first_byte_coserve_over_direct']}, "
          f"throughput x{results['ratio_throughput_coserve_over_direct']}; wrote {out}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
