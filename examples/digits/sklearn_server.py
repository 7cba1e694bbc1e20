"""A scikit-learn digits classifier behind a tiny starlette app: the bring-your-own container contract.

`POST /invocations` takes `{"instances": [[64 pixel values], ...]}` (JSON) or CSV rows, and answers
`{"predictions": [...]}`. The model is `model.joblib` in $SM_MODEL_DIR.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import joblib
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

MODEL = joblib.load(Path(os.environ["SM_MODEL_DIR"]) / "model.joblib")


async def ping(request: Request) -> Response:
    return PlainTextResponse("")


async def invocations(request: Request) -> Response:
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    body = (await request.body()).decode()
    try:
        if ctype == "application/json":
            rows = json.loads(body)["instances"]
        elif ctype == "text/csv":
            rows = [[float(v) for v in r] for r in csv.reader(io.StringIO(body)) if r]
        else:
            return PlainTextResponse(f"unsupported content type {ctype}", status_code=415)
        predictions = MODEL.predict(rows).tolist()
    except (ValueError, KeyError, TypeError) as exc:
        return PlainTextResponse(f"bad input: {exc}", status_code=400)
    return JSONResponse({"predictions": predictions})


app = Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["SAGEMAKER_BIND_TO_PORT"]), log_level="warning")
