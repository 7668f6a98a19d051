"""Calendar events: created with a ``transactionId`` (a repeat is the same event), deleted."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mock_backend import db
from mock_backend.graph.common import GraphError, as_graph, bp, item_body, only, request_body
from mock_backend.graph.directory import existing_mailbox
from mock_backend.graph_schema import graph_schema
from mock_backend.store import Tx, now_ts

EVENT_PROPERTIES = {
    "subject",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "attendees",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "transactionId",
    "showAs",
    "importance",
    "sensitivity",
    "categories",
    "isAllDay",
    "isOnlineMeeting",
    "allowNewTimeProposals",
    "responseRequested",
}


def _date_time_time_zone(value: object, field: str) -> datetime:
    """A dateTimeTimeZone: ``{"dateTime": "2026-11-26T10:00:00", "timeZone": "UTC"}``, both required."""
    if not isinstance(value, dict) or not value.get("dateTime") or not value.get("timeZone"):
        raise GraphError(400, "ErrorInvalidRequest", f"{field} needs dateTime and timeZone.")
    zone = str(value["timeZone"])
    if not zone.endswith(" Standard Time"):  # Windows names are accepted too
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise GraphError(
                400,
                "TimeZoneNotSupportedException",
                f"A valid TimeZone value must be specified. The following TimeZone value is not supported: '{zone}'.",
            ) from None
    try:
        return datetime.fromisoformat(str(value["dateTime"]))
    except ValueError:
        raise GraphError(400, "ErrorInvalidRequest", f"{field}.dateTime is not an ISO 8601 time.") from None


@bp.post("/users/<mailbox>/events")
def create_event(mailbox: str):
    """Graph's `POST /users/{id}/events`: a calendar event in an existing mailbox, its body read against Graph's schema."""
    existing_mailbox(mailbox)
    body = request_body()
    only(body, EVENT_PROPERTIES, "microsoft.graph.event")
    start = _date_time_time_zone(body.get("start"), "start")
    end = _date_time_time_zone(body.get("end"), "end")
    if body["start"]["timeZone"] == body["end"]["timeZone"] and end < start:
        raise GraphError(400, "ErrorInvalidRequest", "The end of the event is before its start.")
    as_graph(graph_schema().check, body, "event")  # after the rules above, with their own codes
    item_body(body.get("body"), "body")
    transaction_id = body.get("transactionId")
    with Tx(db()) as conn:
        if transaction_id:
            row = conn.execute(
                "SELECT event FROM graph_events WHERE mailbox = ? AND transaction_id = ?", (mailbox, transaction_id)
            ).fetchone()
            if row is not None:
                return json.loads(row["event"]), 201
        event = {
            "id": uuid.uuid4().hex,
            "createdDateTime": now_ts(),
            "organizer": {"emailAddress": {"address": mailbox}},
            **body,
        }
        conn.execute(
            "INSERT INTO graph_events (mailbox, transaction_id, event, created_at) VALUES (?,?,?,?)",
            (mailbox, transaction_id, json.dumps(event), now_ts()),
        )
    return event, 201


@bp.delete("/users/<mailbox>/events/<event_id>")
def delete_event(mailbox: str, event_id: str):
    """Graph's event delete: 204, or 404 (ErrorItemNotFound) for an event that is not there."""
    with Tx(db()) as conn:
        rows = conn.execute("SELECT id, event FROM graph_events WHERE mailbox = ?", (mailbox,)).fetchall()
        found = [r["id"] for r in rows if json.loads(r["event"])["id"] == event_id]
        if not found:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        conn.execute("DELETE FROM graph_events WHERE id = ?", (found[0],))
    return "", 204
