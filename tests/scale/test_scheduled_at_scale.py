"""Every scheduled DAG at 100,000 tickets: still correct, and bounded in what it asks of the
backend (server-side filters and pages, no per-ticket GET, batched writes)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

pytestmark = pytest.mark.slow

PER_TICKET_GET = re.compile(r"^/api/tickets/\d+$")


def requests_since(mock, start: int) -> list[dict]:
    return mock.get("/_mock/requests")["items"][start:]


def test_every_scheduled_dag_at_100k_tickets(mock, run_dag, connections):
    assert mock.seed(tickets=100_000)["tickets"] == 100_000
    tickets_in_feed = 0
    for dag_id, conf in (
        ("support_escalate_stale_tickets", {}),
        ("support_daily_summary", {"report_date": datetime.now(UTC).date().isoformat()}),
        ("support_auto_assign", {}),
        ("support_analytics_load", {"load_date": datetime.now(UTC).date().isoformat()}),
    ):
        start = len(mock.get("/_mock/requests")["items"])
        result = run_dag(dag_id, conf)
        assert result.state == "success", (dag_id, result)
        made = requests_since(mock, start)
        assert not [r for r in made if r["method"] == "GET" and PER_TICKET_GET.match(r["path"].split("?")[0])], dag_id
        pages = [r for r in made if r["path"].startswith("/api/tickets?")]
        if dag_id == "support_escalate_stale_tickets":
            escalated = result.outputs["record_escalations"]["escalated"]
            assert len(escalated["reminder"]) + len(escalated["supervisor"]) > 1000
            assert len(pages) <= len(escalated["reminder"]) // 1000 + 20  # 1,000 tickets a page
            note_calls = [r for r in made if r["path"] == "/api/notes/batch"]
            # a note per breached clock, 500 to a call, each supervisor's (and the admins', for the
            # tickets nobody has) before their e-mail
            from support_flows.storage.reporting import ReportingStore

            breaches = [r for r in ReportingStore().fetch_all("escalations") if r["level"] == "supervisor"]
            groups = {r["supervisor_id"] for r in breaches}
            assert len(groups) == 3  # the seed's two supervisors and the admins
            assert len(breaches) >= len(escalated["supervisor"])
            assert len(note_calls) <= -(-len(breaches) // 500) + len(groups) - 1
            assert not [r for r in made if re.match(r"^/api/tickets/\d+/notes", r["path"])]
            # a digest lists the 100 longest idle tickets and counts the rest
            digests = [m for m in mock.mail() if m["subject"].startswith(("Reminder", "Escalation"))]
            assert digests and all(m["body"].count('href="') <= 100 + 5 for m in digests)
            assert any("more, the longest idle listed first" in m["body"] for m in digests)
        if dag_id == "support_analytics_load":
            tickets_in_feed = result.outputs["load_tickets"]["read"]
    assert tickets_in_feed > 0
