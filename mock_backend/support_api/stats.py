"""Statistics: the day's figures and their history, in a time zone."""

from __future__ import annotations

from datetime import timedelta

from flask import request

from mock_backend import db
from mock_backend.store import day_bounds
from mock_backend.support_api import bp
from mock_backend.support_api.common import arg_date, arg_int, arg_tz


def _count(conn, sql: str, params) -> int:
    return conn.execute(sql, params).fetchone()[0] or 0


# open at a moment, and waiting on the customer then: answered by AI, neither replied to nor assigned yet
_OPEN_AT = "created_at < :m AND (resolved_at IS NULL OR resolved_at >= :m)"
_WITH_CUSTOMER_AT = (
    "ai_response IS NOT NULL AND (customer_replied_at IS NULL OR customer_replied_at >= :m)"
    " AND (assigned_at IS NULL OR assigned_at >= :m)"
)


def backlog_at(conn, moment: str, unassigned_only: bool = False) -> int:
    """Tickets waiting for people at ``moment``: open, and not an AI answer waiting on the customer."""
    sql = f"SELECT COUNT(*) FROM tickets WHERE {_OPEN_AT} AND NOT ({_WITH_CUSTOMER_AT})"
    if unassigned_only:
        sql += " AND (assigned_at IS NULL OR assigned_at >= :m)"
    return _count(conn, sql, {"m": moment})


def paused_at(conn, moment: str) -> int:
    """Open tickets whose SLA clocks stand still at ``moment``: in a period waiting on the customer."""
    return _count(
        conn,
        f"SELECT COUNT(*) FROM tickets WHERE {_OPEN_AT} AND EXISTS (SELECT 1 FROM json_each(waiting_periods) w"
        " WHERE json_extract(w.value, '$[0]') < :m"
        " AND (json_extract(w.value, '$[1]') IS NULL OR json_extract(w.value, '$[1]') >= :m))",
        {"m": moment},
    )


def awaiting_customer_at(conn, moment: str) -> int:
    """AI answers still open at ``moment`` that wait for the customer's reply (or the time-out)."""
    return _count(conn, f"SELECT COUNT(*) FROM tickets WHERE {_OPEN_AT} AND {_WITH_CUSTOMER_AT}", {"m": moment})


@bp.get("/stats/daily")
def daily_stats():
    """One day's figures in a time zone: created, resolved, backlog, AI answers, first responses, by priority, channel and agent."""
    day = arg_date("date", required=True)
    tz = arg_tz()
    start, end = day_bounds(day, tz)
    conn = db()
    created_in = "created_at >= ? AND created_at < ?"
    resolved_in = "resolved_at >= ? AND resolved_at < ?"
    avg = conn.execute(  # people's resolutions: an AI answer closed after the time-out would skew it
        "SELECT AVG((julianday(resolved_at) - julianday(created_at)) * 24) FROM tickets WHERE "
        + resolved_in
        + " AND resolved_by IS NOT 'ai'",
        (start, end),
    ).fetchone()[0]
    fb = conn.execute(
        "SELECT COUNT(*), AVG(rating) FROM feedback WHERE created_at >= ? AND created_at < ?", (start, end)
    ).fetchone()
    by_agent = [
        {"agent_id": row[0], "name": row[1], "resolved": row[2] or 0, "open": row[3] or 0, "reopened": row[4] or 0}
        for row in conn.execute(
            "SELECT a.id, a.name,"
            " (SELECT COUNT(*) FROM tickets t WHERE t.agent_id = a.id AND t.resolved_at >= ? AND t.resolved_at < ?),"
            " (SELECT COUNT(*) FROM tickets t WHERE t.agent_id = a.id AND t.assigned_at < ?"
            "   AND (t.resolved_at IS NULL OR t.resolved_at >= ?)),"
            # the agent who had resolved it when the customer's reply reopened it
            " (SELECT COUNT(*) FROM reopens r WHERE r.agent_id = a.id AND r.reopened_at >= ? AND r.reopened_at < ?)"
            " FROM agents a WHERE a.role = 'agent' ORDER BY a.id",
            (start, end, end, end, start, end),
        )
    ]
    return {
        "date": day.isoformat(),
        "tz": request.args.get("tz") or "UTC",
        "created": _count(conn, f"SELECT COUNT(*) FROM tickets WHERE {created_in}", (start, end)),
        "resolved": _count(conn, f"SELECT COUNT(*) FROM tickets WHERE {resolved_in}", (start, end)),
        "ai_responded": _count(
            conn, f"SELECT COUNT(*) FROM tickets WHERE {created_in} AND ai_response IS NOT NULL", (start, end)
        ),
        "assigned": _count(
            conn, "SELECT COUNT(*) FROM tickets WHERE assigned_at >= ? AND assigned_at < ?", (start, end)
        ),
        "resolved_by_ai": _count(
            conn, f"SELECT COUNT(*) FROM tickets WHERE {resolved_in} AND resolved_by = 'ai'", (start, end)
        ),
        # deflection: what became of the AI's answers that day
        "ai_confirmed": _count(
            conn,
            f"SELECT COUNT(*) FROM tickets WHERE {resolved_in} AND resolved_by = 'ai' AND ai_answer_feedback = 'solved'",
            (start, end),
        ),
        "ai_closed_silent": _count(
            conn,
            f"SELECT COUNT(*) FROM tickets WHERE {resolved_in} AND resolved_by = 'ai' AND ai_answer_feedback IS NULL",
            (start, end),
        ),
        "ai_rejected": _count(
            conn,
            "SELECT COUNT(*) FROM tickets WHERE customer_replied_at >= ? AND customer_replied_at < ?"
            " AND ai_response IS NOT NULL",
            (start, end),
        ),
        "reopened": _count(
            conn, "SELECT COUNT(*) FROM reopens WHERE reopened_at >= ? AND reopened_at < ?", (start, end)
        ),
        "backlog": backlog_at(conn, end),
        "unassigned_backlog": backlog_at(conn, end, unassigned_only=True),
        "awaiting_customer": awaiting_customer_at(conn, end),
        "sla_paused": paused_at(conn, end),
        "avg_resolution_hours": round(avg, 2) if avg is not None else None,
        "feedback_count": fb[0],
        "avg_rating": round(fb[1], 2) if fb[1] is not None else None,
        "by_priority": {
            row[0]: row[1]
            for row in conn.execute(
                f"SELECT priority, COUNT(*) FROM tickets WHERE {created_in} GROUP BY priority ORDER BY priority",
                (start, end),
            )
        },
        "by_channel": {
            row[0]: row[1]
            for row in conn.execute(
                f"SELECT channel, COUNT(*) FROM tickets WHERE {created_in} GROUP BY channel ORDER BY channel",
                (start, end),
            )
        },
        "by_agent": by_agent,
        "by_topic": by_topic(conn, start, end),
        "satisfaction": satisfaction(conn, start, end),
    }


def by_topic(conn, start: str, end: str) -> list[dict]:
    """The day's figures per contact reason (the ticket's topic; null when none was recognised)."""
    rows = conn.execute(
        "SELECT topic,"
        " SUM(created_at >= :s AND created_at < :e),"
        " SUM(created_at >= :s AND created_at < :e AND ai_response IS NOT NULL),"
        " SUM(resolved_at >= :s AND resolved_at < :e),"
        " SUM(resolved_at >= :s AND resolved_at < :e AND resolved_by = 'ai'),"
        " AVG(CASE WHEN resolved_at >= :s AND resolved_at < :e AND resolved_by IS NOT 'ai'"
        "     THEN (julianday(resolved_at) - julianday(created_at)) * 24 END)"
        " FROM tickets WHERE (created_at >= :s AND created_at < :e) OR (resolved_at >= :s AND resolved_at < :e)"
        " GROUP BY topic",
        {"s": start, "e": end},
    ).fetchall()
    ratings = {
        row[0]: (row[1], row[2])
        for row in conn.execute(
            "SELECT t.topic, COUNT(*), AVG(f.rating) FROM feedback f JOIN tickets t ON t.id = f.ticket_id"
            " WHERE f.created_at >= ? AND f.created_at < ? GROUP BY t.topic",
            (start, end),
        )
    }
    topics = {row[0] for row in rows} | set(ratings)
    figures = {row[0]: row for row in rows}
    out = []
    for topic in sorted(topics, key=lambda t: (t is None, t or "")):
        row = figures.get(topic, (topic, 0, 0, 0, 0, None))
        count, avg_rating = ratings.get(topic, (0, None))
        out.append(
            {
                "topic": topic,
                "created": row[1] or 0,
                "ai_responded": row[2] or 0,
                "resolved": row[3] or 0,
                "resolved_by_ai": row[4] or 0,
                "avg_resolution_hours": round(row[5], 2) if row[5] is not None else None,
                "feedback_count": count,
                "avg_rating": round(avg_rating, 2) if avg_rating is not None else None,
            }
        )
    return out


def satisfaction(conn, start: str, end: str) -> dict:
    """The day's ratings split by who answered: the AI (resolved as answered by AI) or an agent."""
    split = {"ai_answered": {"count": 0, "avg_rating": None}, "agent_answered": {"count": 0, "avg_rating": None}}
    for by_ai, count, avg_rating in conn.execute(
        "SELECT COALESCE(t.resolved_by = 'ai', 0), COUNT(*), AVG(f.rating)"
        " FROM feedback f JOIN tickets t ON t.id = f.ticket_id"
        " WHERE f.created_at >= ? AND f.created_at < ? GROUP BY 1",
        (start, end),
    ):
        key = "ai_answered" if by_ai else "agent_answered"
        split[key] = {"count": count, "avg_rating": round(avg_rating, 2)}
    return split


@bp.get("/stats/history")
def stats_history():
    """Created, resolved, reopened and backlog for each of the last `days` days."""
    end_day = arg_date("end", required=True)
    days = arg_int("days", 14, 1, 90)
    tz = arg_tz()
    conn = db()
    items = []
    for offset in range(days - 1, -1, -1):
        day = end_day - timedelta(days=offset)
        start, end = day_bounds(day, tz)
        items.append(
            {
                "date": day.isoformat(),
                "created": _count(
                    conn, "SELECT COUNT(*) FROM tickets WHERE created_at >= ? AND created_at < ?", (start, end)
                ),
                "resolved": _count(
                    conn, "SELECT COUNT(*) FROM tickets WHERE resolved_at >= ? AND resolved_at < ?", (start, end)
                ),
                "reopened": _count(
                    conn, "SELECT COUNT(*) FROM reopens WHERE reopened_at >= ? AND reopened_at < ?", (start, end)
                ),
                "backlog": backlog_at(conn, end),
            }
        )
    return {"items": items}
