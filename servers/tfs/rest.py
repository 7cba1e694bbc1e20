"""TF Serving's REST API, served in-process by the built-in server (https://www.tensorflow.org/tfx/serving/api_rest).

GET  /v1/models/<m>[/versions/<v>]            model status
GET  /v1/models/<m>[/versions/<v>]/metadata   signature defs
POST /v1/models/<m>[/versions/<v>]:predict|classify|regress
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from servers.tfs.backend import InProcess
from servers.tfs.errors import TfsError, bad_request
from servers.tfs.sagemaker import METHODS, Target

_PATH = re.compile(
    r"^(?P<model>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
    r"(?::(?P<method>[a-z]+)|/(?P<metadata>metadata))?$"
)


class TfsRestApi:
    def __init__(self, backend: InProcess) -> None:
        self.backend = backend

    async def get(self, request: Request) -> Response:
        try:
            parts = self._parse(request)
            if parts["method"]:
                raise bad_request(f"Malformed request: GET {request.url.path}")
            version = int(parts["version"]) if parts["version"] else None
            if parts["metadata"]:
                answer = metadata(self.backend.registry.get(str(parts["model"]), version))
            else:
                answer = self.backend.registry.status_json(str(parts["model"]), version)
        except TfsError as exc:
            return _json(exc.status, exc.body())
        return _json(200, json.dumps(answer).encode())

    async def post(self, request: Request) -> Response:
        try:
            parts = self._parse(request)
            if parts["method"] not in METHODS:
                raise bad_request(f"Malformed request: POST {request.url.path}")
        except TfsError as exc:
            return _json(exc.status, exc.body())
        version = int(parts["version"]) if parts["version"] else None
        target = Target(str(parts["model"]), version, str(parts["method"]))
        status, answer = await self.backend.infer(target, await request.body())
        return _json(status, answer)

    def _parse(self, request: Request) -> dict[str, str | None]:
        found = _PATH.match(request.path_params["path"])
        if found is None:
            raise bad_request(f"Malformed request: {request.method} {request.url.path}")
        if found["label"]:
            raise bad_request(f"Unrecognized servable version label: {found['label']}")
        return found.groupdict()


def metadata(servable: Any) -> dict[str, Any]:
    from google.protobuf import json_format  # type: ignore[import-untyped]

    # The JSON of TF Serving's SignatureDefMap, built from TensorFlow's own SignatureDef messages so the
    # REST API needs no tensorflow_serving (an optional install: adapters/preflight.py).
    each = {name: json_format.MessageToDict(sig) for name, sig in servable.signature_defs.items()}
    defs = {"signatureDef": each} if each else {}
    return {
        "model_spec": {"name": servable.name, "signature_name": "", "version": str(servable.version)},
        "metadata": {"signature_def": defs},
    }


def _json(status: int, body: bytes) -> Response:
    return Response(body, status, media_type="application/json")
