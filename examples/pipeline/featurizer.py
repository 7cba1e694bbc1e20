"""Step 1 of the iris pipeline (starlette + uvicorn): CSV measurements in, standardised features out.

Reads `scaler.json` (means and scales) from its model directory, as a SageMaker container reads
/opt/ml/model. Answers `application/json`, which the next container receives as its Content-Type.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

SCALER = json.loads((Path(os.environ["SM_MODEL_DIR"]) / "scaler.json").read_text())


async def ping(request: Request) -> Response:
    return PlainTextResponse("")


async def invocations(request: Request) -> Response:
    ctype = request.headers.get("content-type", "text/csv").split(";")[0].strip()
    if ctype != "text/csv":
        return PlainTextResponse(f"featurizer takes text/csv, not {ctype}", status_code=415)
    rows = [r for r in csv.reader(io.StringIO((await request.body()).decode())) if r]
    try:
        values = [[float(x) for x in row] for row in rows]
    except ValueError as exc:
        return PlainTextResponse(f"bad CSV: {exc}", status_code=400)
    if any(len(v) != len(SCALER["mean"]) for v in values):
        return PlainTextResponse(f"each row needs {len(SCALER['mean'])} values", status_code=400)
    features = [[(x - m) / s for x, m, s in zip(v, SCALER["mean"], SCALER["scale"], strict=True)] for v in values]
    return JSONResponse({"features": features})


app = Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["SAGEMAKER_BIND_TO_PORT"]), log_level="warning")
