"""Scenario (a): a Flask service on gunicorn (one sync worker) calling its downstream with ``requests``.

``GET /users/<int:user_id>`` fetches ``/profile/<id>`` from the downstream (``SERVICE_DOWNSTREAM``)
through one ``requests.Session`` and answers a small JSON document.
"""

import os

from benches.service import tracers

tracers.patch("flask", "requests")

import flask  # noqa: E402
import requests  # noqa: E402

DOWNSTREAM = os.environ["SERVICE_DOWNSTREAM"]
session = requests.Session()
app = flask.Flask(__name__)


@app.route("/users/<int:user_id>")
def user(user_id):
    response = session.get("%s/profile/%d" % (DOWNSTREAM, user_id))
    return {"id": user_id, "profile": response.text}


tracers.instrument_app(app, "flask")
