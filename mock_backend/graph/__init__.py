"""The Microsoft Graph v1.0 subset the flows use, with Graph's real paths and bodies, and the
Microsoft identity platform's client-credentials token endpoint (plus the OpenID discovery document
that MSAL reads before asking for a token).

It is as strict as Graph where the flows could go wrong (each rule has a test in
tests/mock/test_graph_rules.py): request bodies and required fields, the directory (``GET
/users/{upn}``; Planner assigns by user id), Planner's read-only task details and ETags, its
percent-encoded reference keys, size limits, Outlook's 4 concurrent requests per mailbox (429 with
Retry-After) and Graph's error body ``{"error": {"code", "message", "innerError"}}``.

One module per area: ``common`` (errors, bodies, the blueprints), ``identity``, ``directory``,
``mail``, ``calendar``, ``drive`` (SharePoint) and ``planner``; importing the package registers
every route on ``bp`` and ``token_bp``.
"""

from __future__ import annotations

from mock_backend.graph import calendar, directory, drive, identity, mail, planner  # noqa: F401 - their routes
from mock_backend.graph.common import (
    MAX_REQUEST_BYTES,
    TOKEN_PREFIX,
    GraphError,
    bp,
    graph_error_response,
    throttled_response,
    token_bp,
)
from mock_backend.graph.directory import directory_id

__all__ = [
    "MAX_REQUEST_BYTES",
    "TOKEN_PREFIX",
    "GraphError",
    "bp",
    "directory_id",
    "graph_error_response",
    "throttled_response",
    "token_bp",
]
