"""The reporting tables (docs/data-dictionary.md): analyst tables in one schema, the package's own
bookkeeping in another, the roles that may read and write them, and the pseudonymous customer key.

No raw customer name or e-mail address is stored: ``core.facts.customer_key()`` turns the address into a
stable pseudonym (a keyed hash) instead.
"""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 14
# On PostgreSQL the tables analysts read live in one schema and the package's own bookkeeping in
# another, so the analyst role can be given the first alone. SQLite has no schemas: there both
# map to the one database (``prepare_engine``).
ANALYTICS = "analytics"
INTERNAL = "support_internal"
ANALYST_ROLE = "analyst"  # read-only on ANALYTICS
WRITER_ROLE = "support_writer"  # what the flows need: read and write both schemas, no DDL
metadata = sa.MetaData()

ticket_facts = sa.Table(
    "ticket_facts",
    metadata,
    sa.Column("ticket_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_key", sa.String(64), nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("agent_id", sa.Integer),
    sa.Column("ai_responded", sa.Boolean, nullable=False),
    sa.Column("ai_answer_outcome", sa.String(16)),  # deflection: core/facts.py ai_answer_outcome
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("assigned_at", sa.DateTime(timezone=True)),
    sa.Column("resolved_at", sa.DateTime(timezone=True)),
    sa.Column("resolution_hours", sa.Float),
    # version 9: the SLA clocks (core/sla.py), in working hours less the time waiting on the customer
    sa.Column("first_response_at", sa.DateTime(timezone=True)),
    sa.Column("first_response_hours", sa.Float),
    sa.Column("paused_hours", sa.Float),
    sa.Column("first_response_breached", sa.Boolean),
    sa.Column("resolution_breached", sa.Boolean),
    sa.Column("reopen_count", sa.Integer),
    # version 14: the contact reason (the request's or the AI's topic) and the customer's language
    sa.Column("topic", sa.String(50), index=True),
    sa.Column("language", sa.String(8)),
    sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

feedback_facts = sa.Table(
    "feedback_facts",
    metadata,
    sa.Column("feedback_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("ticket_id", sa.Integer, nullable=False, index=True),
    sa.Column("agent_id", sa.Integer),
    sa.Column("rating", sa.SmallInteger, nullable=False),
    sa.Column("low_rating", sa.Boolean, nullable=False),
    sa.Column("has_comment", sa.Boolean, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("followup_task_id", sa.String(64)),
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

agent_daily_performance = sa.Table(
    "agent_daily_performance",
    metadata,
    sa.Column("agent_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("tickets_resolved", sa.Integer, nullable=False, default=0),
    sa.Column("open_tickets", sa.Integer, nullable=False, default=0),
    sa.Column("feedback_count", sa.Integer, nullable=False, default=0),
    sa.Column("rating_avg", sa.Float),
    sa.Column("low_ratings", sa.Integer, nullable=False, default=0),
    sa.Column("reopened", sa.Integer),  # version 9: the agent's tickets reopened that day
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

daily_summary = sa.Table(
    "daily_summary",
    metadata,
    sa.Column("report_date", sa.Date, primary_key=True),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("created", sa.Integer, nullable=False),
    sa.Column("resolved", sa.Integer, nullable=False),
    sa.Column("ai_responded", sa.Integer, nullable=False),
    sa.Column("resolved_by_ai", sa.Integer),  # version 6: every figure the e-mail and the CSV show
    sa.Column("ai_confirmed", sa.Integer),  # version 8: deflection
    sa.Column("ai_closed_silent", sa.Integer),
    sa.Column("ai_rejected", sa.Integer),
    sa.Column("awaiting_customer", sa.Integer),
    sa.Column("assigned", sa.Integer),
    sa.Column("backlog", sa.Integer, nullable=False),
    sa.Column("unassigned_backlog", sa.Integer),
    sa.Column("avg_resolution_hours", sa.Float),
    sa.Column("first_responses", sa.Integer),  # version 9: the SLA figures
    sa.Column("avg_first_response_hours", sa.Float),
    sa.Column("sla_warnings", sa.Integer),
    sa.Column("sla_breaches", sa.Integer),
    sa.Column("reopened", sa.Integer),
    sa.Column("sla_paused", sa.Integer),
    sa.Column("feedback_count", sa.Integer),
    sa.Column("avg_rating", sa.Float),
    # version 14: the day's ratings by who answered the ticket (the AI, or an agent)
    sa.Column("ai_answered_ratings", sa.Integer),
    sa.Column("ai_answered_avg_rating", sa.Float),
    sa.Column("agent_answered_ratings", sa.Integer),
    sa.Column("agent_answered_avg_rating", sa.Float),
    sa.Column("report_html_path", sa.String(400)),
    sa.Column("report_csv_path", sa.String(400)),
    # version 12: the moment the figures count up to (the end of the day once the nightly load closed it)
    sa.Column("covers_until", sa.DateTime(timezone=True)),
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

escalations = sa.Table(
    "escalations",
    metadata,
    sa.Column("ticket_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("clock", sa.String(16), primary_key=True),  # version 9: SLA policies (response, resolution)
    sa.Column("level", sa.String(16), primary_key=True),
    sa.Column("idle_since", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("agent_id", sa.Integer),
    sa.Column("supervisor_id", sa.Integer),
    sa.Column("idle_hours", sa.Float, nullable=False),
    sa.Column("target_hours", sa.Float),
    sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dag_run_id", sa.String(250)),
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

# Version 10: what analysts label their reports with (no customer data).
agents = sa.Table(
    "agents",
    metadata,
    sa.Column("agent_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("team", sa.String(200)),
    sa.Column("supervisor_id", sa.Integer),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

calendar = sa.Table(
    "calendar",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("weekday", sa.SmallInteger, nullable=False),  # ISO: Monday 1 .. Sunday 7
    sa.Column("business_day", sa.Boolean, nullable=False),
    sa.Column("holiday_name", sa.String(200)),
    sa.Column("loaded_at", sa.DateTime(timezone=True)),  # when this row was last written
    schema=ANALYTICS,
)

# Version 10: one definition of each metric two tables share (docs/data-dictionary.md). ``{a}`` is
# the analytics schema's prefix (none on SQLite).
VIEWS = {
    "resolution_times": """
        SELECT ticket_id, priority, channel, agent_id, created_at, resolved_at,
               resolution_hours,
               COALESCE(ai_answer_outcome IN ('confirmed', 'closed_silent'), FALSE) AS resolved_by_ai,
               first_response_hours, paused_hours, resolution_breached, reopen_count, topic
        FROM {a}ticket_facts
        WHERE resolved_at IS NOT NULL""",
    # Version 14: every rating with who answered the ticket and its contact reason (CSAT split).
    "satisfaction": """
        SELECT f.feedback_id, f.ticket_id, f.agent_id, f.rating, f.low_rating, f.source, f.submitted_at,
               t.topic, t.language,
               CASE WHEN t.ai_answer_outcome IN ('confirmed', 'closed_silent') THEN 'ai' ELSE 'agent' END
                   AS answered_by
        FROM {a}feedback_facts f
        LEFT JOIN {a}ticket_facts t ON t.ticket_id = f.ticket_id""",
    # Version 14: what customers contact the desk about, and how each reason fares (contact reasons).
    "contact_reasons": """
        SELECT r.topic, r.tickets, r.ai_answered, r.ai_answer_rate, r.deflected, r.deflection_rate,
               r.resolved, r.avg_agent_resolution_hours,
               COALESCE(s.ratings, 0) AS ratings, s.avg_rating
        FROM (
            SELECT COALESCE(topic, 'unknown') AS topic,
                   COUNT(*) AS tickets,
                   SUM(CASE WHEN ai_responded THEN 1 ELSE 0 END) AS ai_answered,
                   AVG(CASE WHEN ai_responded THEN 1.0 ELSE 0.0 END) AS ai_answer_rate,
                   SUM(CASE WHEN ai_answer_outcome IN ('confirmed', 'closed_silent') THEN 1 ELSE 0 END) AS deflected,
                   AVG(CASE WHEN ai_answer_outcome IN ('confirmed', 'closed_silent') THEN 1.0 ELSE 0.0 END)
                       AS deflection_rate,
                   SUM(CASE WHEN resolved_at IS NOT NULL THEN 1 ELSE 0 END) AS resolved,
                   AVG(CASE WHEN ai_answer_outcome IS NULL OR ai_answer_outcome NOT IN ('confirmed', 'closed_silent')
                            THEN resolution_hours END) AS avg_agent_resolution_hours
            FROM {a}ticket_facts
            GROUP BY COALESCE(topic, 'unknown')
        ) r
        LEFT JOIN (
            SELECT COALESCE(t.topic, 'unknown') AS topic, COUNT(*) AS ratings, AVG(f.rating) AS avg_rating
            FROM {a}feedback_facts f JOIN {a}ticket_facts t ON t.ticket_id = f.ticket_id
            GROUP BY COALESCE(t.topic, 'unknown')
        ) s ON s.topic = r.topic""",
    "backlog": """
        SELECT s.report_date AS day, s.timezone,
               s.backlog AS waiting_for_people,
               s.unassigned_backlog,
               s.backlog - COALESCE(s.unassigned_backlog, 0) AS with_agents,
               s.awaiting_customer,
               s.sla_paused,
               (SELECT SUM(p.open_tickets) FROM {a}agent_daily_performance p WHERE p.day = s.report_date)
                   AS open_by_agents
        FROM {a}daily_summary s""",
}

flow_errors = sa.Table(
    "flow_errors",
    metadata,
    sa.Column("dag_id", sa.String(250), primary_key=True),
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("task_id", sa.String(250), primary_key=True),
    sa.Column("map_index", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("try_number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("error_type", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("is_final", sa.Boolean, nullable=False),
    sa.Column("log_url", sa.String(1000)),
    # for final failures: sent (an alert went out), folded (into an alert sent shortly before),
    # pending (Graph was down: the next alert carries it); null for failures that will be retried
    sa.Column("alert_status", sa.String(16)),
    schema=ANALYTICS,
)

flow_runs = sa.Table(
    "flow_runs",
    metadata,
    sa.Column("dag_id", sa.String(250), primary_key=True),
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("run_type", sa.String(32)),
    sa.Column("origin", sa.String(16)),  # version 10: where the run came from (server/listener.py run_origin)
    sa.Column("triggering_user", sa.String(250)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("ended_at", sa.DateTime(timezone=True), index=True),
    sa.Column("duration_seconds", sa.Float),
    schema=ANALYTICS,
)

# Not an analytics table: the ledger of side effects (e-mails, Planner tasks, ...) already done, so a
# retried task, a cleared task or a rerun never repeats one. See ``once()``.
side_effects = sa.Table(
    "side_effects",
    metadata,
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(1000), nullable=False),
    sa.Column("detail", sa.Text),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("done_at", sa.DateTime(timezone=True)),
    # an e-mail's sender mailbox and recipient count: Exchange's daily budget per mailbox (schema 13)
    sa.Column("mailbox", sa.String(320)),
    sa.Column("recipients", sa.Integer),
    sa.Index("side_effects_mail_budget", "mailbox", "done_at"),
    schema=INTERNAL,
)

# Not an analytics table: named positions that must survive restarts. Two kinds, one unit each: a
# cursor in an id sequence (the backend event feed's last event id), or a moment, stored as
# microseconds since 1970-01-01 UTC (ReportingStore.get_moment / set_moment; a day is its midnight UTC).
watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    schema=INTERNAL,
)

# Internal: the stale tickets one escalation run found, handed from its first task to the next ones
# through the database instead of XCom, so no task holds them all (rows are removed at the run's end).
escalation_candidates = sa.Table(
    "escalation_candidates",
    metadata,
    sa.Column("dag_run_id", sa.String(250), primary_key=True),
    sa.Column("ticket_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("clock", sa.String(16), primary_key=True),
    sa.Column("level", sa.String(16), primary_key=True),
    sa.Column("agent_id", sa.Integer),
    sa.Column("supervisor_id", sa.Integer),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("idle_since", sa.DateTime(timezone=True), nullable=False),
    sa.Column("idle_hours", sa.Float, nullable=False),
    sa.Column("target_hours", sa.Float, nullable=False),
    schema=INTERNAL,
)

# Internal: the follow-up reminder each ticket has in an agent's calendar (Flow 2), so that
# reassigning the ticket moves it and resolving it removes it.
reminders = sa.Table(
    "reminders",
    metadata,
    sa.Column("ticket_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("mailbox", sa.String(320), nullable=False),
    sa.Column("event_id", sa.String(200), nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    schema=INTERNAL,
)

# Internal (version 11): the personal fields of a run's request (a new ticket's customer name, address,
# subject and description; a rating's comment), kept here instead of in Airflow's metadata (the run's
# conf, the audit log): written by the API server when it accepts the trigger, read by the run's first
# step, encrypted with Airflow's Fernet key, deleted after ``intake_retention_hours``
# (support_flows.storage.intake).
intake = sa.Table(
    "intake",
    metadata,
    sa.Column("dag_id", sa.String(250), primary_key=True),
    sa.Column("run_id", sa.String(250), primary_key=True),
    sa.Column("fields", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    schema=INTERNAL,
)

TABLES = {
    t.name: t
    for t in (
        ticket_facts,
        feedback_facts,
        agent_daily_performance,
        daily_summary,
        escalations,
        flow_errors,
        flow_runs,
        agents,
        calendar,
    )
}
