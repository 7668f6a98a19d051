"""Typed settings with documented defaults, read at run time (never at import, so parsing a DAG file
needs no Variables and no secrets).

Each setting ``name`` comes from the Airflow Variable ``support_<name>``; Airflow also finds it in
the environment as ``AIRFLOW_VAR_SUPPORT_<NAME>`` and in the secrets backend (Azure Key Vault in
production). Lists are comma-separated.

A *tenant* setting names something of the customer's own (a mailbox, a site, a plan, their portal):
its default is a placeholder that lets the package's tests run, never a deployment. The deploy
preflight (``support_flows.server.preflight``) refuses to start while one is not set, still holds a
placeholder domain, or names something that does not exist.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Any, get_type_hints

from support_flows.core.times import TIMEZONE_ENVIRONMENT, schedule_timezone

VARIABLE_PREFIX = "support_"


class SettingsError(ValueError):
    """A setting holds a value that cannot be used; the message names the Variable."""


@dataclass(frozen=True)
class Settings:
    sender_mailbox: str = field(
        default="support@support.example.com", metadata={"doc": "mailbox the e-mails are sent from", "tenant": True}
    )
    extra_sender_mailboxes: tuple[str, ...] = field(
        default=(),
        metadata={
            "doc": "more mailboxes that share the sending (Exchange allows each 30 messages a minute and 10,000 "
            "recipients a day): each e-mail leaves from the one that has used least of its day; empty: only sender_mailbox"
        },
    )
    mailbox_recipients_per_day: int = field(
        default=10_000,
        metadata={
            "doc": "Exchange Online's recipient rate limit of each sender mailbox, counted over a rolling 24 hours"
        },
    )
    mail_budget_warning_percent: int = field(
        default=80,
        metadata={
            "doc": "the system administrators are warned (once a day per mailbox) when a mailbox has used this much of its day"
        },
    )
    internal_mail_reserve_percent: int = field(
        default=10,
        metadata={
            "doc": "the last part of each mailbox's day kept for customers: internal mail (agents, supervisors, reports, "
            "digests, alerts) waits while less than this is left; customers' mail goes until the budget is spent"
        },
    )
    admin_recipients: tuple[str, ...] = field(
        default=("support-admins@support.example.com",), metadata={"doc": "who gets the daily summary", "tenant": True}
    )
    sysadmin_recipients: tuple[str, ...] = field(
        default=("sysadmin@support.example.com",), metadata={"doc": "who is alerted when a flow fails", "tenant": True}
    )
    sharepoint_site_id: str = field(
        default="support-reports", metadata={"doc": "SharePoint site that archives the daily reports", "tenant": True}
    )
    report_folder: str = field(default="Reports", metadata={"doc": "folder in the site's document library"})
    planner_plan_id: str = field(
        default="support-follow-ups", metadata={"doc": "Planner plan for supervisors' follow-up tasks", "tenant": True}
    )
    timezone: str = field(default="UTC", metadata={"doc": "the support centre's time zone (IANA name)"})
    ai_confidence_threshold: float = field(
        default=0.7, metadata={"doc": "lowest AI confidence that is sent to a customer"}
    )
    metadata_retention_days: int = field(
        default=30,
        metadata={
            "doc": "runs (their conf: a PowerApps ticket's customer data), XComs, the audit log and task logs "
            "older than this are purged from Airflow every night (the retention job: python -m support_flows.operations.maintenance)"
        },
    )
    intake_retention_hours: int = field(
        default=24,
        metadata={
            "doc": "how long a run's personal fields (a new ticket's customer name, address, subject and description, "
            "a rating's comment) are kept for its first step, out of Airflow's metadata, before they are deleted "
            "(support_flows.storage.intake); a retry or a rerun within it finds them"
        },
    )
    customer_emails_per_hour: int = field(
        default=5,
        metadata={
            "doc": "at most this many AI answers and acknowledgements go to one customer address in an hour "
            "(more tickets are queued without an e-mail, so the public form cannot make the support mailbox a relay; 0: no cap)"
        },
    )
    customer_emails_per_caller_per_day: int = field(
        default=2000,
        metadata={
            "doc": "at most this many of Flow 1's customer e-mails a day for the runs one caller started (the PowerApps "
            "user, whatever its keys): past it, tickets are queued without an e-mail and the administrators are "
            "alerted, so a leaked key cannot spend Exchange's 10,000 recipients a day; 0: no ceiling"
        },
    )
    ai_answer_close_hours: int = field(
        default=72,
        metadata={
            "doc": "an AI answer the customer has not replied to in this many hours is resolved as answered by AI"
        },
    )
    reopen_days: int = field(
        default=7,
        metadata={
            "doc": "a resolved ticket is closed this many days after its resolution: a customer's reply before "
            "reopens it, a reply to a closed ticket opens a new ticket linked to it"
        },
    )
    pending_nudge_days: int = field(
        default=3,
        metadata={
            "doc": "working days a ticket waits on the customer (pending) before they are reminded, once; 0: never"
        },
    )
    pending_close_days: int = field(
        default=4,
        metadata={
            "doc": "working days after the reminder before a pending ticket without the customer's answer is "
            "resolved (the customer is told; a reply within reopen_days reopens it)"
        },
    )
    routing_groups: str = field(
        default='{"technical": ["password", "technical"], "billing": ["billing", "refund"], "logistics": ["shipping"]}',
        metadata={
            "doc": 'JSON: the groups (teams) and the topics each takes, {"group": ["topic", ...]}: after the agents with the '
            "ticket's skill, routing prefers the topic's group (core/routing.py)"
        },
    )
    survey_ai_answers: bool = field(
        default=True,
        metadata={
            "doc": "tickets resolved as answered by AI (confirmed by the customer, or closed without a reply) get "
            "the satisfaction survey too, so satisfaction with the AI and with agents can be compared"
        },
    )
    followup_reminder_hours: int = field(
        default=24, metadata={"doc": "how far ahead the agent's follow-up reminder is set"}
    )
    escalation_reminder_hours: int = field(
        default=48,
        metadata={"doc": "normal priority: working hours without a response before the agent is warned"},
    )
    escalation_supervisor_hours: int = field(
        default=72,
        metadata={"doc": "normal priority: working hours without a response before the supervisor is told (a breach)"},
    )
    sla_policies: str = field(
        default="",
        metadata={
            "doc": "JSON: per priority, [warning, breach] working hours of the response and resolution clocks, e.g. "
            '{"urgent": {"response": [1, 2], "resolution": [8, 16]}}; what is left out keeps the defaults '
            "(docs/operations.md, SLA policies)"
        },
    )
    business_days: str = field(
        default="",
        metadata={
            "doc": "e.g. Mon-Fri: the SLA clocks, the agents' reminders and auto-assignment keep to them; empty: every day"
        },
    )
    business_hours: str = field(default="", metadata={"doc": "e.g. 09:00-17:00, in timezone; with business_days"})
    holiday_country: str = field(
        default="", metadata={"doc": "public holidays of this country (ISO code, e.g. US, DE) are not working days"}
    )
    holiday_subdivision: str = field(default="", metadata={"doc": "and of this state or region of it (e.g. CA, BY)"})
    holidays: tuple[str, ...] = field(
        default=(), metadata={"doc": "company days off (YYYY-MM-DD) besides the public holidays"}
    )
    portal_url: str = field(
        default="https://support.example.com/tickets",
        metadata={"doc": "base of the ticket links in e-mails", "tenant": True},
    )
    api_timeout_seconds: float = field(
        default=30.0, metadata={"doc": "timeout of each Support API call (the connection's extra timeout wins)"}
    )
    graph_timeout_seconds: float = field(default=30.0, metadata={"doc": "timeout of each Microsoft Graph call"})
    retry_base_seconds: float = field(
        default=1.0, metadata={"doc": "first backoff of the clients' retries (then doubled)"}
    )
    alert_window_minutes: int = field(
        default=60, metadata={"doc": "repeated failures of a task within this window make one alert"}
    )
    event_poll_seconds: float = field(default=5.0, metadata={"doc": "how often the backend event feed is polled"})
    event_max_wait_seconds: float = field(default=600.0, metadata={"doc": "longest wait of one backend-events run"})
    watcher_lag_alert_minutes: float = field(
        default=15.0, metadata={"doc": "alert when a backend event has waited this long for its flow"}
    )
    customer_key_salt: str = field(
        default="",
        metadata={"doc": "secret key of the pseudonymous customer key in the reporting tables", "secret": True},
    )

    def holiday_dates(self) -> frozenset[date]:
        try:
            return frozenset(date.fromisoformat(day) for day in self.holidays)
        except ValueError as err:
            raise SettingsError(f"Variable {VARIABLE_PREFIX}holidays: {err}") from None


def _convert(name: str, kind: Any, raw: str) -> Any:
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is bool:
            return _boolean(raw)
        if kind == tuple[str, ...]:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw.strip()
    except ValueError:
        expected = "true or false" if kind is bool else kind.__name__
        raise SettingsError(f"Variable {VARIABLE_PREFIX}{name}: expected {expected}, got {raw!r}") from None


def _boolean(raw: str) -> bool:
    word = raw.strip().lower()
    if word in ("true", "yes", "1", "on"):
        return True
    if word in ("false", "no", "0", "off"):
        return False
    raise ValueError(raw)


def _read(name: str, kind: Any) -> Any:
    raw = raw_setting(name)
    value = _DEFAULTS[name] if raw is None else _convert(name, kind, raw)
    if name == "timezone":
        _check_one_timezone(value)
    return value


def _check_one_timezone(value: str) -> None:
    """The tasks' time zone (the Variable: environment, vault, database) must be the schedules'. A
    Variable kept in the database or the vault while the environment says otherwise would move the
    report's day but not the schedule: the task fails (and the deploy preflight refuses), naming both."""
    schedules = schedule_timezone()
    if value.strip() != schedules:
        raise SettingsError(
            f"Variable {VARIABLE_PREFIX}timezone is {value.strip()!r} but the schedules use {schedules!r} "
            f"({TIMEZONE_ENVIRONMENT}): set {TIMEZONE_ENVIRONMENT}={value.strip()} for every Airflow component "
            "and delete the Variable from the database or the vault, so one setting drives both"
        )


def _check_escalation_hours(reminder: int, supervisor: int) -> None:
    if supervisor <= reminder:
        raise SettingsError(
            f"Variable {VARIABLE_PREFIX}escalation_supervisor_hours ({supervisor}) must be"
            f" greater than {VARIABLE_PREFIX}escalation_reminder_hours ({reminder})"
        )


def load_settings(**overrides: Any) -> Settings:
    """Read every setting now. ``overrides`` win (tests and callers with a value in hand)."""
    values = {name: overrides[name] if name in overrides else _read(name, _KINDS[name]) for name in _DEFAULTS}
    settings = Settings(**values)
    _check_escalation_hours(settings.escalation_reminder_hours, settings.escalation_supervisor_hours)
    return settings


class LazySettings:
    """The same settings, each read on first use: what tasks get (``FlowRuntime.settings``).

    In Airflow 3 a Variable that is not in the environment costs the task a round trip to the API
    server, so reading all of them up front made every task slower (docs/performance.md); a task
    now pays only for the settings it uses. A bad value still fails with a
    ``SettingsError`` naming the Variable, when the task first needs it.
    """

    def __init__(self, **overrides: Any):
        unknown = set(overrides) - set(_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:  # only called for settings not read yet
        if name not in _DEFAULTS:
            raise AttributeError(name)
        value = _read(name, _KINDS[name])
        self.__dict__[name] = value
        if name in ("escalation_reminder_hours", "escalation_supervisor_hours"):
            _check_escalation_hours(self.escalation_reminder_hours, self.escalation_supervisor_hours)
        return value

    holiday_dates = Settings.holiday_dates


_DEFAULTS = {item.name: item.default for item in dataclasses.fields(Settings)}
SETTING_NAMES = tuple(_DEFAULTS)
TENANT_SETTINGS = tuple(item.name for item in dataclasses.fields(Settings) if item.metadata.get("tenant"))


def raw_setting(name: str) -> str | None:
    """The setting as stored (Variable, environment or vault), or None where it is not set at all:
    what tells a value someone chose from a fallback to the default."""
    from airflow.sdk import Variable

    raw = Variable.get(VARIABLE_PREFIX + name, default=None)
    return None if raw is None or str(raw) == "" else str(raw)


def airflow_ui_url() -> str:
    """Where the Airflow UI is, for the links in alerts: Airflow's own ``[api] base_url`` (one
    place for it: the address the API server is reached at)."""
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="") or "http://localhost:8080"


_KINDS = get_type_hints(Settings)
