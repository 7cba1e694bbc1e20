"""`coserve plan`: read the figures, pack, print a table (or JSON). Exit 0, or 2 with the input's problems."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the rest loads on `coserve plan` only: the parser is built for every command
    from runtime.cli.plan.catalog import Catalog
    from runtime.cli.plan.model import Plan, Workload


def add_arguments(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("endpoints", nargs="?", type=Path, help="YAML/JSON file listing SageMaker endpoints")
    source.add_argument("--url", help="a running coserve's front door: read its /metrics")
    source.add_argument("--benchmark", type=Path, help="a consolidation benchmark result: its scenario A figures")
    p.add_argument("--samples", type=int, default=3, help="/metrics readings (peaks over them; rates need 2+)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between /metrics readings")
    p.add_argument("--headroom", type=float, default=0.2, help="fraction of each instance kept free at peak (0-0.9)")
    p.add_argument("--prices", type=Path, help="price table (default: benchmarks/prices.json)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument(
        "--emit",
        type=Path,
        metavar="DIR",
        help="write DIR/instance-N.yaml per instance: its Coserve section (requests and limits)",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from runtime.cli.plan.catalog import CatalogError, load_catalog
    from runtime.cli.plan.inputs import PlanInputError
    from runtime.cli.plan.pack import Policy, make_plan
    from runtime.cli.plan.render import render

    if not 0 <= args.headroom <= 0.9 or args.samples < 1 or args.interval < 0:
        return _fail("--headroom must be within 0..0.9, --samples at least 1, --interval 0 or more")
    try:
        catalog = load_catalog(args.prices)
        workloads = _workloads(args, catalog)
    except (CatalogError, PlanInputError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot read {args.url}/metrics: {exc}")
    plan = make_plan(workloads, catalog, Policy(headroom=args.headroom))
    if args.emit is not None and (problem := _emit(args, plan)) is not None:
        return _fail(problem)
    if args.json:
        print(plan.to_json())
    else:
        console = Console()
        (console if console.is_terminal else Console(width=200)).print(render(plan))
    return 0


def _workloads(args: argparse.Namespace, catalog: Catalog) -> list[Workload]:
    from runtime.cli.plan.inputs import read_endpoints
    from runtime.cli.plan.scrape import workloads_from_metrics

    if args.url:
        return workloads_from_metrics(args.url, args.samples, args.interval)
    if args.benchmark:
        from runtime.cli.plan.bench import workloads_from_benchmark

        return workloads_from_benchmark(args.benchmark)
    return read_endpoints(args.endpoints, catalog)


def _emit(args: argparse.Namespace, plan: Plan) -> str | None:
    """Writes the files; the problem when it cannot (then nothing is written, and no plan printed)."""
    from runtime.cli.plan.emit import EmitError, write

    source = (
        f"--url {args.url}" if args.url else f"--benchmark {args.benchmark}" if args.benchmark else str(args.endpoints)
    )
    try:
        write(plan, args.emit, source)
    except EmitError as exc:
        return f"--emit: {exc}"
    except OSError as exc:
        return f"--emit {args.emit}: {exc}"
    return None


def _fail(message: str) -> int:
    print(f"coserve plan: {message}", file=sys.stderr)
    return 2
