"""Bring your own server: any command that speaks the container contract.

`Image: process`, with the argv in `Coserve.Containers.<hostname>.Command`. The server must listen
on 127.0.0.1:$SAGEMAKER_BIND_TO_PORT and answer `GET /ping` and `POST /invocations`; its model is in
$SM_MODEL_DIR (also /opt/ml/model where the host allows a private mount namespace).
"""

from __future__ import annotations

from adapters.base import Launch, contract_environment


class ProcessAdapter:
    name = "process"

    def check(self, command: tuple[str, ...] | None) -> list[str]:
        return [] if command else ["required for Image: process (the argv that starts the server)"]

    def command(self, launch: Launch) -> list[str]:
        assert launch.command, "checked at config time"
        return list(launch.command)

    def environment(self, launch: Launch) -> dict[str, str]:
        return contract_environment(launch)

    def readiness_url(self, launch: Launch) -> str:
        return f"http://127.0.0.1:{launch.bind_port}/ping"

    def ready(self, status: int, body: bytes) -> bool:
        return status == 200
