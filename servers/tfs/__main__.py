"""`python -m servers.tfs [--binary PATH]`: the TensorFlow Serving container's entry point (its `serve`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from servers.tfs.discovery import DiscoveryError, default_model, find_models
from servers.tfs.server import run_builtin, run_front
from servers.tfs.settings import Settings

log = logging.getLogger("servers.tfs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servers.tfs", description=__doc__)
    parser.add_argument("--binary", help="tensorflow_model_server to run behind a SageMaker front (default: built-in)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(os.environ)
        models = find_models(settings.model_dir)
        default = default_model(models, settings.default_model)
    except (ValueError, DiscoveryError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    found = ", ".join(f"{m.name} {[v for v, _ in m.versions]}" for m in models)
    log.info("models: %s; default %s", found, default.name)
    try:
        if args.binary:
            return run_front(settings, models, default, args.binary)
        return run_builtin(settings, models, default)
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
