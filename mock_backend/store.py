"""SQLite state of the mock: one file, so it survives restarts and answers filtered queries fast.

Every request opens its own connection (WAL mode lets readers and one writer work side by side);
writes that must be atomic run inside ``with conn:``.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SCHEMA = """
CREATE TABLE IF NOT EXISTS agents (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL DEFAULT 'agent',
    capacity INTEGER NOT NULL DEFAULT 10,
    available INTEGER NOT NULL DEFAULT 1,
    supervisor_id INTEGER REFERENCES agents(id)
);
CREATE TABLE IF NOT EXISTS tickets (
    id INTEGER PRIMARY KEY,
    request_id TEXT UNIQUE,
    origin TEXT NOT NULL DEFAULT 'api',
    customer_name TEXT NOT NULL,
    customer_email TEXT NOT NULL,
    subject TEXT NOT NULL,
    description TEXT NOT NULL,
    priority TEXT NOT NULL,
    priority_rank INTEGER NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    agent_id INTEGER REFERENCES agents(id),
    assigned_by TEXT,
    ai_response TEXT,
    ai_confidence REAL,
    resolution_summary TEXT,
    auto_submitted INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_activity_at TEXT NOT NULL,
    assigned_at TEXT,
    resolved_at TEXT,
    customer_replied_at TEXT,
    resolved_by TEXT,
    ai_answer_feedback TEXT
);
CREATE INDEX IF NOT EXISTS ix_tickets_status_activity ON tickets(status, last_activity_at);
CREATE INDEX IF NOT EXISTS ix_tickets_status_updated ON tickets(status, updated_at);
CREATE INDEX IF NOT EXISTS ix_tickets_agent_status ON tickets(agent_id, status);
CREATE INDEX IF NOT EXISTS ix_tickets_urgency ON tickets(status, priority_rank, created_at, id);
CREATE INDEX IF NOT EXISTS ix_tickets_created ON tickets(created_at);
CREATE INDEX IF NOT EXISTS ix_tickets_updated ON tickets(updated_at);
CREATE INDEX IF NOT EXISTS ix_tickets_resolved ON tickets(resolved_at);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    author TEXT NOT NULL,
    author_type TEXT NOT NULL,
    body TEXT NOT NULL,
    key TEXT UNIQUE,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_notes_ticket ON notes(ticket_id);
CREATE TABLE IF NOT EXISTS reopens (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    agent_id INTEGER,
    reopened_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_reopens_time ON reopens(reopened_at);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL UNIQUE REFERENCES tickets(id),
    agent_id INTEGER,
    rating INTEGER NOT NULL,
    comment TEXT,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_feedback_created ON feedback(created_at);
CREATE TABLE IF NOT EXISTS agent_feedback (
    feedback_id INTEGER PRIMARY KEY REFERENCES feedback(id),
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    rating INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_agent_feedback_agent ON agent_feedback(agent_id);
CREATE TABLE IF NOT EXISTS surveys (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL UNIQUE REFERENCES tickets(id),
    token TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answer_links (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
    token TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    chosen_at TEXT
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS graph_mail (
    id INTEGER PRIMARY KEY,
    mailbox TEXT NOT NULL,
    message TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_messages (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS graph_drafts (
    id TEXT PRIMARY KEY,
    mailbox TEXT NOT NULL,
    message TEXT NOT NULL,
    internet_message_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS graph_drafts_by_message_id ON graph_drafts (mailbox, internet_message_id);
CREATE TABLE IF NOT EXISTS graph_inbox (
    id INTEGER PRIMARY KEY,
    mailbox TEXT NOT NULL,
    message TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS graph_events (
    id INTEGER PRIMARY KEY,
    mailbox TEXT NOT NULL,
    transaction_id TEXT,
    event TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (mailbox, transaction_id)
);
CREATE TABLE IF NOT EXISTS graph_tasks (
    id INTEGER PRIMARY KEY,
    task TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS graph_users_left (
    upn TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS graph_task_details (
    task_id TEXT PRIMARY KEY,
    details TEXT NOT NULL,
    etag TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS graph_files (
    site_id TEXT NOT NULL,
    path TEXT NOT NULL,
    content BLOB NOT NULL,
    content_type TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (site_id, path)
);
CREATE TABLE IF NOT EXISTS vault_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    version TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS request_log (
    id INTEGER PRIMARY KEY,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    at TEXT NOT NULL,
    duration_ms REAL NOT NULL
);
"""

DATA_TABLES = (
    "request_log",
    "webhook_messages",
    "vault_secrets",
    "graph_files",
    "graph_task_details",
    "graph_users_left",
    "graph_tasks",
    "graph_events",
    "graph_mail",
    "graph_drafts",
    "graph_inbox",
    "events",
    "surveys",
    "answer_links",
    "agent_feedback",
    "feedback",
    "notes",
    "reopens",
    "tickets",
    "agents",
)

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
OPEN_STATUSES = ("new", "ai_responded", "queued", "assigned", "in_progress", "pending")
# the ticket waits on the customer: an AI answer, or an agent's question (the SLA clocks pause)
WAITING_STATUSES = ("ai_responded", "pending")


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


# columns added after the first release: (table, column, type); a mock database from before gets them
ADDED_COLUMNS = (
    ("tickets", "customer_replied_at", "TEXT"),
    ("tickets", "resolved_by", "TEXT"),
    ("tickets", "ai_answer_feedback", "TEXT"),
    # the SLA clocks: the agent's first and latest response, the periods the ticket waited on the
    # customer (a JSON list of [from, until]; until null while it waits), how often it was reopened
    ("tickets", "first_response_at", "TEXT"),
    ("tickets", "agent_responded_at", "TEXT"),
    ("tickets", "waiting_periods", "TEXT NOT NULL DEFAULT '[]'"),
    ("tickets", "reopen_count", "INTEGER NOT NULL DEFAULT 0"),
    # contact reasons and the customer's language: from the AI check or the request
    ("tickets", "topic", "TEXT"),
    ("tickets", "language", "TEXT"),
    # routing: what an agent handles (topics), the languages they answer in, their group (a team)
    ("agents", "skills", "TEXT NOT NULL DEFAULT '[]'"),
    ("agents", "languages", "TEXT NOT NULL DEFAULT '[\"en\"]'"),
    ("agents", "group_name", "TEXT"),
    # Exchange's Outbox and limits (mock_backend.exchange): when a message left, whether it bounced
    ("graph_mail", "left_outbox_at", "TEXT"),
    ("graph_mail", "status", "TEXT NOT NULL DEFAULT 'sent'"),
    ("graph_mail", "item_id", "TEXT"),
    ("graph_mail", "internet_message_id", "TEXT"),
)


def init_db(path: str) -> None:
    conn = connect(path)
    try:
        conn.executescript(SCHEMA)
        for table, column, kind in ADDED_COLUMNS:
            present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        conn.execute("CREATE INDEX IF NOT EXISTS graph_mail_by_message_id ON graph_mail (internet_message_id)")
    finally:
        conn.close()


class Tx:
    """``with Tx(conn):`` runs the block in one IMMEDIATE transaction (no lost updates)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


# --- time -----------------------------------------------------------------------------------------

TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_ts(moment: datetime) -> str:
    """The one text form of a moment stored here: UTC, fixed width, so text order is time order."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TS_FORMAT)


def now_ts() -> str:
    return to_ts(datetime.now(UTC))


def parse_ts(text: str) -> datetime:
    """Parse an ISO 8601 time from a client; a time without zone is taken as UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {name!r}") from err


def day_bounds(day: date, tz: ZoneInfo) -> tuple[str, str]:
    """[start, end) of a local calendar day, as stored timestamps."""
    start = datetime.combine(day, time.min, tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    return to_ts(start), to_ts(end)
