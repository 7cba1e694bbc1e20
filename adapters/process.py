"""Bring your own server: any command that speaks the container contract.

`Image: process`, with the argv in `Coserve.Containers.<hostname>.Command` (`$(VAR)` expands from the
container's environment). Without a Command (a CreateModel call through the API has no Coserve section), it
runs the executable `serve` at the root of the unpacked model, else `code/serve`, as SageMaker runs `serve`
in a bring-your-own image. The server must listen
on 127.0.0.1:$SAGEMAKER_BIND_TO_PORT and answer `GET /ping` and `POST /invocations`; its model is in
$SM_MODEL_DIR (also /opt/ml/model where the host allows a private mount namespace).
"""

from __future__ import annotations

import re
from pathlib import Path

from adapters.base import Launch, contract_environment
from adapters.threads import pool_environment

_VAR = re.compile(r"(\$?)\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class ProcessAdapter:
    name = "process"
    safe_ports_needed = 0  # what a bring-your-own server takes from its range is its own business

    def check(self, command: tuple[str, ...] | None) -> list[str]:
        return []  # no Command: the model's own `serve` (see the module docstring), found when it starts

    def command(self, launch: Launch) -> list[str]:
        """The Command, with `$(VAR)` replaced from the container's environment, as Kubernetes does.

        So `[python, "$(SM_MODEL_DIR)/code/serve.py"]` runs code shipped inside the model artifact.
        `$$(VAR)` stays literal; an unknown variable is left as written."""
        if not launch.command:
            return serve_command(launch.model_dir)
        env = {**self.environment(launch), **launch.environment}
        return [_VAR.sub(lambda m: m.group(0)[1:] if m.group(1) else env.get(m.group(2), m.group(0)), a)
                for a in launch.command]  # fmt: skip

    def environment(self, launch: Launch) -> dict[str, str]:
        # A sensible default for Python servers (numpy, scikit-learn, torch): BLAS/OpenMP pools
        # sized to the container's allotment rather than every core of the host.
        return {**contract_environment(launch), **pool_environment(launch.cpu_allotment)}

    def readiness_url(self, launch: Launch) -> str:
        return f"http://127.0.0.1:{launch.bind_port}/ping"

    def ready(self, status: int, body: bytes) -> bool:
        return status == 200


# Looked up when the container starts, inside its mount namespace (the model may be at /opt/ml/model there):
# exit 127, as a shell does for a missing command, with the reason in the container's log.
_SERVE = (
    'for f in "$1/serve" "$1/code/serve"; do [ -f "$f" ] && exec "$f"; done; '
    'echo "coserve: no Coserve.Containers.<hostname>.Command and no executable serve or code/serve in $1" >&2; '
    "exit 127"
)


def serve_command(model_dir: Path) -> list[str]:
    """The model's own `serve` (then `code/serve`), as SageMaker runs a bring-your-own image's `serve`."""
    return ["/bin/sh", "-c", _SERVE, "coserve-serve", str(model_dir)]
