"""``flow_runs.origin``: where a run came from, as the listener records it when the run ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from support_flows.server.listener import _record_run, run_origin


@pytest.mark.parametrize(
    "run_id, run_type, triggered_by, origin",
    [
        ("backend_event__42", "manual", "DagRunTriggeredByType.OPERATOR", "watcher"),
        ("flow_call__0f3a", "manual", "DagRunTriggeredByType.REST_API", "rest_api"),
        ("manual__2026-12-02T10:00:00+00:00", "manual", "DagRunTriggeredByType.REST_API", "rest_api"),
        ("manual__2026-12-02T10:00:00+00:00", "manual", "DagRunTriggeredByType.UI", "ui"),
        ("scheduled__2026-12-02T07:00:00+00:00", "scheduled", "DagRunTriggeredByType.TIMETABLE", "schedule"),
        ("scheduled__2026-12-02T07:00:00+00:00", "scheduled", "", "schedule"),
        ("asset_triggered__2026", "asset_triggered", "DagRunTriggeredByType.ASSET", "asset"),
        ("backfill__2026", "backfill", "DagRunTriggeredByType.BACKFILL", "backfill"),
    ],
)
def test_each_way_a_run_starts_has_its_origin(run_id, run_type, triggered_by, origin):
    assert run_origin(run_id, run_type, triggered_by) == origin


def test_the_listener_records_origin_and_user_of_a_finished_run(connections):
    from support_flows.storage.reporting import ReportingStore

    end = datetime(2026, 12, 2, 10, 0, 5, tzinfo=UTC)
    run = SimpleNamespace(
        dag_id="support_ticket_created",
        run_id="manual__2026-12-02T10:00:00+00:00",
        run_type="DagRunType.MANUAL",
        triggered_by="DagRunTriggeredByType.REST_API",
        triggering_user_name="powerapps",
        state="DagRunState.SUCCESS",
        start_date=end - timedelta(seconds=5),
        end_date=end,
    )
    _record_run(run)
    (row,) = [r for r in ReportingStore().fetch_all("flow_runs") if r["run_id"] == run.run_id]
    assert (row["origin"], row["triggering_user"], row["run_type"], row["state"]) == (
        "rest_api",
        "powerapps",
        "manual",
        "success",
    )
    assert row["duration_seconds"] == 5
