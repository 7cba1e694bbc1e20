#!/usr/bin/env bash
# The one command that checks everything: formatting, lint, types, then the whole test suite.
#   bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${COSERVE_VENV:-.venv}
"$venv/bin/ruff" format --check --quiet .
"$venv/bin/ruff" check --quiet .
"$venv/bin/mypy" runtime adapters servers
"$venv/bin/python" -m pytest -q "$@"
