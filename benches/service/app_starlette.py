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


def _stretch_uvicorn_tick(seconds):
    """uvicorn's server wakes every 0.1 s of wall time (its date header, its exit check). Under callgrind,
    which runs the service about 50 times slower, and more on a loaded machine, those wake-ups would be
    counted per request many times as often as in production, by how fast the machine is: the instructions
    figure (``SERVICE_TICK_SECONDS``) makes it one wake-up every ``seconds``, in every variant alike."""
    import asyncio

    import uvicorn.server

    async def main_loop(self):
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # each wake-up does the once-a-second work
            await asyncio.sleep(seconds)
            should_exit = await self.on_tick(counter)

    uvicorn.server.Server.main_loop = main_loop


if os.environ.get("SERVICE_TICK_SECONDS"):
    _stretch_uvicorn_tick(float(os.environ["SERVICE_TICK_SECONDS"]))
