"""Flow 6's steps: save the feedback, the supervisor's follow-up task for a low rating, the agent's
metrics and the reporting tables, the customer's thank-you, and the outputs PowerApps reads."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException

from support_flows.core.contract import EventStart, FlowContract
from support_flows.core.outcomes import NOTIFICATION, TICKET_ID, field
from support_flows.core.params import ident, text
from support_flows.core.times import moment

if TYPE_CHECKING:  # for annotations only: importing the runtime loads the clients (parse time)
    from support_flows.core.runtime import FlowRuntime


def feedback_received_params() -> dict[str, Param]:
    return {
        "ticket_id": ident("Ticket id", "The ticket the feedback is about."),
        "rating": Param(
            title="Rating", description="1 (very poor) to 5 (excellent) stars.", type="integer", minimum=1, maximum=5
        ),
        "comment": text("Comment (optional)", "The customer's words.", 5000, min_length=0, default=None, personal=True),
    }


def _survey_conf(event: dict, api) -> dict:
    """No comment (the customer's words): the backend keeps one feedback per ticket, and saving it
    again returns the stored one, comment included."""
    feedback = api.get_feedback(event["data"]["feedback_id"])
    return {"ticket_id": feedback["ticket_id"], "rating": feedback["rating"]}


# An answer to the survey link (PowerApps' own feedback started a run already).
SURVEY_ANSWER = EventStart(conf=_survey_conf, when=lambda event: (event.get("data") or {}).get("source") == "survey")


FEEDBACK_RECEIVED = FlowContract(
    dag_id="support_feedback_received",
    flow="6 Feedback",
    kind="event",
    starts="REST, backend events",
    returns="`feedback_id`, `followup_task_id`",
    flow_tags=("flow-6",),
    params=feedback_received_params,
    outcome={
        "feedback_id": field("integer", "Feedback id"),
        "ticket_id": TICKET_ID,
        "rating": field("integer", "Rating", "1 to 5 stars"),
        "feedback_processing_status": field("string", "Processing", "processed"),
        "followup_task_id": field(
            "string", "Follow-up task id", "The supervisor's Planner task for a 1-2 star rating", nullable=True
        ),
        "agent_metrics": {
            "type": "object",
            "x-ms-summary": "Agent metrics",
            "description": "The agent's ratings after this one (agent_id null: the ticket had no agent)",
            "properties": {
                "id": field("integer", "Agent id"),
                "agent_id": field("integer", "Agent id (none)", nullable=True),
                "ratings_count": field("integer", "Ratings"),
                "rating_avg": field("number", "Average rating", nullable=True),
                "low_ratings": field("integer", "Low ratings"),
            },
        },
        "customer_notification_status": NOTIFICATION,
    },
    powerapps_action=("SubmitFeedback", "Submit a customer's feedback (Flow 6)"),
    powerapps=True,
    events={"feedback.submitted": SURVEY_ANSWER},
)

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
    from support_flows.clients.graph import GraphUserNotFound

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
    from support_flows.core.facts import agent_day_rows, feedback_fact

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
    from support_flows.core import notifications

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
