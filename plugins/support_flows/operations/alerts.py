"""The central error log and failure alerts, fed by the listener (``support_flows.server.listener``) for
every task of every DAG.

- Every failure, retries included, becomes a ``flow_errors`` row.
- A failure for good e-mails the system administrators through Graph, naming the DAG, task, run,
  try, the error and a link to the log. Failures of the same task within the alert window are
  folded instead of making a storm: into the next alert, or at the latest, when the window of the
  alert that folded them closes, into one e-mail of their own saying how many it stands for
  (``send_pending``, every 10 minutes), so a failure followed by silence still reaches someone
  within the window.
- If Graph is down, the failure is kept as ``pending``; it goes out with the next alert, or at the
  latest with ``send_pending`` (the ``support_error_log`` DAG, every 10 minutes) once Graph answers.
- An alert the mailbox cannot carry (Graph refuses it, or ``sender_mailbox`` is wrong) goes out at
  once through the second channel, the chat webhook (``support_flows.clients.alert_webhook``),
  saying why the e-mail did not.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

import sqlalchemy as sa

from support_flows.core import times
from support_flows.core.contract import FlowContract, Schedule

if TYPE_CHECKING:  # for annotations only: the error log's DAG file reads ERROR_LOG while it is parsed
    from support_flows.core.mailer import Mailer
    from support_flows.core.settings import Settings
    from support_flows.storage.reporting import ReportingStore

ERROR_LOG = FlowContract(
    dag_id="support_error_log",
    flow="all: alerts Graph held back, the `flow_errors` Asset, kept requests purged",
    kind="scheduled",
    starts="every 10 minutes",
    returns="alerts sent, errors published, kept requests purged",
    flow_tags=("flow-all",),
    extra_tags=("operations",),
    schedule=Schedule("SUPPORT_ERROR_LOG_CRON", "*/10 * * * *"),
)

log = logging.getLogger(__name__)
MESSAGE_LIMIT = 4000


@dataclass
class Failure:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    occurred_at: datetime
    error_type: str
    message: str
    is_final: bool
    log_url: str


def log_url(ui_url: str, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    url = f"{ui_url.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id)}"
    if map_index >= 0:
        url += f"/mapped/{map_index}"
    return f"{url}?try_number={try_number}"


def run_failure(dag_id: str, run_id: str, task_id: str, error_type: str, message: str) -> Failure:
    """A failure of a whole run rather than of a task try (a late run, a lagging watcher): final,
    linked to the run's page. ``task_id`` names what failed (no real task has it)."""
    from support_flows.core.settings import airflow_ui_url

    return Failure(
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=-1,
        try_number=1,
        occurred_at=times.now(),
        error_type=error_type,
        message=message,
        is_final=True,
        log_url=f"{airflow_ui_url().rstrip('/')}/dags/{dag_id}/runs/{run_id}",
    )


ADDRESS = re.compile(r"[^\s@<>\"'(),;:]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def mask_addresses(text: str) -> str:
    """Every e-mail address in an error text masked (``m***@example.org``): the error log is read
    by analysts and the alerts by operators, and an address is the customer's. The domain stays,
    so "the tenant's mailbox" and "a customer's" can still be told apart."""
    return ADDRESS.sub(lambda m: m[0][0] + "***@" + m[0].split("@", 1)[1], text)


def describe(error: object) -> tuple[str, str]:
    """(type, message) of an error, secrets masked, message bounded."""
    try:
        from airflow.sdk._shared.secrets_masker import redact
    except ImportError:  # pragma: no cover - older layouts

        def redact(value):
            return value

    if isinstance(error, BaseException):
        kind, text = type(error).__name__, str(error) or repr(error)
    else:
        kind, text = "Error", str(error or "the task failed (no error was reported)")
    text = mask_addresses(str(redact(text)))
    return kind, text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "\u2026"


def record_failure(store: ReportingStore, failure: Failure) -> None:
    row = asdict(failure)
    store.upsert("flow_errors", [row])


MAIL_BUDGET = "MailBudgetWarning"


def warn_of_mail_budget(rt, dag_id: str, run_id: str) -> list[str]:
    """Warn the system administrators, once a day per mailbox, when a sender mailbox has used
    ``mail_budget_warning_percent`` of its 24 hours' recipients (support_flows.core.mailer); the
    mailboxes warned now. Past the budget, customers' mail waits and internal mail waits earlier."""
    from support_flows.core.mailer import budget_used

    settings = rt.settings
    limit = settings.mailbox_recipients_per_day
    warned = []
    for mailbox, used in budget_used(rt.store, settings).items():
        if used * 100 < limit * settings.mail_budget_warning_percent:
            continue
        message = (
            f"the sender mailbox {mailbox} has sent to {used} of its {limit} recipients in the last 24 hours "
            f"({used * 100 // limit}%): past {100 - settings.internal_mail_reserve_percent}% internal mail waits, "
            "at 100% customers' mail waits too; add a mailbox to extra_sender_mailboxes or find what sends so much"
        )
        failure = run_failure(dag_id, run_id, "mail_budget", MAIL_BUDGET, message)

        def warn(failure=failure) -> dict:
            return {"alert": handle_failure(failure, settings, rt.store, rt.graph)}

        _, now = rt.store.once(f"mail-budget-warning:{mailbox}:{times.now().date()}", "warning", rt.owner, warn)
        if now:
            warned.append(mailbox)
    return warned


def record_capped(store: ReportingStore, dag_id: str, run_id: str, task_id: str, error_type: str, message: str) -> None:
    """A limit that held (the run went on without what it capped): in the error log, not alerted
    (a storm of these is what the limit is for)."""
    failure = run_failure(dag_id, run_id, task_id, error_type, message)
    failure.is_final = False
    record_failure(store, failure)


AI_UNAVAILABLE = "AIUnavailable"
AI_CHECK_TASK = "ai_check"  # what failed: the AI check, whichever task asked it (folds per DAG)


def report_ai_unavailable(rt, dag_id: str, run_id: str, tickets: dict[int, str]) -> str | None:
    """The AI check failed for these tickets (ticket id -> why), which were queued and acknowledged
    instead: a final failure in the error log and an alert (folded with the others of an outage), the
    run itself going on."""
    if not tickets:
        return None
    listed = "; ".join(f"ticket {ticket_id}: {why}" for ticket_id, why in sorted(tickets.items()))
    message = (
        f"no AI answer for {len(tickets)} ticket(s): the AI check failed, so each was queued for an agent and "
        f"the customer sent the acknowledgement ({listed})"
    )
    failure = run_failure(dag_id, run_id, AI_CHECK_TASK, AI_UNAVAILABLE, mask_addresses(message)[:MESSAGE_LIMIT])
    return handle_failure(failure, rt.settings, rt.store, rt.graph)


def report_no_reply(rt, dag_id: str, run_id: str, outcome: dict, caller: str | None) -> None:
    """A limit held back a customer's e-mail (``outcome["no_reply_reason"]``, see
    ``flows.tickets``): the caller's daily ceiling is alerted (a key may have leaked; the
    administrators decide), a mailbox's hourly cap only logged (a storm of those is what it is for)."""
    from support_flows.flows import tickets  # the reasons' wording

    reason = outcome.get("no_reply_reason") or ""
    message = f"ticket {outcome['ticket_id']}: {reason}"
    if reason.startswith(tickets.CALLER_CEILING_REASON):
        failure = run_failure(
            dag_id, run_id, "caller_email_ceiling", "CallerEmailCeiling", f"{message}; started by {caller}"
        )
        handle_failure(failure, rt.settings, rt.store, rt.graph)
    elif reason.startswith(tickets.EMAIL_CAP_REASON):
        record_capped(rt.store, dag_id, run_id, "answer_or_queue", "CustomerEmailCap", message)


def alert(store: ReportingStore, graph, settings: Settings, failure: Failure) -> str:
    """Send (or fold, or keep pending) the alert for a failure for good; returns its status."""
    from support_flows.core import notifications

    window_start = failure.occurred_at - timedelta(minutes=settings.alert_window_minutes)
    recent = errors(store, dag_id=failure.dag_id, task_id=failure.task_id, statuses=["sent"], since=window_start)
    this = {k: getattr(failure, k) for k in ("dag_id", "run_id", "task_id", "map_index", "try_number")}
    if recent:
        set_alert_status(store, [this], "folded")
        return "folded"
    waiting = [
        r
        for r in errors(store, statuses=["folded", "pending"])
        if (r["dag_id"], r["run_id"], r["task_id"], r["map_index"], r["try_number"]) != tuple(this.values())
    ]
    # support_flows.operations.lateness: a run past its deadline; support_flows.operations.events: the watcher behind
    late = failure.error_type in ("RunLate", "WatcherLagging")
    html = notifications.render(
        "failure_alert.html",
        failure=failure,
        others=waiting,
        late=late,
        heading=f"Flow {'late' if late else 'failed'}: {failure.dag_id}.{failure.task_id}",
    )
    what = f"{failure.dag_id} is late" if late else f"{failure.dag_id}.{failure.task_id} failed"
    subject = f"[support-flows] {what}: {failure.error_type}"
    if waiting:
        subject += f" (+{len(waiting)} more)"
    try:
        _mailer(store, graph, settings).send(
            f"alert-{failure.dag_id}-{failure.run_id}-{failure.task_id}-{failure.try_number}",
            notifications.Email(tuple(settings.sysadmin_recipients), subject[:250], html),
        )
    except Exception as err:  # noqa: BLE001 - the alert must never hide the failure it reports
        log.error("could not send the failure alert (%s); it goes out with the next one", err)
        set_alert_status(store, [this], "pending")
        by_webhook(subject, failure, err)
        return "pending"
    set_alert_status(store, [this, *waiting], "sent")
    return "sent"


# How often ``send_pending`` runs (the support_error_log DAG's default schedule): folded failures go
# out this long before their window closes, so the round that sends them falls inside the window.
SEND_PENDING_PERIOD = timedelta(minutes=10)


def _mailer(store: ReportingStore, graph, settings: Settings) -> Mailer:
    """Alerts leave by the one road for e-mail, as the administrators' internal mail."""
    from support_flows.core.mailer import Mailer

    return Mailer(graph, store, settings, owner=ALERTS_OWNER)


ALERTS_OWNER = "support_flows.operations.alerts"


def folded_and_due(store: ReportingStore, settings: Settings, now: datetime) -> list[dict]:
    """Folded failures whose window is about to close: no alert of their task was sent within the
    last ``alert_window_minutes`` less one round of ``send_pending``, so no alert may come to carry
    them before the window ends."""
    folded = errors(store, statuses=["folded"])
    if not folded:
        return []
    window = timedelta(minutes=settings.alert_window_minutes)
    still_open = {
        (r["dag_id"], r["task_id"]) for r in errors(store, statuses=["sent"], since=now - window + SEND_PENDING_PERIOD)
    }
    return [r for r in folded if (r["dag_id"], r["task_id"]) not in still_open]


def send_pending(store: ReportingStore, graph, settings: Settings) -> int:
    """Send, in one e-mail, the failures no alert carried yet: those Graph could not take
    (``pending``) and folded ones whose window is closing (``folded_and_due``), without waiting for
    another failure; how many went out. Graph still down is no failure of this: they stay (0)."""
    from support_flows.core import notifications

    pending = errors(store, statuses=["pending"])
    waiting = sorted(pending + folded_and_due(store, settings, times.now()), key=lambda r: r["occurred_at"])
    if not waiting:
        return 0
    fields = [f for f in Failure.__dataclass_fields__]
    first = Failure(**{f: waiting[0][f] for f in fields})
    why = "held back while Graph was unavailable" if len(pending) == len(waiting) else "not alerted yet"
    html = notifications.render(
        "failure_alert.html",
        failure=first,
        others=waiting[1:],
        late=False,
        heading=(
            f"Alerts held back while Microsoft Graph was unavailable ({len(waiting)})"
            if len(pending) == len(waiting)
            else f"Failures not alerted yet: folded into an earlier alert's window, or held back ({len(waiting)})"
        ),
    )
    keys = ",".join(f"{r['dag_id']}/{r['run_id']}/{r['task_id']}/{r['try_number']}" for r in waiting)
    try:
        _mailer(store, graph, settings).send(
            f"pending-{hashlib.sha256(keys.encode()).hexdigest()[:32]}",
            notifications.Email(
                tuple(settings.sysadmin_recipients),
                f"[support-flows] {len(waiting)} failure(s) {why}: "
                f"{first.dag_id}.{first.task_id} failed: {first.error_type}"[:250],
                html,
            ),
        )
    except Exception as err:  # noqa: BLE001 - still down: try again on the next run
        log.warning("Graph still refuses the %d pending alert(s): %s", len(waiting), err)
        return 0
    set_alert_status(store, waiting, "sent")
    return len(waiting)


def handle_failure(
    failure: Failure, settings: Settings, store: ReportingStore | None = None, graph=None, page: bool = True
) -> str | None:
    """Log the failure; alert when it is final and ``page`` (not for a refusal of the caller's
    input: see failure_reasons). Never raises.

    Without the reporting database (it may be what failed) the alert still goes out, unfolded.
    """
    from support_flows.storage.reporting import ReportingStore

    store = store or ReportingStore()
    try:
        record_failure(store, failure)
        logged = True
    except Exception as err:  # noqa: BLE001
        log.error("could not write the failure to flow_errors: %s", err)
        logged = False
    if not failure.is_final:
        return None
    if not page:
        if logged:
            this = {k: getattr(failure, k) for k in ("dag_id", "run_id", "task_id", "map_index", "try_number")}
            set_alert_status(store, [this], "caller_input")
        return "caller_input"
    if graph is None:
        from support_flows.clients.graph import GraphClient
        from support_flows.clients.retry import CallRetryPolicy

        graph = GraphClient(timeout=10, retry_policy=CallRetryPolicy(attempts=2, base_delay=1))
        try:
            return _send_alert(store, graph, settings, failure, logged)
        finally:
            graph.close()
    return _send_alert(store, graph, settings, failure, logged)


def _send_alert(store: ReportingStore, graph, settings: Settings, failure: Failure, logged: bool) -> str | None:
    """The alert of a final failure: folded through the error log when it holds the failure,
    else on its own. Never raises."""
    from support_flows.core import notifications

    try:
        if logged:
            return alert(store, graph, settings, failure)
        html = notifications.render(
            "failure_alert.html",
            failure=failure,
            others=[],
            late=False,
            heading=f"Flow failed: {failure.dag_id}.{failure.task_id}",
        )
        _mailer(store, graph, settings).send_unrecorded(
            f"alert-{failure.dag_id}-{failure.run_id}-{failure.task_id}-{failure.try_number}",
            notifications.Email(
                tuple(settings.sysadmin_recipients),
                f"[support-flows] {failure.dag_id}.{failure.task_id} failed: {failure.error_type} (error log unavailable)"[
                    :250
                ],
                html,
            ),
        )
        return "sent_unlogged"
    except Exception as err:  # noqa: BLE001
        log.error("could not process the failure alert: %s", err)
        by_webhook(f"[support-flows] {failure.dag_id}.{failure.task_id} failed: {failure.error_type}", failure, err)
        return None


def by_webhook(subject: str, failure: Failure, mail_error: object) -> bool:
    """The alert through the chat webhook, because the e-mail could not go: what failed, where its
    log is, and why the mailbox did not carry it (addresses masked). Never raises."""
    from support_flows.clients import alert_webhook

    _, why = describe(mail_error)
    text = (
        f"{subject}\n{failure.message[:1000]}\nLog: {failure.log_url}\n"
        f"(Sent here because the e-mail alert could not go out: {why[:600]}. "
        "It is kept and e-mailed once Microsoft Graph takes it.)"
    )
    return alert_webhook.post(text)


# --- the error log's queries -------------------------------------------------------------------------


def errors(
    store: ReportingStore,
    *,
    dag_id: str | None = None,
    task_id: str | None = None,
    statuses: Iterable[str] = (),
    since: datetime | None = None,
) -> list[dict]:
    """Rows of ``flow_errors``, oldest first, filtered by DAG, task, alert status and time."""
    from support_flows.storage.tables import flow_errors

    conditions = []
    if dag_id is not None:
        conditions.append(flow_errors.c.dag_id == dag_id)
    if task_id is not None:
        conditions.append(flow_errors.c.task_id == task_id)
    if statuses:
        conditions.append(flow_errors.c.alert_status.in_(list(statuses)))
    if since is not None:
        conditions.append(flow_errors.c.occurred_at >= since)
    query = sa.select(flow_errors).where(*conditions).order_by(flow_errors.c.occurred_at)
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def set_alert_status(store: ReportingStore, rows: Iterable[dict], status: str) -> None:
    """The alert status of these errors (each named by DAG, run, task, map index and try)."""
    from support_flows.storage.tables import flow_errors

    key = ("dag_id", "run_id", "task_id", "map_index", "try_number")
    with store.engine.begin() as conn:
        for row in rows:
            conn.execute(
                flow_errors.update().where(*(flow_errors.c[k] == row[k] for k in key)).values(alert_status=status)
            )


def publish_new_errors(store: ReportingStore) -> int:
    """How many ``flow_errors`` rows arrived since the last call (moving the position on): the
    error log's Asset event carries them (``support_error_log``)."""
    from support_flows.storage.reporting import EPOCH, ERRORS_WATERMARK
    from support_flows.storage.tables import flow_errors

    with store.engine.connect() as conn:
        count, newest = conn.execute(
            sa.select(sa.func.count(), sa.func.max(flow_errors.c.occurred_at)).where(
                flow_errors.c.occurred_at > (store.get_moment(ERRORS_WATERMARK) or EPOCH)
            )
        ).one()
    if not count:
        return 0
    store.set_moment(ERRORS_WATERMARK, newest)
    return count
