"""Step 2 of the iris pipeline (aiohttp + scikit-learn): features in, class probabilities out.

Loads `model.joblib` (a fitted LogisticRegression) from its model directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import joblib
from aiohttp import web

MODEL = joblib.load(Path(os.environ["SM_MODEL_DIR"]) / "model.joblib")


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="")


async def invocations(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        return web.Response(status=415, text=f"classifier takes application/json, not {request.content_type}")
    doc = await request.json()
    probabilities = MODEL.predict_proba(doc["features"]).tolist()
    return web.json_response({"probabilities": probabilities, "classes": MODEL.classes_.tolist()})


app = web.Application()
app.add_routes([web.get("/ping", ping), web.post("/invocations", invocations)])

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(os.environ["SAGEMAKER_BIND_TO_PORT"]), print=None)
