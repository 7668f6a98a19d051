"""The backend-event path: channel tickets and survey answers start exactly one flow run each,
also when the watcher starts again from an old cursor."""

from __future__ import annotations

import pytest

from support_flows.operations.events import WATERMARK
from support_flows.storage.reporting import ReportingStore

CHANNEL_TICKET = {
    "customer_name": "Wei Zhang",
    "customer_email": "wei.zhang@example.net",
    "subject": "Invoice for October is missing",
    "description": "I need the October invoice.",
    "channel": "email",
}


pytestmark = pytest.mark.usefixtures("quick_watcher")


def flow_runs(dag_id: str) -> dict[str, dict]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.run_id.like("backend_event__%")).all()
        return {run.run_id: dict(run.conf or {}) for run in runs}


def clear_flow_runs() -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagRun).filter(DagRun.run_id.like("backend_event__%")).delete(synchronize_session=False)


def test_channel_tickets_and_survey_answers_start_one_flow_run_each(run_dag, mock):
    clear_flow_runs()
    mock.seed()
    from_powerapps = mock.post("/api/tickets", {**CHANNEL_TICKET, "channel": "powerapps"})
    by_email = mock.post("/api/inbound/tickets", CHANNEL_TICKET)
    by_chat = mock.post("/api/inbound/tickets", {**CHANNEL_TICKET, "channel": "chat", "request_id": "chat-77"})
    mock.post(f"/api/tickets/{from_powerapps['id']}/resolve", {"agent_id": 3, "resolution_summary": "Sent."})
    survey = mock.post("/api/surveys", {"ticket_id": from_powerapps["id"]})
    mock.post(f"/api/surveys/{survey['token']}/responses", {"rating": 2, "comment": "Took a while."})

    result = run_dag("support_backend_events")
    assert result.state == "success", result

    created = flow_runs("support_ticket_created")
    # ids only: the runs read the tickets from the API, so no customer data is in their conf
    assert sorted(conf["ticket_id"] for conf in created.values()) == sorted([by_email["id"], by_chat["id"]])
    assert all(list(conf) == ["ticket_id"] for conf in created.values())
    (feedback_conf,) = flow_runs("support_feedback_received").values()
    assert feedback_conf == {"ticket_id": from_powerapps["id"], "rating": 2}
    events = mock.get("/api/events", limit=1000)["items"]
    assert ReportingStore().get_watermark(WATERMARK) == events[-1]["id"]


def test_a_restart_from_an_old_cursor_starts_nothing_twice(run_dag, mock):
    clear_flow_runs()
    mock.post("/api/inbound/tickets", CHANNEL_TICKET)
    run_dag("support_backend_events")
    assert len(flow_runs("support_ticket_created")) == 1

    # The watcher dies after starting the runs but before saving its cursor:
    store = ReportingStore()
    with store.engine.begin() as conn:
        from support_flows.storage.tables import watermarks

        conn.execute(watermarks.delete())
    again = run_dag("support_backend_events")
    assert again.state == "success"
    assert len(flow_runs("support_ticket_created")) == 1
    assert set(again.task_states.values()) <= {"success", "skipped"}


def test_nothing_new_ends_the_run_quietly(run_dag, mock):
    clear_flow_runs()
    result = run_dag("support_backend_events")
    assert result.state == "success" and result.outputs["plan_flow_runs"] == []
    assert flow_runs("support_ticket_created") == {}


def test_a_channel_ticket_flow_answers_the_existing_ticket(run_dag, mock):
    channel = mock.post("/api/inbound/tickets", CHANNEL_TICKET)
    outputs = run_dag("support_ticket_created", {"ticket_id": channel["id"]}).outputs["answer_or_queue"]
    assert outputs == {"ticket_id": channel["id"], "status": "ai_responded", "customer_notified": True}
    assert len(mock.get("/api/tickets")["items"]) == 1
    assert mock.mail()[0]["to"] == ["wei.zhang@example.net"]


def test_the_survey_page_and_a_customer_reply_start_their_flows(run_dag, mock):
    import requests

    clear_flow_runs()
    mock.seed()
    ticket = mock.post("/api/tickets", {**CHANNEL_TICKET, "channel": "powerapps"})
    mock.post(f"/api/tickets/{ticket['id']}/resolve", {"agent_id": 3, "resolution_summary": "Sent."})
    survey = mock.post("/api/surveys", {"ticket_id": ticket["id"]})
    form = requests.get(survey["url"], timeout=10)  # the link in the customer's e-mail
    assert form.status_code == 200 and 'name="rating"' in form.text
    answer = requests.post(survey["url"], data={"rating": "4", "comment": "Quick, thanks."}, timeout=10)
    assert answer.status_code == 200 and "Thank you" in answer.text
    other = mock.post("/api/tickets", {**CHANNEL_TICKET, "channel": "powerapps", "subject": "Another one"})
    reply = mock.post(f"/api/tickets/{other['id']}/replies", {"body": "Any news?"})

    assert run_dag("support_backend_events").state == "success"
    (feedback_conf,) = flow_runs("support_feedback_received").values()
    assert feedback_conf == {"ticket_id": ticket["id"], "rating": 4}
    (reply_conf,) = flow_runs("support_customer_replied").values()
    assert reply_conf == {"ticket_id": other["id"], "note_id": reply["id"]}  # ids only, never the words


def test_a_feed_down_for_the_whole_wait_fails_the_watch_into_the_error_log(run_dag, mock):
    clear_flow_runs()
    mock.faults({"path": "^/api/events", "method": "GET", "status": 503, "times": 10_000})
    result = run_dag("support_backend_events")
    assert result.state == "failed" and result.task_states["wait_for_events"] == "failed", result
    (error,) = [e for e in ReportingStore().fetch_all("flow_errors") if e["dag_id"] == "support_backend_events"]
    assert "event feed answered nothing for" in error["message"] and "/api/events" in error["message"]
    assert "503" in error["message"]
    assert flow_runs("support_ticket_created") == {}


def test_a_short_outage_of_the_feed_is_waited_out(run_dag, mock):
    clear_flow_runs()
    by_email = mock.post("/api/inbound/tickets", CHANNEL_TICKET)
    mock.faults({"path": "^/api/events", "method": "GET", "status": 503, "times": 3})
    result = run_dag("support_backend_events")
    assert result.state == "success", result
    assert [conf["ticket_id"] for conf in flow_runs("support_ticket_created").values()] == [by_email["id"]]


def squat(dag_id: str, run_id: str) -> None:
    """A run under the id the watcher will want, as a caller choosing its own run id made it."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    from support_flows.core import times

    with create_session() as session:
        session.add(
            DagRun(
                dag_id=dag_id,
                run_id=run_id,
                run_type=DagRunType.MANUAL,
                state=DagRunState.SUCCESS,
                conf={},
                run_after=times.now(),
                triggered_by=DagRunTriggeredByType.REST_API,
            )
        )


def test_run_ids_taken_by_someone_else_are_reported_and_every_ticket_still_gets_its_run(run_dag, mock):
    clear_flow_runs()
    head = mock.get("/api/events", limit=1000)["last_id"]
    for event_id in range(head + 1, head + 4):  # the ids the next three channel tickets' events get
        squat("support_ticket_created", f"backend_event__{event_id}")
    tickets = [mock.post("/api/inbound/tickets", {**CHANNEL_TICKET, "request_id": f"squat-{n}"}) for n in range(3)]

    result = run_dag("support_backend_events")
    assert result.state == "success", result

    started = {
        run_id: conf for run_id, conf in flow_runs("support_ticket_created").items() if conf
    }  # the squatters' runs have no conf
    assert sorted(conf["ticket_id"] for conf in started.values()) == [t["id"] for t in tickets]
    assert all(run_id.startswith(f"backend_event__{head + 1 + n}__") for n, run_id in enumerate(sorted(started)))
    reported = [e for e in ReportingStore().fetch_all("flow_errors") if e["error_type"] == "RunIdTaken"]
    (report,) = reported
    assert all(f"backend_event__{head + n} of support_ticket_created" in report["message"] for n in (1, 2, 3))
    assert any("RunIdTaken" in str(mail) for mail in mock.mail()), "the administrators were not told"

    # each squatted event's run is a real Flow 1 run: the channel ticket is acknowledged and queued
    for run_id in sorted(started):
        outcome = run_dag("support_ticket_created", started[run_id]).outputs["answer_or_queue"]
        assert outcome["ticket_id"] in {t["id"] for t in tickets}

    # read again from the old cursor: the claimed ids are reused, nothing is reported or started twice
    with ReportingStore().engine.begin() as conn:
        from support_flows.storage.tables import watermarks

        conn.execute(watermarks.delete())
    assert run_dag("support_backend_events").state == "success"
    assert len([c for c in flow_runs("support_ticket_created").values() if c]) == 3
    assert len([e for e in ReportingStore().fetch_all("flow_errors") if e["error_type"] == "RunIdTaken"]) == 1
