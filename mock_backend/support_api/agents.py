"""Agents: list, read, and the feedback counted in their metrics."""

from __future__ import annotations

from flask import request

from mock_backend import ApiError, db, json_body
from mock_backend.store import Tx
from mock_backend.support_api import bp
from mock_backend.support_api.common import agent_dict, arg_bool, fetch_agent_row


@bp.get("/agents")
def list_agents():
    """All agents with their live workload, by role and availability."""
    where, params = [], []
    role = request.args.get("role")
    if role is not None:
        if role not in ("agent", "supervisor", "admin"):
            raise ApiError(400, "role: one of agent, supervisor, admin", "role")
        where.append("role = ?")
        params.append(role)
    available = arg_bool("available")
    if available is not None:
        where.append("available = ?")
        params.append(int(available))
    sql = "SELECT * FROM agents" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
    conn = db()
    return {"items": [agent_dict(conn, row) for row in conn.execute(sql, params).fetchall()]}


@bp.get("/agents/<int:agent_id>")
def get_agent(agent_id: int):
    """One agent with their workload, ratings and supervisor."""
    conn = db()
    return agent_dict(conn, fetch_agent_row(conn, agent_id))


@bp.patch("/agents/<int:agent_id>")
def update_agent(agent_id: int):
    """Change what routing reads of an agent: skills, languages, group, availability, capacity."""
    import json

    body = json_body("updateAgent")
    columns = {"skills": "skills", "languages": "languages", "group": "group_name", "available": "available",
               "capacity": "capacity"}  # fmt: skip
    with Tx(db()) as conn:
        fetch_agent_row(conn, agent_id)
        sets, values = [], []
        for field, value in body.items():
            sets.append(f"{columns[field]} = ?")
            values.append(json.dumps(sorted(set(value))) if field in ("skills", "languages") else value)
        conn.execute(f"UPDATE agents SET {', '.join(sets)} WHERE id = ?", [*values, agent_id])
        return agent_dict(conn, fetch_agent_row(conn, agent_id))


@bp.post("/agents/<int:agent_id>/metrics")
def record_agent_feedback(agent_id: int):
    body = json_body("recordAgentFeedback")
    with Tx(db()) as conn:
        agent = fetch_agent_row(conn, agent_id)
        feedback = conn.execute("SELECT * FROM feedback WHERE id = ?", (body["feedback_id"],)).fetchone()
        if feedback is None:
            raise ApiError(404, f"feedback_id: feedback {body['feedback_id']} does not exist", "feedback_id")
        if feedback["agent_id"] not in (None, agent_id):
            raise ApiError(
                409, f"feedback_id: feedback {feedback['id']} is about agent {feedback['agent_id']}", "feedback_id"
            )
        conn.execute(
            "INSERT OR IGNORE INTO agent_feedback (feedback_id, agent_id, rating) VALUES (?,?,?)",
            (feedback["id"], agent_id, feedback["rating"]),
        )
        return agent_dict(conn, agent)
