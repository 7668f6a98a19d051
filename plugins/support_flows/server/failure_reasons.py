"""Why a run failed, in words the calling app can show, when the caller's input was the cause.

A run that the Support API refuses for its input (an id it names that does not exist: 404; a
ticket not in a state for this action: 409) fails at once, without retries. The
listener then keeps a reason, a short code and the API's message (ticket and agent ids, never
customer data), as the failed task's XCom ``failure_reason``; as the run ends failed, the
scheduler's side of the listener writes it into the run's note, which GetRunStatus returns:
``unknown_ticket: ticket_id: ticket 4711 does not exist``. Such failures are logged in
``flow_errors`` but do not page the system administrators: nothing is broken. Any other refusal
(a 400 or 422 for a request the Params had already checked, a 401/403, a 404 that names no field,
as from a wrong base URL) means our side is wrong, and pages as before.
"""

from __future__ import annotations

XCOM_KEY = "failure_reason"
NOTE_LIMIT = 1000  # Airflow's run note column


def input_reason(error: object) -> dict | None:
    """``{"code", "message"}`` for an error caused by the caller's input, else None."""
    from support_flows.clients.support_api import SupportApiRequestError

    if not isinstance(error, SupportApiRequestError) or error.status not in (404, 409) or not error.field:
        return None
    if error.status == 409:
        code = "wrong_state"
    else:
        code = (
            "unknown_ticket" if "ticket" in error.field else "unknown_agent" if "agent" in error.field else "not_found"
        )
    return {"code": code, "message": str(error.api_message)[:300]}


def note(reason: dict) -> str:
    return f"{reason['code']}: {reason['message']}"[:NOTE_LIMIT]
