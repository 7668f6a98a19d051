"""The daily analytics load: the day's tickets, feedback and agent performance, idempotent, with
no raw customer name or address in the reporting tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from support_flows.storage.reporting import ReportingStore


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
    ticket = mock.post(
        "/api/tickets", {"customer_name": "A", "customer_email": "a@example.org", "subject": "s", "description": "d"}
    )
    mock.post(f"/api/tickets/{ticket['id']}/resolve", {"agent_id": 3, "resolution_summary": "Done."})  # no Flow 3 run
    run_dag("support_analytics_load", {"load_date": datetime.now(UTC).date().isoformat()})
    fact = next(f for f in ReportingStore().fetch_all("ticket_facts") if f["ticket_id"] == ticket["id"])
    assert fact["status"] == "resolved" and fact["agent_id"] == 3


def _all(mock, path: str) -> list[dict]:
    items, cursor = [], None
    while True:
        page = mock.get(path, limit=1000, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_the_first_load_takes_the_history_and_missed_nights_heal_themselves(run_dag, mock, reporting_backend):
    """On an empty reporting database the first scheduled load takes everything the backend holds;
    with the schedule stopped for two days, the next run catches up: every ticket, every feedback,
    every agent day; and a run with nothing new writes nothing."""
    from datetime import timedelta

    mock.seed()
    # the runs' moments at noon (UTC is the support day here), so "an hour later" is the same day
    # whenever the suite runs: at 23:30 it would be tomorrow, with a new day to load
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    store = ReportingStore()

    first = run_dag("support_analytics_load", logical_date=now - timedelta(days=2))
    assert first.state == "success", first
    assert {f["ticket_id"] for f in store.fetch_all("ticket_facts")} == {t["id"] for t in _all(mock, "/api/tickets")}
    assert first.outputs["load_tickets"]["updated_after"] is None  # no watermark yet: everything
    loaded_days = first.outputs["load_agent_performance"]["days"]
    assert loaded_days and loaded_days[1] == (now - timedelta(days=3)).date().isoformat()

    # two nights without a run, while tickets arrive, get resolved and rated
    fresh = [
        mock.post(
            "/api/tickets",
            {"customer_name": f"New {n}", "customer_email": f"new{n}@example.org", "subject": "s", "description": "d"},
        )
        for n in range(3)
    ]
    mock.post(f"/api/tickets/{fresh[0]['id']}/resolve", {"agent_id": 3, "resolution_summary": "Done."})
    mock.post("/api/feedback", {"ticket_id": fresh[0]["id"], "rating": 5})

    resumed = run_dag("support_analytics_load", logical_date=now + timedelta(days=1))
    assert resumed.state == "success", resumed
    assert resumed.outputs["load_tickets"]["updated_after"] is not None
    assert {f["ticket_id"] for f in store.fetch_all("ticket_facts")} == {t["id"] for t in _all(mock, "/api/tickets")}
    assert {f["feedback_id"] for f in store.fetch_all("feedback_facts")} == {
        f["id"] for f in _all(mock, "/api/feedback")
    }
    fact = next(f for f in store.fetch_all("ticket_facts") if f["ticket_id"] == fresh[0]["id"])
    assert fact["status"] == "resolved"
    days = {row["day"] for row in store.fetch_all("agent_daily_performance")}
    for back in range(0, 3):  # the two missed days and the one before them
        assert (now - timedelta(days=back)).date() in {
            d if not isinstance(d, str) else datetime.fromisoformat(d).date() for d in days
        }

    again = run_dag("support_analytics_load", logical_date=now + timedelta(days=1, hours=1))
    assert again.outputs["load_tickets"]["written"] == 0
    assert again.outputs["load_feedback"]["written"] == 0 and again.outputs["load_agent_performance"]["written"] == 0


@pytest.mark.parametrize("reporting_backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_analysts_can_label_reports_and_the_dictionarys_example_queries_run(run_dag, mock, reporting_backend):
    """On PostgreSQL, the analysts' database: the agents and calendar tables, the views, and every
    example query of docs/data-dictionary.md, as an analyst's SQL client would send it."""
    import re
    from pathlib import Path

    import sqlalchemy as sa

    mock.seed()
    resolved = next(t for t in mock.get("/api/tickets", status="resolved", limit=1)["items"])
    mock.patch(f"/api/tickets/{resolved['id']}", {"status": "queued"})  # a reopen, for the third example
    result = run_dag("support_analytics_load")  # the history through yesterday
    assert result.state == "success", result
    today = run_dag("support_analytics_load", {"load_date": datetime.now(UTC).date().isoformat()})
    assert today.state == "success", today  # and today, the reopen's day
    labels = result.outputs["load_agents_and_calendar"]
    assert labels["agents"]["written"] == len(mock.get("/api/agents")["items"])
    store = ReportingStore()
    agents = {a["agent_id"]: a for a in store.fetch_all("agents")}
    assert agents[3]["team"] == agents[agents[3]["supervisor_id"]]["display_name"]
    assert not any("@" in str(value) for row in agents.values() for value in row.values())  # no addresses
    days = store.fetch_all("calendar")
    assert days[-1]["day"].month == 12 and days[-1]["day"].year == datetime.now(UTC).year + 1
    assert all(d["business_day"] for d in days)  # no business calendar set: every day counts

    text = (Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md").read_text()
    examples = re.findall(r"### Example queries.*?(?=\n## )", text, flags=re.S)[0]
    queries = re.findall(r"```sql\n(.*?)```", examples, flags=re.S)
    assert len(queries) >= 3
    with store.engine.connect() as conn:
        conn.exec_driver_sql("SET search_path TO analytics")  # as the dictionary tells analysts to
        for query in queries:
            rows = conn.execute(sa.text(query)).all()
            assert rows, f"docs/data-dictionary.md example returned nothing on the demo data:\n{query}"
