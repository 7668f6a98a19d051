"""The ordered event feed the watcher reads with its cursor."""

from __future__ import annotations

import json

from flask import request

from mock_backend import db
from mock_backend.store import OPEN_STATUSES
from mock_backend.support_api import bp
from mock_backend.support_api.common import arg_int


@bp.get("/events")
def list_events():
    after = arg_int("after", 0, 0)
    limit = arg_int("limit", 100, 1, 1000)
    types = [t for t in (request.args.get("type") or "").split(",") if t]
    sql, params = "SELECT id, type, created_at, data FROM events WHERE id > ?", [after]
    if types:
        sql += f" AND type IN ({','.join('?' * len(types))})"
        params += types
    rows = db().execute(sql + " ORDER BY id LIMIT ?", [*params, limit]).fetchall()
    items = [
        {"id": r["id"], "type": r["type"], "created_at": r["created_at"], "data": json.loads(r["data"])} for r in rows
    ]
    return {"items": items, "last_id": items[-1]["id"] if items else after}


__all__ = ["bp", "OPEN_STATUSES"]
