"""Fetch + unpack of a model.tar.gz: ArtifactStore versus boto3 download_file + `tar -xzf`.

Starts a local SeaweedFS (runtime/cli/localstore.py), uploads one artifact per size, then times both paths
side by side on fresh directories and writes benchmarks/results/storage_fetch.json.

    .venv/bin/python benchmarks/storage_fetch.py                 # 200M, about 2 minutes on 2 cores
    .venv/bin/python benchmarks/storage_fetch.py --sizes 200M,1G
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: python benchmarks/storage_fetch.py

import boto3  # noqa: E402

from benchmarks.common import document, note_start, write_json  # noqa: E402
from runtime.cli.localstore import S3Endpoint, S3Store  # noqa: E402
from runtime.storage import ArtifactStore, StorageSettings  # noqa: E402

UNITS = {"K": 2**10, "M": 2**20, "G": 2**30}
FILE_SIZE = 64 << 20  # an artifact is several weight shards, like a real checkpoint


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    return int(float(text[:-1]) * UNITS[text[-1]]) if text[-1] in UNITS else int(text)


def payload(size: int, rng: random.Random) -> bytes:
    """Half random bytes, half repetitive text, in 256 KiB runs: gzip earns about 2x, not 1000x."""
    out, block = io.BytesIO(), 256 << 10
    text = b"layer.weight 0.000000 0.000001 " * (block // 31 + 1)
    while out.tell() < size:
        out.write(rng.randbytes(block) if rng.random() < 0.5 else text[:block])
    return out.getvalue()[:size]


def build_artifact(path: Path, size: int) -> None:
    rng = random.Random(size)
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        for i, start in enumerate(range(0, size, FILE_SIZE)):
            data = payload(min(FILE_SIZE, size - start), rng)
            info = tarfile.TarInfo(f"model/shard-{i:03d}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def baseline(client: Any, bucket: str, key: str, work: Path) -> dict[str, float]:
    """What a hand-written entrypoint does: download_file, then tar -xzf."""
    target, out = work / "model.tar.gz", work / "model"
    out.mkdir(parents=True)
    t0 = time.perf_counter()
    client.download_file(bucket, key, str(target))
    t1 = time.perf_counter()
    subprocess.run(["tar", "-xzf", str(target), "-C", str(out)], check=True)
    t2 = time.perf_counter()
    return {"download_s": t1 - t0, "unpack_s": t2 - t1, "total_s": t2 - t0}


def coserve(url: str, cache: Path) -> dict[str, float]:
    settings = StorageSettings(cache_dir=cache, s3_addressing_style="path", progress=False)
    store = ArtifactStore(settings)
    t0 = time.perf_counter()
    store.fetch(url)  # download + size/md5 check + sha256, into the cache
    t1 = time.perf_counter()
    store.materialize(url, "bench")  # cache hit (HEAD only) + safe unpack + hardlink model dir
    t2 = time.perf_counter()
    ArtifactStore(settings).materialize(url, "bench-2")  # restart, second container: no download
    t3 = time.perf_counter()
    return {"download_s": t1 - t0, "unpack_s": t2 - t1, "total_s": t2 - t0, "cached_s": t3 - t2}


def bench_size(endpoint: S3Endpoint, work: Path, size: int, repeat: int) -> dict[str, Any]:
    client, bucket, key = endpoint.client(), "bench", f"model-{size}.tar.gz"
    artifact = work / key
    build_artifact(artifact, size)
    client.upload_file(str(artifact), bucket, key)
    runs: list[dict[str, Any]] = []
    for i in range(repeat):
        # Alternate the order so neither side always runs with the store's page cache warmer.
        order = ["baseline", "coserve"] if i % 2 == 0 else ["coserve", "baseline"]
        run: dict[str, Any] = {}
        for side in order:
            scratch = Path(tempfile.mkdtemp(dir=work))
            if side == "baseline":
                run[side] = baseline(client, bucket, key, scratch)
            else:
                run[side] = coserve(f"s3://{bucket}/{key}", scratch / "volume")
            subprocess.run(["rm", "-rf", str(scratch)], check=True)  # read-only trees: rm, not rmtree
        runs.append(run)
    best = {side: min(r[side]["total_s"] for r in runs) for side in ("baseline", "coserve")}
    return {
        "unpacked_bytes": size,
        "artifact_bytes": artifact.stat().st_size,
        "runs": runs,
        "best_total_s": best,
        "ratio_coserve_over_baseline": best["coserve"] / best["baseline"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200M", help="comma-separated unpacked sizes (200M,1G)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/storage_fetch.json")
    args = parser.parse_args()
    note_start()  # the load average before this run's own load, not when the report is written
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="coserve-bench-"))
    results: dict[str, Any] = {}
    try:
        with S3Store() as store:
            endpoint = store.start(work / "seaweedfs")
            os.environ.update(endpoint.env())  # ArtifactStore uses boto3's standard credential chain
            endpoint.client().create_bucket(Bucket="bench")
            for label, size in zip(args.sizes.split(","), sizes, strict=True):
                results[label] = result = bench_size(endpoint, work, size, args.repeat)
                best = result["best_total_s"]
                print(
                    f"{label}: artifact {result['artifact_bytes'] / 1e6:.0f} MB; "
                    f"baseline {best['baseline']:.2f}s, coserve {best['coserve']:.2f}s, "
                    f"ratio {result['ratio_coserve_over_baseline']:.2f}",
                    flush=True,
                )
                for run in result["runs"]:
                    print(f"  {json.dumps(run)}", flush=True)
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    config = {
        "sizes": args.sizes,
        "repeat": args.repeat,
        "file_size": FILE_SIZE,
        "coserve_transfer": "16 MiB parts, 8 threads",
        "baseline_transfer": "boto3 defaults",
        "boto3": boto3.__version__,
    }
    write_json(document("storage_fetch", config, results), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
