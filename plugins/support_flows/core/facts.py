"""Rows of the reporting tables, built from what the Support API returns. The event flows and the
daily analytics load build them the same way, so a row never depends on which one loaded it."""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING

from support_flows.core.sla import Clocks
from support_flows.core.times import moment

if TYPE_CHECKING:  # for annotations only: importing the hook loads the http provider (parse time)
    from support_flows.clients.support_api import SupportApiHook


def customer_key(email: str, salt: str) -> str:
    """A stable pseudonym for a customer: the same address always gives the same key, and the key
    cannot be turned back into the address without the secret ``salt``. The reporting tables hold
    this key, never a customer's name or address."""
    if not salt:
        raise ValueError(
            "customer_key_salt is not set: set the Airflow Variable support_customer_key_salt "
            "(a secret; in production it lives in Azure Key Vault)"
        )
    return hmac.new(salt.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()[:32]


def ai_answer_outcome(ticket: dict) -> str | None:
    """What became of the AI's answer (deflection): ``confirmed`` (the customer pressed "this solved
    my problem"), ``rejected`` ("I still need help", or a reply), ``closed_silent`` (resolved as
    answered by AI without a word), ``waiting`` (still on the customer); None without an AI answer."""
    if not ticket.get("ai_response"):
        return None
    if ticket.get("ai_answer_feedback") == "solved":
        return "confirmed"
    if ticket.get("ai_answer_feedback") == "help" or ticket.get("customer_replied_at"):
        return "rejected"
    if ticket["status"] == "ai_responded":
        return "waiting"
    if ticket.get("resolved_by") == "ai":
        return "closed_silent"
    return None


def ticket_fact(ticket: dict, salt: str, clocks: Clocks) -> dict:
    """A ``ticket_facts`` row; ``clocks`` measures the SLA columns (working hours, pauses, breaches)."""
    created, resolved = moment(ticket["created_at"]), moment(ticket.get("resolved_at"))
    return {
        "ticket_id": ticket["id"],
        "customer_key": customer_key(ticket["customer_email"], salt),
        "priority": ticket["priority"],
        "channel": ticket["channel"],
        "status": ticket["status"],
        "agent_id": ticket.get("agent_id"),
        "ai_responded": bool(ticket.get("ai_response")),
        "ai_answer_outcome": ai_answer_outcome(ticket),
        "created_at": created,
        "assigned_at": moment(ticket.get("assigned_at")),
        "resolved_at": resolved,
        "resolution_hours": round((resolved - created).total_seconds() / 3600, 3) if resolved else None,
        **clocks.facts(ticket),
        "topic": ticket.get("topic"),
        "language": ticket.get("language"),
        "source_updated_at": moment(ticket["updated_at"]),
    }


def feedback_fact(feedback: dict, followup_task_id: str | None = None) -> dict:
    row = {
        "feedback_id": feedback["id"],
        "ticket_id": feedback["ticket_id"],
        "agent_id": feedback.get("agent_id"),
        "rating": feedback["rating"],
        "low_rating": feedback["rating"] <= 2,
        "has_comment": bool(feedback.get("has_comment") or feedback.get("comment")),
        "source": feedback["source"],
        "submitted_at": moment(feedback["created_at"]),
    }
    if followup_task_id is not None:
        row["followup_task_id"] = followup_task_id
    return row


def agent_day_rows(api: SupportApiHook, day: date, tz: str) -> list[dict]:
    """``agent_daily_performance`` rows of every agent for one day (in time zone ``tz``)."""
    stats = api.daily_stats(day, tz)
    ratings: dict[int, list[int]] = defaultdict(list)
    for feedback in api.iter_feedback(created_on=day, tz=tz):
        if feedback.get("agent_id") is not None:
            ratings[feedback["agent_id"]].append(feedback["rating"])
    rows = []
    for agent in stats.get("by_agent", []):
        scores = ratings.get(agent["agent_id"], [])
        rows.append(
            {
                "agent_id": agent["agent_id"],
                "day": day,
                "tickets_resolved": agent["resolved"],
                "open_tickets": agent["open"],
                "feedback_count": len(scores),
                "rating_avg": round(sum(scores) / len(scores), 3) if scores else None,
                "low_ratings": sum(1 for s in scores if s <= 2),
                "reopened": agent.get("reopened", 0),
            }
        )
    return rows
