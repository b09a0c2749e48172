"""Weather tool: an HTTP tool endpoint, ``POST /score`` with ``{"location": str, "unit"?: str}``.

Run: ``python sample-servers/tool-example/src/main.py`` (port ``$PORT``, default 8000; host ``$HOST``,
default 127.0.0.1). Register it as tool ``weather`` with ``"port": 8000`` (path defaults to ``/score``).
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn
from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse

app = FastAPI(title="Weather tool")

_TEMPERATURE = {"fahrenheit": 72.0, "celsius": 22.2}


@app.post("/score")
def score(payload: dict[str, Any] | None = Body(default=None)) -> JSONResponse:
    payload = payload or {}
    location = payload.get("location")
    if not isinstance(location, str) or not location.strip():
        return JSONResponse({"detail": "Missing 'location' field."}, status_code=400)
    unit = str(payload.get("unit") or "fahrenheit").lower()
    if unit not in _TEMPERATURE:
        return JSONResponse({"detail": "Invalid 'unit' value."}, status_code=400)
    print(f"weather requested for {location!r} in {unit}", flush=True)
    return JSONResponse({"location": location, "unit": unit, "temperature": _TEMPERATURE[unit], "conditions": "clear"})


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(
        app, host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")), log_level="warning"
    )
