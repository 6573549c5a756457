"""Scenario (b): a Starlette service on uvicorn calling its downstream with ``httpx.AsyncClient``.

``GET /users/{user_id:int}`` fetches ``/profile/<id>`` from the downstream (``SERVICE_DOWNSTREAM``)
through one ``httpx.AsyncClient`` and answers a small JSON document.
"""

import os

from benches.service import tracers

tracers.patch("starlette", "httpx")

import httpx  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

DOWNSTREAM = os.environ["SERVICE_DOWNSTREAM"]
client = httpx.AsyncClient()


async def user(request):
    user_id = request.path_params["user_id"]
    response = await client.get("%s/profile/%d" % (DOWNSTREAM, user_id))
    return JSONResponse({"id": user_id, "profile": response.text})


app = tracers.instrument_app(Starlette(routes=[Route("/users/{user_id:int}", user)]), "starlette")
