"""A burst of ticket-created triggers, as PowerApps would send them at a busy moment: how long the
stack takes to accept them and to drain them, how many runs fail, and whether every ticket and
exactly one e-mail per ticket came out (tickets lost must be 0, duplicate e-mails 0), within
Exchange Online's limits the mock holds (30 messages a minute leave the Outbox: when the last one
left, against the floor the rate allows; 429s answered; alert e-mails sent).

    .venv/bin/python bench/burst.py [--triggers 200] [--senders 8] [--executor local|local-pg|celery]

Writes bench/results/burst_<executor>.json.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from benchstack import Client, bench_stack, executor_options, mock_mail, mock_tickets, write_results

DAG_ID = "support_ticket_created"


def ticket(n: int) -> dict:
    return {
        "customer_name": f"Burst Customer {n}",
        "customer_email": f"burst-{n}@example.org",
        "subject": "Cannot log in" if n % 2 else "Question about my invoice",
        "description": "Sent in a burst.",
        "request_id": f"burst-{n}",
    }


def run_states(client: Client, run_ids: set[str]) -> collections.Counter:
    states: collections.Counter = collections.Counter()
    offset = 0
    while True:
        page = client.session.get(
            f"{client.base}/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100, "offset": offset}, timeout=60
        ).json()
        for run in page["dag_runs"]:
            if run["dag_run_id"] in run_ids:
                states[run["state"]] += 1
        offset += len(page["dag_runs"])
        if not page["dag_runs"] or offset >= page["total_entries"]:
            return states


def burst(stack, triggers: int, senders: int, timeout: float = 1800, retry: bool = True) -> dict:
    """Send ``triggers`` ticket-created triggers from ``senders`` concurrent clients to a started
    stack, wait until every accepted run has finished, and count what came out. ``retry=False``
    sends each trigger once (no client retry on a 5xx or a time-out)."""
    clients = [Client(stack) for _ in range(senders)]
    accepted: dict[int, str] = {}
    rejected: dict[int, str] = {}

    def send(n: int) -> None:
        client = clients[n % senders]
        try:
            if retry:
                response = client.trigger(DAG_ID, ticket(n))
            else:
                response = client.session.post(
                    f"{client.base}/api/v2/dags/{DAG_ID}/dagRuns",
                    json={"logical_date": None, "conf": ticket(n)},
                    timeout=60,
                )
        except Exception as err:  # noqa: BLE001 - a time-out counts as a rejection
            rejected[n] = f"{type(err).__name__}: {err}"
            return
        if response.status_code == 200:
            accepted[n] = response.json()["dag_run_id"]
        else:
            rejected[n] = f"{response.status_code} {response.text[:200]}"

    started = time.monotonic()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(send, range(triggers)))
    accept_seconds = time.monotonic() - started
    print(f"accepted {len(accepted)}/{triggers} triggers in {accept_seconds:.1f}s", flush=True)

    deadline = started + timeout
    run_ids = set(accepted.values())
    admin = Client(stack, "admin")  # the PowerApps role reads no runs
    while True:
        states = run_states(admin, run_ids)
        finished = states["success"] + states["failed"]
        if finished == len(run_ids) or time.monotonic() > deadline:
            break
        print(f"  {time.monotonic() - started:6.1f}s: {dict(states)}", flush=True)
        time.sleep(2)
    drain_seconds = time.monotonic() - started

    burst_ids = {f"burst-{n}" for n in range(triggers)}
    tickets = [t for t in mock_tickets(stack) if t["request_id"] in burst_ids]
    per_ticket = collections.Counter(t["request_id"] for t in tickets)
    everything = mock_mail(stack)
    burst_mail = [m for m in everything if any(a.startswith("burst-") for a in m["to"])]
    mail = collections.Counter(address for m in burst_mail for address in m["to"] if address.startswith("burst-"))
    return {
        **exchange_figures(stack, burst_mail, everything),
        "triggers": triggers,
        "senders": senders,
        "client_retries": retry,
        "accepted": len(accepted),
        "rejected": len(rejected),
        "rejections": rejected,
        "accept_seconds": accept_seconds,
        "drain_seconds": drain_seconds,
        "runs_per_minute": 60 * finished / drain_seconds,
        "run_states": dict(states),
        "runs_failed": states["failed"],
        "runs_unfinished": len(run_ids) - finished,
        "tickets_lost": len({f"burst-{n}" for n in accepted} - set(per_ticket)),
        "tickets_duplicated": sum(c - 1 for c in per_ticket.values()),
        "customers_without_email": len({f"burst-{n}@example.org" for n in accepted} - set(mail)),
        "duplicate_emails": sum(c - 1 for c in mail.values()),
    }


def exchange_figures(stack, burst_mail: list[dict], everything: list[dict]) -> dict:
    """How the burst's e-mails left within Exchange's 30 messages a minute, and what Graph throttled."""
    import math
    from datetime import datetime

    import requests

    moment = datetime.fromisoformat
    first = min((moment(m["received_at"]) for m in burst_mail), default=None)
    last_left = max((moment(m["left_outbox_at"]) for m in burst_mail), default=None)
    statuses = [r["status"] for r in requests.get(f"{stack.mock_url}/_mock/requests", timeout=60).json()["items"]]
    limits = requests.get(f"{stack.mock_url}/_mock/limits", timeout=60).json()
    return {
        "emails": len(burst_mail),
        "mail_last_left_outbox_seconds": (last_left - first).total_seconds() if first else 0.0,
        "exchange_rate_floor_seconds": 60.0 * max(math.ceil(len(burst_mail) / limits["messages_per_minute"]) - 1, 0),
        "emails_undeliverable": sum(m["status"] == "undeliverable" for m in burst_mail),
        "alert_emails": sum("[support-flows]" in (m["subject"] or "") for m in everything),
        "throttled_answers": statuses.count(429),
    }


REPORTED = (
    "accepted",
    "rejected",
    "accept_seconds",
    "drain_seconds",
    "runs_per_minute",
    "runs_failed",
    "runs_unfinished",
    "tickets_lost",
    "tickets_duplicated",
    "customers_without_email",
    "duplicate_emails",
    "mail_last_left_outbox_seconds",
    "exchange_rate_floor_seconds",
    "emails_undeliverable",
    "alert_emails",
    "throttled_answers",
)


def report(result: dict) -> None:
    for key in REPORTED:
        value = result[key]
        print(f"  {key:24} {value:.1f}" if isinstance(value, float) else f"  {key:24} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triggers", type=int, default=200)
    parser.add_argument("--senders", type=int, default=8, help="concurrent REST clients")
    parser.add_argument("--executor", choices=["local", "local-pg", "celery"], default="local")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    with executor_options(args.executor) as options, bench_stack(**options) as stack:
        result = {"executor": args.executor, **burst(stack, args.triggers, args.senders, args.timeout)}
    print(f"\n{args.triggers} triggers from {args.senders} senders, executor {args.executor}")
    report(result)
    out = write_results(f"burst_{args.executor}", result)
    print(f"wrote {out}")
    if result["tickets_lost"] or result["duplicate_emails"] or result["tickets_duplicated"]:
        sys.exit("tickets were lost or e-mails duplicated")


if __name__ == "__main__":
    main()
