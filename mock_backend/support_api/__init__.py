"""The Support API (the seed's Flask backend), as described in openapi.yaml, one module per resource:
``tickets`` (with notes, replies and the AI's answer), ``agents``, ``stats``, ``feedback`` (with
surveys) and ``events``; ``common`` holds what they share. Importing the package registers every
route on ``bp``."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("support_api", __name__, url_prefix="/api")

from mock_backend.support_api import agents, events, feedback, stats, tickets  # noqa: E402, F401 - registers the routes
