"""Flow 5's steps: the day's statistics, a readable HTML report (with an inline PNG chart of the
last 14 days) and a CSV, e-mailed to the admins, archived in SharePoint under
``Reports/YYYY/MM/``, and a ``daily_summary`` row.

A report depends only on the day and the backend's data, never on when it is made, so rerunning a
past date reproduces it byte for byte, uploads nothing new and changes no row.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from airflow.sdk import Param

from support_flows.core import times
from support_flows.core.contract import FlowContract, Schedule

if TYPE_CHECKING:  # for annotations only: importing the runtime loads the clients (parse time)
    from support_flows.core.runtime import FlowRuntime
    from support_flows.storage.reporting import ReportingStore


def daily_summary_params() -> dict[str, Param]:
    return {
        "report_date": Param(
            None,
            title="Report date (optional)",
            description="Rerun the report of a past day (YYYY-MM-DD); empty: the run's own day.",
            type=["null", "string"],
            format="date",
        ),
    }


DAILY_SUMMARY = FlowContract(
    dag_id="support_daily_summary",
    flow="5 Daily summary",
    kind="scheduled",
    starts="daily, end of the support day",
    returns="the report",
    flow_tags=("flow-5",),
    params=daily_summary_params,
    schedule=Schedule("SUPPORT_DAILY_SUMMARY_CRON", "30 18 * * *"),  # end of the support day
)

CHART_CID = "daily-trend-chart"


def collect(rt: FlowRuntime, day: date) -> dict:
    """The day's figures, and how much of the day they cover: up to now for the day still going
    (the 18:30 report), the whole day once it is over (a past day, the nightly closing)."""
    tz = rt.settings.timezone
    start, end = _day_bounds(day, tz)
    until = min(times.now(), end)
    return {
        "day": day.isoformat(),
        "covers": {"from": start.isoformat(), "until": until.isoformat(), "whole_day": until >= end},
        "stats": {**rt.api.daily_stats(day, tz), **sla_figures(rt, day, tz)},
        "history": rt.api.stats_history(day, 14, tz),
        "flow_health": flow_health(rt.store, day, tz),
    }


def sla_figures(rt: FlowRuntime, day: date, tz: str) -> dict:
    """The day's SLA figures: first responses and their average (working hours less the time
    waiting on the customer, as ``ticket_facts`` measures them), warnings and breaches Flow 4 recorded."""
    from support_flows.core.sla import REMINDER, SUPERVISOR, Clocks, first_response_hours
    from support_flows.storage.tables import escalations

    clocks = Clocks.from_settings(rt.settings)
    hours = [
        first_response_hours(ticket, clocks.calendar)
        for ticket in rt.api.iter_tickets(responded_on=day.isoformat(), tz=tz, page_size=1000)
    ]
    hours = [h for h in hours if h is not None]
    start, end = _day_bounds(day, tz)
    query = (
        sa.select(escalations.c.level, sa.func.count())
        .where(
            escalations.c.escalated_at >= _stored_time(rt.store, start),
            escalations.c.escalated_at < _stored_time(rt.store, end),
        )
        .group_by(escalations.c.level)
    )
    with rt.store.engine.connect() as conn:
        levels = dict(conn.execute(query).all())
    return {
        "first_responses": len(hours),
        "avg_first_response_hours": round(sum(hours) / len(hours), 2) if hours else None,
        "sla_warnings": levels.get(REMINDER, 0),
        "sla_breaches": levels.get(SUPERVISOR, 0),
    }


def _day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    from datetime import time, timedelta

    zone = ZoneInfo(tz)
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def flow_health(store, day: date, tz: str) -> list[dict]:
    """Per DAG, the runs that ended that day: how many, how many failed, how many task retries,
    and the 95th percentile of their duration (nearest rank)."""
    import math
    from datetime import UTC, time, timedelta

    zone = ZoneInfo(tz)
    start = datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)
    end = (datetime.combine(day, time.min, tzinfo=zone) + timedelta(days=1)).astimezone(UTC)

    def entry_of(dag_id: str) -> dict:
        return health.setdefault(dag_id, {"dag_id": dag_id, "runs": 0, "failed": 0, "retries": 0, "durations": []})

    health: dict[str, dict] = {}
    for run in runs_ended(store, start, end):
        entry = entry_of(run["dag_id"])
        entry["runs"] += 1
        entry["failed"] += run["state"] == "failed"
        if run["duration_seconds"] is not None:
            entry["durations"].append(run["duration_seconds"])
    for dag_id, retries in retries_by_dag(store, start, end).items():
        entry_of(dag_id)["retries"] = retries
    out = []
    for entry in sorted(health.values(), key=lambda e: e["dag_id"]):
        durations = sorted(entry.pop("durations"))
        entry["p95_seconds"] = round(durations[max(math.ceil(0.95 * len(durations)) - 1, 0)], 1) if durations else None
        out.append(entry)
    return out


def period_label(data: dict, tz: str) -> str:
    """Which part of the day a report covers, in words: ``the whole day`` or ``00:00 to 18:30``."""
    covers = data.get("covers")
    if not covers or covers["whole_day"]:
        return "the whole day"
    until = datetime.fromisoformat(covers["until"]).astimezone(ZoneInfo(tz))
    return f"00:00 to {until:%H:%M}, so far"


def close_day(rt: FlowRuntime, day: date) -> dict:
    """The whole of a day that is over, after its 18:30 report: the ``daily_summary`` row completed
    (what happened in the evening counted) and the whole day's report archived under the same
    paths. No e-mail: the admins had the day's report; the archive and the table are complete."""
    data = collect(rt, day)
    report = render(rt, data)
    archived = archive(rt, report)
    written = rt.store.upsert("daily_summary", [summary_row(rt, data, report)])
    return {"report_date": day.isoformat(), "whole_day": data["covers"]["whole_day"], "archived": archived,
            "summary_row_written": bool(written)}  # fmt: skip


def paths(rt: FlowRuntime, day: date) -> tuple[str, str]:
    folder = f"{rt.settings.report_folder.strip('/')}/{day:%Y}/{day:%m}"
    return f"{folder}/daily-summary-{day.isoformat()}.html", f"{folder}/daily-summary-{day.isoformat()}.csv"


def render(rt: FlowRuntime, data: dict) -> dict:
    """The report as e-mail HTML (chart by content id), archive HTML (chart embedded) and CSV."""
    from support_flows.core import notifications
    from support_flows.core.chart import trend_chart

    day = date.fromisoformat(data["day"])
    stats, history = data["stats"], data["history"]
    html_path, csv_path = paths(rt, day)
    png = trend_chart(
        [d["date"] for d in history],
        [d["created"] for d in history],
        [d["resolved"] for d in history],
        [d["backlog"] for d in history],
    )
    period = period_label(data, rt.settings.timezone)
    context = {
        "stats": stats,
        "history": history,
        "period": period,
        "day_label": f"{day:%A} {day.day} {day:%B %Y}",
        "headline": [
            ("Created", stats["created"], "#1f4e79"),
            ("Resolved", stats["resolved"], "#2e7d32"),
            ("Waiting for people", stats["backlog"], "#e67e22"),
            ("AI answered", stats["ai_responded"], "#6b21a8"),
        ],
        "by_priority": [(k, stats["by_priority"].get(k, 0)) for k in ("urgent", "high", "normal", "low")],
        "by_channel": sorted(stats["by_channel"].items()) or [("none", 0)],
        "heading": f"Daily support summary: {day.isoformat()}",
        "preheader": f"{stats['created']} created, {stats['resolved']} resolved, {stats['backlog']} open",
        "html_path": html_path,
    }
    context["flow_health"] = data.get("flow_health", [])
    context["by_topic"] = stats.get("by_topic", [])
    context["satisfaction"] = ratings_split(stats)
    context["satisfaction_label"] = satisfaction_label
    email_html = notifications.render("daily_summary.html", chart_src=f"cid:{CHART_CID}", **context)
    archive_html = notifications.render(
        "daily_summary.html", chart_src="data:image/png;base64," + base64.b64encode(png).decode(), **context
    )
    return {
        "day": data["day"],
        "subject": f"Daily support summary {day.isoformat()} ({period}): {stats['created']} created, "
        f"{stats['resolved']} resolved",
        "email_html": email_html,
        "archive_html": archive_html,
        "csv": to_csv(stats, history, data.get("flow_health", []), period),
        "png_b64": base64.b64encode(png).decode(),
        "html_path": html_path,
        "csv_path": csv_path,
    }


NO_RATINGS = {"count": 0, "avg_rating": None}


def ratings_split(stats: dict) -> dict:
    """The day's ratings by who answered the ticket (the AI or an agent), none when the API has no split."""
    split = stats.get("satisfaction") or {}
    return {who: split.get(who) or NO_RATINGS for who in ("ai_answered", "agent_answered")}


def satisfaction_label(ratings: dict) -> str:
    if not ratings["count"]:
        return "no rating"
    return f"{ratings['avg_rating']:.1f} of 5 ({ratings['count']} rating{'s' if ratings['count'] != 1 else ''})"


def breakdown_rows(stats: dict) -> Iterator[list]:
    """The CSV rows of the day's breakdowns: priority, channel, satisfaction, topic, agent."""
    for key, value in sorted(stats["by_priority"].items()):
        yield ["priority", key, value]
    for key, value in sorted(stats["by_channel"].items()):
        yield ["channel", key, value]
    for who, ratings in ratings_split(stats).items():
        yield [f"satisfaction_{who}", "ratings", ratings["count"]]
        yield [f"satisfaction_{who}", "avg_rating", "" if ratings["avg_rating"] is None else ratings["avg_rating"]]
    for topic in stats.get("by_topic", []):
        for key in (
            "created",
            "ai_responded",
            "resolved",
            "resolved_by_ai",
            "avg_resolution_hours",
            "feedback_count",
            "avg_rating",
        ):
            yield [f"topic_{key}", topic["topic"] or "", "" if topic[key] is None else topic[key]]
    for agent in stats.get("by_agent", []):
        yield ["agent_resolved", agent["name"], agent["resolved"]]
        yield ["agent_open", agent["name"], agent["open"]]


def to_csv(stats: dict, history: list[dict], health: list[dict], period: str = "the whole day") -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "name", "value"])
    writer.writerow(["period", "covers", period])
    for key in (
        "created",
        "resolved",
        "ai_responded",
        "resolved_by_ai",
        "ai_confirmed",
        "ai_closed_silent",
        "ai_rejected",
        "awaiting_customer",
        "assigned",
        "backlog",
        "unassigned_backlog",
        "avg_resolution_hours",
        "first_responses",
        "avg_first_response_hours",
        "sla_warnings",
        "sla_breaches",
        "reopened",
        "sla_paused",
        "feedback_count",
        "avg_rating",
    ):
        writer.writerow(["day", key, "" if stats.get(key) is None else stats[key]])
    writer.writerows(breakdown_rows(stats))
    for day in history:
        for key in ("created", "resolved", "backlog"):
            writer.writerow([f"history_{key}", day["date"], day[key]])
    for flow in health:
        for key in ("runs", "failed", "retries", "p95_seconds"):
            writer.writerow([f"flow_{key}", flow["dag_id"], "" if flow[key] is None else flow[key]])
    return out.getvalue()


def email_admins(rt: FlowRuntime, report: dict) -> str:
    """The report to the admins, chart inline; once per day however often the run is repeated."""
    from support_flows.core import notifications

    chart = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "daily-trend.png",
        "contentType": "image/png",
        "contentBytes": report["png_b64"],
        "contentId": CHART_CID,
        "isInline": True,
    }

    email = notifications.Email(tuple(rt.settings.admin_recipients), report["subject"], report["email_html"])
    sent = rt.mailer.send(f"daily-summary-{report['day']}", email, attachments=[chart])
    return "sent" if sent else "already_sent"


def archive(rt: FlowRuntime, report: dict) -> dict:
    """Upload the HTML and CSV; an unchanged file is not uploaded again."""
    statuses = {}
    for path, content, kind in (
        (report["html_path"], report["archive_html"], "text/html; charset=utf-8"),
        (report["csv_path"], report["csv"], "text/csv; charset=utf-8"),
    ):
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]

        def upload(path=path, content=content, kind=kind) -> dict:
            item = rt.graph.upload_file(rt.settings.sharepoint_site_id, path, content.encode(), kind)
            return {"web_url": item.get("webUrl")}

        _, uploaded = rt.store.once(f"sharepoint:{path}:{digest}", "sharepoint_file", rt.owner, upload)
        statuses[path] = "uploaded" if uploaded else "unchanged"
    return statuses


def summary_row(rt: FlowRuntime, data: dict, report: dict) -> dict:
    stats = data["stats"]
    return {
        "report_date": date.fromisoformat(data["day"]),
        "timezone": rt.settings.timezone,
        **{
            key: stats.get(key)
            for key in (
                "created",
                "resolved",
                "ai_responded",
                "resolved_by_ai",
                "ai_confirmed",
                "ai_closed_silent",
                "ai_rejected",
                "awaiting_customer",
                "assigned",
                "backlog",
                "unassigned_backlog",
                "avg_resolution_hours",
                "first_responses",
                "avg_first_response_hours",
                "sla_warnings",
                "sla_breaches",
                "reopened",
                "sla_paused",
                "feedback_count",
                "avg_rating",
            )
        },
        **{
            f"{who}_{figure}": ratings[key]
            for who, ratings in ratings_split(stats).items()
            for figure, key in (("ratings", "count"), ("avg_rating", "avg_rating"))
        },
        "report_html_path": report["html_path"],
        "report_csv_path": report["csv_path"],
        "covers_until": datetime.fromisoformat(data["covers"]["until"]) if data.get("covers") else None,
    }


# --- flow health from the run and error logs --------------------------------------------------------


def _stored_time(store: ReportingStore, moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if store.engine.dialect.name == "sqlite" else moment


def runs_ended(store: ReportingStore, start: datetime, end: datetime) -> list[dict]:
    """``dag_id``, ``state`` and ``duration_seconds`` of the runs that ended in [start, end)."""
    from support_flows.storage.tables import flow_runs

    query = sa.select(flow_runs.c.dag_id, flow_runs.c.state, flow_runs.c.duration_seconds).where(
        flow_runs.c.ended_at >= _stored_time(store, start), flow_runs.c.ended_at < _stored_time(store, end)
    )
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def retries_by_dag(store: ReportingStore, start: datetime, end: datetime) -> dict[str, int]:
    """Per DAG, the task failures in [start, end) that were retried (not final)."""
    from support_flows.storage.tables import flow_errors

    query = (
        sa.select(flow_errors.c.dag_id, sa.func.count())
        .where(
            flow_errors.c.is_final.is_(False),
            flow_errors.c.occurred_at >= _stored_time(store, start),
            flow_errors.c.occurred_at < _stored_time(store, end),
        )
        .group_by(flow_errors.c.dag_id)
    )
    with store.engine.connect() as conn:
        return {dag_id: count for dag_id, count in conn.execute(query)}
