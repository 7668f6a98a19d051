"""The daily analytics load: the day's tickets, feedback and agent performance, idempotent, with
no raw customer name or address in the reporting tables."""

from __future__ import annotations

from datetime import UTC, datetime

from support_flows.reporting import ReportingStore


def test_loads_a_day_and_loading_it_again_changes_nothing(run_dag, mock, reporting_backend):
    mock.seed()
    today = datetime.now(UTC).date().isoformat()
    updated_today = [t for t in mock.get("/api/tickets", limit=1000)["items"] if t["updated_at"].startswith(today)]
    feedback_today = mock.get("/api/feedback", created_on=today, limit=1000)["items"]

    first = run_dag("support_analytics_load", {"load_date": today})
    assert first.state == "success", first
    assert first.outputs["load_tickets"] == {"day": today, "read": len(updated_today), "written": len(updated_today)}
    assert first.outputs["load_feedback"]["written"] == len(feedback_today) > 0
    store = ReportingStore()
    facts = store.fetch_all("ticket_facts")
    assert {f["ticket_id"] for f in facts} == {t["id"] for t in updated_today}
    emails = {t["customer_email"] for t in updated_today} | {t["customer_name"] for t in updated_today}
    for table in ("ticket_facts", "feedback_facts", "agent_daily_performance"):
        for row in store.fetch_all(table):
            assert not emails & {str(v) for v in row.values()}, (table, row)
    perf = store.fetch_all("agent_daily_performance")
    assert {row["agent_id"] for row in perf} == {3, 4, 5, 6, 7, 8}

    again = run_dag("support_analytics_load", {"load_date": today})
    assert again.outputs["load_tickets"]["written"] == 0
    assert again.outputs["load_feedback"]["written"] == 0 and again.outputs["load_agent_performance"]["written"] == 0
    assert store.fetch_all("ticket_facts") == facts


def test_catches_what_the_event_flows_missed(run_dag, mock):
    mock.seed()
    ticket = mock.post("/api/tickets", {"customer_name": "A", "customer_email": "a@example.org", "subject": "s", "description": "d"})
    mock.post(f"/api/tickets/{ticket['id']}/resolve", {"agent_id": 3, "resolution_summary": "Done."})  # no Flow 3 run
    run_dag("support_analytics_load", {"load_date": datetime.now(UTC).date().isoformat()})
    fact = next(f for f in ReportingStore().fetch_all("ticket_facts") if f["ticket_id"] == ticket["id"])
    assert fact["status"] == "resolved" and fact["agent_id"] == 3
