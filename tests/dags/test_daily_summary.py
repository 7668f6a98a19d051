"""Flow 5: the report e-mailed and archived, a daily_summary row, and a past date reproduced."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import requests

from support_flows.storage.reporting import ReportingStore


def test_daily_summary_is_emailed_archived_and_recorded(run_dag, mock):
    mock.seed()
    today = datetime.now(UTC).date()
    stats = mock.get("/api/stats/daily", date=today.isoformat(), tz="UTC")
    result = run_dag("support_daily_summary", {"report_date": today.isoformat()})
    assert result.state == "success", result
    outputs = result.outputs["record_summary"]
    assert outputs["email_status"] == "sent" and outputs["summary_row_written"]

    (mail,) = mock.mail()
    assert mail["to"] == ["support-admins@support.example.com"]
    assert mail["subject"].startswith(f"Daily support summary {today.isoformat()}")
    assert (
        'src="cid:daily-trend-chart"' in mail["body"] and "<svg" not in mail["body"] and "<script" not in mail["body"]
    )
    assert mail["attachments"] == ["daily-trend.png"]
    inline = mail["message"]["attachments"][0]
    assert inline["isInline"] and inline["contentId"] == "daily-trend-chart" and inline["contentType"] == "image/png"
    assert f">{stats['created']}<" in mail["body"] and "Ada Lovelace" in mail["body"]

    folder = f"Reports/{today:%Y}/{today:%m}"
    files = {f["path"]: f for f in mock.get("/_mock/files")["items"]}
    assert set(files) == {f"{folder}/daily-summary-{today}.html", f"{folder}/daily-summary-{today}.csv"}
    csv_text = requests.get(f"{mock.url}/_mock/files/{folder}/daily-summary-{today}.csv", timeout=10).text
    assert f"day,created,{stats['created']}" in csv_text and f"day,resolved,{stats['resolved']}" in csv_text
    archived = requests.get(f"{mock.url}/_mock/files/{folder}/daily-summary-{today}.html", timeout=10).text
    assert "data:image/png;base64," in archived

    (row,) = ReportingStore().fetch_all("daily_summary")
    assert row["report_date"] == today and row["created"] == stats["created"] and row["backlog"] == stats["backlog"]
    # every figure of the day the CSV shows is in the analysts' row too
    day_figures = dict(line.split(",")[1:] for line in csv_text.splitlines() if line.startswith("day,"))
    for name, shown in day_figures.items():
        stored = row[name]
        assert ("" if stored is None else str(stored)) == shown, name


def test_rerunning_a_past_date_reproduces_the_report_and_changes_nothing(run_dag, mock, reporting_backend):
    mock.seed()
    past = (datetime.now(UTC) - timedelta(days=3)).date()
    first = run_dag("support_daily_summary", {"report_date": past.isoformat()})
    report = first.outputs["format_report"]
    files = mock.get("/_mock/files")["items"]
    store = ReportingStore()
    rows = store.fetch_all("daily_summary")

    again = run_dag("support_daily_summary", {"report_date": past.isoformat()})
    assert again.outputs["format_report"] == report  # byte for byte
    assert again.outputs["record_summary"]["email_status"] == "already_sent"
    assert set(again.outputs["record_summary"]["archived"].values()) == {"unchanged"}
    assert not again.outputs["record_summary"]["summary_row_written"]
    assert mock.get("/_mock/files")["items"] == files and len(mock.mail()) == 1
    assert store.fetch_all("daily_summary") == rows


def test_scheduled_run_reports_its_own_day(run_dag, mock):
    mock.seed()
    when = datetime(2026, 11, 20, 18, 30, tzinfo=UTC)
    result = run_dag("support_daily_summary", {}, logical_date=when)
    assert result.outputs["record_summary"]["report_date"] == date(2026, 11, 20).isoformat()


def test_flow_health_of_the_day_is_in_the_report(run_dag, mock):
    mock.seed()
    run_dag(
        "support_ticket_created",
        {"customer_name": "A", "customer_email": "a@example.org", "subject": "Dark mode", "description": "please"},
    )
    ticket = mock.post(
        "/api/tickets", {"customer_name": "B", "customer_email": "b@example.org", "subject": "s", "description": "d"}
    )
    run_dag("support_ticket_assigned", {"ticket_id": ticket["id"], "agent_id": 99, "assigned_by": "admin"})  # fails
    runs = {(r["dag_id"], r["state"]) for r in ReportingStore().fetch_all("flow_runs")}
    assert {("support_ticket_created", "success"), ("support_ticket_assigned", "failed")} <= runs

    today = datetime.now(UTC).date().isoformat()
    result = run_dag("support_daily_summary", {"report_date": today})
    health = {f["dag_id"]: f for f in result.outputs["collect_statistics"]["flow_health"]}
    assert health["support_ticket_created"]["runs"] >= 1 and health["support_ticket_created"]["failed"] == 0
    assert health["support_ticket_created"]["p95_seconds"] is not None
    assert health["support_ticket_assigned"]["failed"] == 1
    report = next(m for m in mock.mail() if m["subject"].startswith("Daily support summary"))
    assert "Flow health" in report["body"] and "support_ticket_assigned" in report["body"]
    assert "flow_failed,support_ticket_assigned,1" in result.outputs["format_report"]["csv"]


def test_one_time_zone_drives_the_schedule_and_the_report_day_across_midnight(run_dag, mock, monkeypatch, dagbag):
    """18:30 in Los Angeles is 02:30 UTC the next day: the run at that moment reports the Los
    Angeles day, and the schedule is in Los Angeles time too."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_TIMEZONE", "America/Los_Angeles")
    dag = DagBag(dagbag.dags["support_daily_summary"].fileloc).get_dag("support_daily_summary")
    assert str(dag.timetable.timezone) in ("America/Los_Angeles", "Timezone('America/Los_Angeles')")
    mock.seed()
    when = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)  # 2026-11-25 18:30 in Los Angeles
    result = run_dag("support_daily_summary", {}, logical_date=when)
    assert result.outputs["record_summary"]["report_date"] == "2026-11-25"


def test_the_days_sla_figures_count_first_responses_warnings_breaches_and_reopens(run_dag, mock):
    mock.seed()
    escalation = run_dag("support_escalate_stale_tickets")
    assert escalation.state == "success"
    today = datetime.now(UTC).date()
    responded = [
        t
        for t in mock.get("/api/tickets", limit=1000)["items"]
        if t["first_response_at"] and t["first_response_at"].startswith(today.isoformat())
    ]

    def hours(t: dict) -> float:
        start, end = (datetime.fromisoformat(t[k].replace("Z", "+00:00")) for k in ("created_at", "first_response_at"))
        return (end - start).total_seconds() / 3600

    result = run_dag("support_daily_summary", {"report_date": today.isoformat()})
    assert result.state == "success", result
    (row,) = ReportingStore().fetch_all("daily_summary")
    # the demo's escalations (tests/dags/test_escalation.py): six warnings, three breaches
    assert (row["sla_warnings"], row["sla_breaches"]) == (6, 3)
    assert row["first_responses"] == len(responded)
    if responded:  # the seed's responses are hours ago: before midnight they may fall on yesterday
        assert row["avg_first_response_hours"] == round(sum(map(hours, responded)) / len(responded), 2)
    assert row["reopened"] == 0
    assert row["sla_paused"] == 2  # the demo's two AI answers wait on the customer
    (mail,) = mock.mail()[-1:]
    assert "SLA breaches escalated" in mail["body"]


def test_the_1830_report_says_it_covers_the_day_so_far_and_the_nightly_load_completes_the_whole_day(run_dag, mock):
    """The report at 18:30 counts the day up to then and says so; a ticket created at 20:30 still
    reaches the day's figures: the nightly analytics load closes the day, completes its
    daily_summary row (covers_until: the end of the day) and archives the whole day's report under
    the same paths, without a second e-mail."""
    from datetime import time

    import time_machine

    from support_flows.core import times

    day = times.now().date()
    evening, midnight = datetime.combine(day, time(18, 30), tzinfo=UTC), datetime.combine(day, time.min, tzinfo=UTC)
    midnight += timedelta(days=1)
    mock.seed()
    with time_machine.travel(evening, tick=True):
        assert run_dag("support_daily_summary").state == "success"
    (mail,) = mock.mail()
    assert "(00:00 to 18:30, so far)" in mail["subject"] and "00:00 to 18:30, so far" in mail["body"]
    (row,) = ReportingStore().fetch_all("daily_summary")
    so_far = row["created"]
    assert row["report_date"] == day and row["covers_until"].replace(tzinfo=UTC) < midnight

    with time_machine.travel(evening + timedelta(hours=2), tick=True):  # the evening's ticket
        mock.post(
            "/api/tickets",
            {"customer_name": "Late", "customer_email": "late@example.org", "subject": "s", "description": "d"},
        )
    with time_machine.travel(midnight + timedelta(hours=1, minutes=15), tick=True):
        closing = run_dag("support_analytics_load")
    assert closing.state == "success", closing.task_states
    assert closing.outputs["close_the_day"]["whole_day"] and closing.outputs["close_the_day"]["summary_row_written"]
    (row,) = ReportingStore().fetch_all("daily_summary")
    assert row["created"] == so_far + 1 and row["covers_until"].replace(tzinfo=UTC) == midnight
    folder = f"Reports/{day:%Y}/{day:%m}"
    archived = requests.get(f"{mock.url}/_mock/files/{folder}/daily-summary-{day}.html", timeout=10).text
    csv_text = requests.get(f"{mock.url}/_mock/files/{folder}/daily-summary-{day}.csv", timeout=10).text
    assert "the whole day" in archived and "period,covers,the whole day" in csv_text
    assert f"day,created,{so_far + 1}" in csv_text
    assert len(mock.mail()) == 1  # the admins had the day's report; the archive and the table are complete
