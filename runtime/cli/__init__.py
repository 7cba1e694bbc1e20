"""The `coserve` command: serve, apply, check, fetch, cache, status, top, plan."""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import tempfile
from pathlib import Path

from runtime.cli.deployfile import DeploymentFetchError, localize
from runtime.config import ConfigError, Deployment, load_deployment, parse_deployment
from runtime.config.ports import front_door_clash


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coserve", description="SageMaker multi-container endpoints on your own host")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start every container and the front door")
    serve.add_argument("deployment", nargs="?",
                       help="deployment file (JSON or YAML): a path, s3://bucket/key or https:// URL; a file with only "
                            "a Coserve section sets the host up with no endpoint of its own")  # fmt: skip
    serve.add_argument("--state-dir", type=Path,
                       help="keep models, endpoint configs and endpoints (the SageMaker API's) in SQLite here, across "
                            f"restarts (without a deployment file: default {default_state_dir()}); with a file and "
                            "no --state-dir, the state lasts as long as the process")  # fmt: skip
    serve.add_argument("--host", default="127.0.0.1", help="front door address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="front door port (default 8080)")
    serve.add_argument("--workers", type=int, help="router processes (overrides Coserve.Server.Workers)")
    serve.add_argument("--allow-unauthenticated", action="store_true",
                       help="allow a non-loopback --host without Coserve.Auth")  # fmt: skip
    from runtime.cli.apply import add_arguments as apply_arguments

    apply_arguments(sub.add_parser("apply", help="apply a deployment file on a running host, as serve does at start"))
    check = sub.add_parser("check", help="validate a deployment file and print what would run")
    check.add_argument("deployment", help="a path, s3:// or https:// URL")
    check.add_argument("--port", type=int, default=8080, help="the front door port serve will use (default 8080)")
    fetch = sub.add_parser("fetch", help="fill the artifact cache and unpack every model, then exit")
    fetch.add_argument("deployment", help="a path, s3:// or https:// URL")
    cache = sub.add_parser("cache", help="list the artifact cache, or prune it to its budget")
    cache.add_argument("action", choices=["ls", "prune"])
    cache.add_argument("deployment", help="its Coserve.Storage names the cache (a path, s3:// or https:// URL)")
    cache.add_argument("--to", help="prune: to this size (e.g. 2GiB, 0 for everything unused), not the budget")
    status = sub.add_parser("status", help="each container's state and figures, from a running coserve")
    status.add_argument("--sample", type=float, default=1.0, help="seconds between the two readings for rates")
    top = sub.add_parser("top", help="a live view of each container's figures")
    top.add_argument("--interval", type=float, default=2.0, help="refresh every this many seconds")
    for p in (status, top):
        p.add_argument("--url", default="http://127.0.0.1:8080", help="the front door (default http://127.0.0.1:8080)")
    # coserve plan: the consolidation advisor (runtime.cli.plan)
    from runtime.cli.plan.command import add_arguments as plan_arguments

    plan_arguments(sub.add_parser("plan", help="pack models onto instance types from measured peaks, with $/month"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "plan":
        from runtime.cli.plan.command import run as plan

        return plan(args)
    if args.command == "apply":
        from runtime.cli.apply import run as apply

        return apply(args)
    if args.command in ("status", "top"):
        from runtime.cli import status as view

        return view.status(args.url, args.sample) if args.command == "status" else view.top(args.url, args.interval)
    from runtime.main import configure_logging

    configure_logging(args.log_level)
    if args.command == "serve" and args.deployment is None:
        return _serve(args, parse_deployment({}))  # an empty host: every endpoint comes through the API
    # A fetched deployment file lives until coserve stops (gunicorn workers no longer read it: runtime.rundir).
    with tempfile.TemporaryDirectory(prefix="coserve-deployment-") as tmp:
        try:
            deployment = load_deployment(localize(args.deployment, Path(tmp)))
        except DeploymentFetchError as exc:
            print(f"coserve: {exc}", file=sys.stderr)
            return 1  # maybe transient: a service manager may retry exit 1, never exit 2
        except ConfigError as exc:
            print(f"coserve: {exc}", file=sys.stderr)
            return 2
        clash = front_door_clash(deployment, args.port) if args.command in ("check", "serve") else None
        if clash is not None:
            print(f"coserve: invalid deployment: {clash}", file=sys.stderr)
            return 2
        if args.command == "check":
            return _check(deployment)
        if args.command == "cache":
            from runtime.cli.cache import cache_command

            return cache_command(deployment, args.action, args.to)
        if args.command == "fetch":
            from runtime.cli.fetch import fetch_all

            return fetch_all(deployment)
        return _serve(args, deployment)


def _check(deployment: Deployment) -> int:
    """Print what would run; a framework module this interpreter lacks is an error (or a note if optional)."""
    from adapters.preflight import describe, missing
    from runtime.config.sources import describe as describe_data

    failed = False
    if not deployment.has_endpoint:
        print("a host file: its settings only, no endpoint of its own (endpoints come through the SageMaker API)")
    for c in deployment.containers:
        print(f"{c.hostname}: {c.adapter} {describe_data(c.model_data_url, c.model_data, c.additional_sources)}")
        for need in missing(c.adapter, c.environment):
            failed |= need.required
            level = "error" if need.required else "note"
            print(f"coserve: {level}: container {c.hostname} ({c.adapter}) {describe(need)}", file=sys.stderr)
    failed |= _check_data_plane(deployment)
    return 2 if failed else 0


def _check_data_plane(deployment: Deployment) -> bool:
    """True (an error, printed) when DataPlane haproxy has no haproxy binary on PATH."""
    from runtime.dataplane.process import find_haproxy

    if deployment.server.data_plane != "haproxy" or find_haproxy() is not None:
        return False
    print("coserve: error: Coserve.Server.DataPlane is haproxy but no haproxy binary is on PATH "
          "(images/install.sh --extras dataplane installs it)", file=sys.stderr)  # fmt: skip
    return True


def _serve(args: argparse.Namespace, deployment: object) -> int:
    from dataclasses import replace

    from runtime.config import Deployment
    from runtime.main import serve

    assert isinstance(deployment, Deployment)
    if args.workers is not None:
        deployment = replace(deployment, server=replace(deployment.server, workers=args.workers))
    if not _loopback(args.host) and deployment.auth is None and not args.allow_unauthenticated:
        print(f"coserve: refusing to serve on {args.host} without Coserve.Auth; "
              "pass --allow-unauthenticated to run open", file=sys.stderr)  # fmt: skip
        return 2
    state_dir = args.state_dir or (default_state_dir() if args.deployment is None else None)
    return serve(deployment, args.host, args.port, state_dir)


def default_state_dir() -> Path:
    """As root /var/lib/coserve, else the user's data directory (XDG_DATA_HOME, ~/.local/share)."""
    if os.geteuid() == 0:
        return Path("/var/lib/coserve")
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "coserve"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
