"""Flow 1 latency: from the REST trigger (as PowerApps sends it) to the customer's e-mail arriving in
the mock's outbox, against the floor: a trivial one-task DAG on the same stack, from its trigger
to the moment its task ran. Triggers alternate between the two, one at a time, so both see the
same machine; p50 and p95 over ``--triggers`` each (issue 6's target: Flow 1 p50 within 1.5x).

    .venv/bin/python bench/trigger_latency.py [--triggers 25] [--executor local|local-pg|celery]

Writes bench/results/trigger_latency.json and docs/img/trigger_latency.png.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from benchstack import TRIVIAL_DAG_ID, Client, bench_stack, executor_options, mock_mail, percentile, write_results
from plots import draw

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.5


def ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def phases(client: Client, dag_id: str, run_id: str, started: float) -> dict[str, float]:
    """Where the time went, from the task instances' own timestamps: for each task, the wait
    before it started (since the trigger or the previous task's end) and how long it ran."""
    url = f"{client.base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
    tis = sorted(client.session.get(url, timeout=30).json()["task_instances"], key=lambda ti: ti["start_date"])
    out, previous_end = {}, started
    for ti in tis:
        out[f"{ti['task_id']}: wait"] = ts(ti["start_date"]) - previous_end
        out[f"{ti['task_id']}: run"] = ts(ti["end_date"]) - ts(ti["start_date"])
        previous_end = ts(ti["end_date"])
    return out


def flow1_latency(
    client: Client, stack, n: int, known_mail: int, reader: Client | None = None
) -> tuple[float, int, dict]:
    """Seconds from the trigger to the customer's e-mail, how many e-mails the outbox then holds,
    and the run's phases (read by ``reader``: the PowerApps role may not read task instances)."""
    email = f"latency-{n}@example.org"
    conf = {
        "customer_name": "Latency Probe",
        "customer_email": email,
        "subject": "Cannot log in",
        "description": "My password stopped working.",
        "request_id": f"latency-{n}",
    }
    started = time.time()
    response = client.trigger("support_ticket_created", conf)
    response.raise_for_status()
    run_id = response.json()["dag_run_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        mail = mock_mail(stack)
        mine = [m for m in mail[known_mail:] if email in m["to"]]
        if mine:
            received = ts(mine[0]["received_at"])
            client.wait("support_ticket_created", run_id)  # let the run finish before the next trigger
            split = phases(reader or client, "support_ticket_created", run_id, started)
            # our own code's share, without the scheduler's wait: from the task's start to the e-mail
            split["answer_or_queue: start to e-mail"] = received - started - split["answer_or_queue: wait"]
            return received - started, len(mock_mail(stack)), split
        time.sleep(0.05)
    raise TimeoutError(f"no e-mail for trigger {n} ({run_id})")


def floor_latency(client: Client) -> tuple[float, dict]:
    started = time.time()
    response = client.trigger(TRIVIAL_DAG_ID, {})
    response.raise_for_status()
    run_id = response.json()["dag_run_id"]
    if client.wait(TRIVIAL_DAG_ID, run_id, timeout=120) != "success":
        raise RuntimeError(f"the trivial DAG failed ({run_id})")
    ran_at = client.output(TRIVIAL_DAG_ID, run_id, "ran_at")
    split = phases(client, TRIVIAL_DAG_ID, run_id, started)
    split["ran_at: start to body"] = ran_at - started - split["ran_at: wait"]
    return ran_at - started, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triggers", type=int, default=25)
    parser.add_argument("--executor", choices=["local", "local-pg", "celery"], default="local")
    parser.add_argument("--warmup", type=int, default=3, help="untimed triggers of each first")
    args = parser.parse_args()

    with executor_options(args.executor) as options, bench_stack(**options) as stack:
        client, admin = Client(stack), Client(stack, "admin")  # PowerApps may trigger only the event DAGs
        for n in range(args.warmup):
            floor_latency(admin)
            _, known, _ = flow1_latency(client, stack, -1 - n, 0, admin)
        floor, flow1, breakdown = [], [], {}
        for n in range(args.triggers):
            seconds, split = floor_latency(admin)
            floor.append(seconds)
            for phase, value in split.items():
                breakdown.setdefault(f"trivial {phase}", []).append(value)
            seconds, known, split = flow1_latency(client, stack, n, known, admin)
            flow1.append(seconds)
            for phase, value in split.items():
                breakdown.setdefault(f"flow 1 {phase}", []).append(value)
            print(f"  {n + 1:3d}/{args.triggers}: trivial {floor[-1]:.2f}s  flow 1 {flow1[-1]:.2f}s", flush=True)

    summary = {}
    for name, values in (("trivial", floor), ("flow1", flow1)):
        summary[name] = {
            "p50": statistics.median(values),
            "p95": percentile(values, 95),
            "min": min(values),
            "max": max(values),
            "samples": values,
        }
    ratio = summary["flow1"]["p50"] / summary["trivial"]["p50"]
    print(f"\n{'':24} {'p50 s':>7} {'p95 s':>7} {'min s':>7} {'max s':>7}")
    for name, label in (("trivial", "trivial one-task DAG"), ("flow1", "Flow 1 trigger->e-mail")):
        s = summary[name]
        print(f"{label:24} {s['p50']:7.2f} {s['p95']:7.2f} {s['min']:7.2f} {s['max']:7.2f}")
    print("\nmedian phases (task instance timestamps):")
    for phase, values in breakdown.items():
        print(f"  {phase:40} {statistics.median(values):6.2f}s")
    verdict = "meets" if ratio <= TARGET else "misses"
    print(
        f"Flow 1 p50 / floor p50 = {ratio:.2f} ({verdict} the {TARGET}x target); "
        f"p95 ratio {summary['flow1']['p95'] / summary['trivial']['p95']:.2f}; "
        f"{args.triggers} triggers each, executor {args.executor}"
    )
    result = {
        "executor": args.executor,
        "triggers": args.triggers,
        "ratio_p50": ratio,
        **summary,
        "phases_median": {k: statistics.median(v) for k, v in breakdown.items()},
    }
    out = write_results(f"trigger_latency_{args.executor}", result)
    png = draw(out.stem, result)
    print(f"wrote {out.relative_to(ROOT)} and {png.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
