"""Flow 6's steps: save the feedback, the supervisor's follow-up task for a low rating, the agent's
metrics and the reporting tables, the customer's thank-you, and the outputs PowerApps reads."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk.exceptions import AirflowFailException

from support_flows.clients.graph import GraphUserNotFound
from support_flows.core import notifications
from support_flows.core.facts import agent_day_rows, feedback_fact, moment
from support_flows.core.runtime import FlowRuntime

LOW_RATING = 2
FOLLOW_UP_DUE = timedelta(days=2)


def save(rt: FlowRuntime, ticket_id: int, rating: int, comment: str | None) -> dict:
    """Save the feedback (one per ticket: the Support API returns the first for a repeat). What the
    next steps get (through XCom, in Airflow's metadata) says whether there was a comment, never
    the customer's words."""
    saved = rt.api.create_feedback(ticket_id, rating, comment)
    return {**{k: v for k, v in saved.items() if k != "comment"}, "has_comment": bool(saved.get("comment"))}


def create_follow_up(rt: FlowRuntime, feedback: dict) -> str | None:
    """A Planner task for the supervisor of the ticket's agent when the rating is 1 or 2 stars;
    the task's id, or None for a good rating."""
    if feedback["rating"] > LOW_RATING:
        return None
    ticket = rt.api.get_ticket(feedback["ticket_id"])
    agent = rt.api.get_agent(feedback["agent_id"]) if feedback.get("agent_id") else None
    supervisor = agent.get("supervisor_email") if agent else None
    assignees = [_directory_id(rt, supervisor, agent)] if supervisor else []
    title = f"Follow up {feedback['rating']}-star feedback on ticket #{ticket['id']}: {ticket['subject']}"[:255]

    def create() -> dict:
        task = rt.graph.create_planner_task(
            rt.settings.planner_plan_id,
            title,
            due=moment(feedback["created_at"]) + FOLLOW_UP_DUE,
            assignee_ids=assignees,
        )
        return {"task_id": task["id"]}

    result, _ = rt.store.once(f"feedback-{feedback['id']}:planner-task", "planner_task", rt.owner, create)
    # the link to the ticket is one of the task's details, which Graph sets apart (idempotent, so
    # outside the ledger: a retry after the task was created sets it again)
    rt.graph.update_planner_task_details(
        result["task_id"], references={rt.ticket_link(ticket["id"]): f"Ticket #{ticket['id']}"}
    )
    return result["task_id"]


def _directory_id(rt: FlowRuntime, supervisor: str, agent: dict) -> str:
    """Planner assigns by directory id: the supervisor's, looked up by address."""
    try:
        return rt.graph.user_id(supervisor)
    except GraphUserNotFound:
        raise AirflowFailException(
            f"The supervisor {supervisor} of agent #{agent['id']} is not in the Microsoft Entra directory"
            " (Graph GET /users answered 404), so the follow-up task cannot be assigned: correct the"
            " agent's supervisor in the backend, then clear this task"
        ) from None


def update_agent_metrics(rt: FlowRuntime, feedback: dict, followup_task_id: str | None) -> dict:
    """Count the rating in the backend's agent metrics and load the reporting tables."""
    agent_id = feedback.get("agent_id")
    metrics = rt.api.record_agent_feedback(agent_id, feedback["id"]) if agent_id else None
    rt.store.upsert("feedback_facts", [feedback_fact(feedback, followup_task_id)])
    day = moment(feedback["created_at"]).astimezone(_zone(rt.settings.timezone)).date()
    rt.store.upsert("agent_daily_performance", agent_day_rows(rt.api, day, rt.settings.timezone))
    if metrics is None:
        return {"agent_id": None}
    return {key: metrics[key] for key in ("id", "ratings_count", "rating_avg", "low_ratings")}


def thank_customer(rt: FlowRuntime, feedback: dict) -> str:
    """The customer's thank-you, once per feedback: ``sent`` or ``already_sent``."""
    ticket = rt.api.get_ticket(feedback["ticket_id"])
    email = notifications.feedback_thanks_email(ticket, feedback["rating"])
    return "sent" if rt.mailer.send(f"feedback-{feedback['id']}:thanks", email) else "already_sent"


def outputs(feedback: dict, followup_task_id: str | None, metrics: dict, notification: str) -> dict:
    """What the run returns to PowerApps."""
    return {
        "feedback_id": feedback["id"],
        "ticket_id": feedback["ticket_id"],
        "rating": feedback["rating"],
        "feedback_processing_status": "processed",
        "followup_task_id": followup_task_id,
        "agent_metrics": metrics,
        "customer_notification_status": notification,
    }


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)
