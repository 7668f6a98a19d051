"""The figures of docs/performance.md and docs/capacity.md, rendered from bench/results/*.json: every
table of figures in those files sits between markers naming its block here, so a figure always has
a results file behind it. `python bench/report.py --write` rewrites the blocks after a benchmark
ran; tests/test_performance_doc.py fails when a block differs from its results or a table of
figures has no block."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
DOCS = (DOC, ROOT / "docs" / "capacity.md")
BEGIN = re.compile(r"<!-- bench/report\.py: (\w+) -->")
END = "<!-- end of block -->"


def load(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def s(seconds: float, digits: int = 2) -> str:
    return f"{seconds:.{digits}f} s"


def x(ratio: float, digits: int = 2) -> str:
    return f"{ratio:.{digits}f}x"


def met(ok: bool) -> str:
    return "met" if ok else "missed"


def _parse_rows() -> tuple[list[dict], dict]:
    data = load("parse_cost")
    return [r for r in data["rows"] if not r.get("floor")], data


def targets_issue_6() -> str:
    files, parse = _parse_rows()
    within = [r for r in files if r["ratio_trivial"] <= parse["target"]]
    ratios = [r["ratio_trivial"] for r in files]
    local, celery = load("trigger_latency_local"), load("trigger_latency_celery")
    bursts = [load("burst_local-pg"), load("burst_celery")]
    lost = sum(b["tickets_lost"] for b in bursts)
    failed = sum(b["runs_failed"] for b in bursts)
    scale = load("scheduled_at_scale")["summary"]
    peaks = [v["peak_ratio"] for k, v in scale.items() if isinstance(v, dict)]
    writes = (scale["writes_100000"], scale["writes_10000"])
    return table(
        ["target (issue 6)", "measured", ""],
        [
            [
                f"every DAG file parses within {parse['target']}x a trivial TaskFlow DAG",
                f"{min(ratios):.2f}x to {max(ratios):.2f}x; {len(within)} of {len(files)} files within",
                met(len(within) == len(files)) + ("" if len(within) == len(files) else ", see Parse cost"),
            ],
            [
                "Flow 1 trigger-to-e-mail p50 within 1.5x a trivial one-task DAG",
                f"{x(local['ratio_p50'])} (README stack), {x(celery['ratio_p50'])} (Celery, PostgreSQL)",
                met(max(local["ratio_p50"], celery["ratio_p50"]) <= 1.5),
            ],
            [
                "burst of 200 triggers: tickets lost",
                f"{lost} (and {failed} failed runs) on the LocalExecutor and on Celery",
                met(lost == 0 and failed == 0),
            ],
            [
                "peak memory at 100,000 tickets within 1.2x of 10,000",
                f"{min(peaks):.2f}x to {max(peaks):.2f}x",
                met(max(peaks) <= 1.2),
            ],
            [
                "reporting writes at least half the speed of raw `COPY`",
                f"{writes[0]:.2f}x (100,000 rows), {writes[1]:.2f}x (10,000)",
                met(min(writes) >= 0.5),
            ],
        ],
    )


def targets_issue_11() -> str:
    stack = load("default_stack")
    readme, machine_pg = stack["burst"]["readme_stack"], stack["burst"]["local_machine_pg"]
    local = load("trigger_latency_local")
    floor = stack["floor"]
    clean = readme["tickets_lost"] == readme["runs_failed"] == readme["tickets_duplicated"] == 0
    return table(
        ["target (issue 11: the README stack on embedded PostgreSQL)", "measured", ""],
        [
            [
                "a burst of 200 triggers from 8 clients, each sent once: all accepted, 0 lost, 0 failed, 0 duplicates",
                f"{readme['accepted']} of {readme['triggers']} accepted, {readme['tickets_lost']} lost, "
                f"{readme['runs_failed']} failed, {readme['tickets_duplicated']} duplicate tickets, "
                f"{readme['duplicate_emails']} duplicate e-mails",
                met(clean and readme["accepted"] == readme["triggers"]),
            ],
            [
                "its drain rate at least 0.9x the LocalExecutor on the machine's PostgreSQL",
                f"{x(stack['burst']['drain_rate_ratio'])} ({readme['runs_per_minute']:.1f} against "
                f"{machine_pg['runs_per_minute']:.1f} runs/min)",
                met(stack["burst"]["drain_rate_ratio"] >= 0.9),
            ],
            [
                "Flow 1 trigger-to-e-mail p50 at most 1.5x the trivial DAG",
                f"{x(local['ratio_p50'])} ({s(local['flow1']['p50'])} against {s(local['trivial']['p50'])})",
                met(local["ratio_p50"] <= 1.5),
            ],
            [
                "the trivial DAG's trigger-to-run on the README stack at most 0.8x stock settings",
                f"{x(floor['ratio_p50'])} ({s(floor['tuned']['p50'])} against {s(floor['stock']['p50'])})",
                met(floor["ratio_p50"] <= 0.8),
            ],
            [
                "`run`'s start from an empty state folder, against the SQLite launcher it replaced",
                f"{x(stack['start']['ratio_median'])} "
                f"({', '.join(s(v, 1) for v in stack['start']['embedded_postgres_s'])} against "
                f"{', '.join(s(v, 1) for v in stack['start']['sqlite_before_s'])})",
                "no target; measured",
            ],
        ],
    )


def parse_cost() -> str:
    data = load("parse_cost")
    rows = []
    for r in data["rows"]:
        if r.get("floor") and (r["tasks"] != 1 or r.get("params")):
            continue
        name = "trivial DAG (floor)" if r.get("floor") else r["file"]
        within = r["ratio_same_size"] <= data["target"]
        rows.append(
            [
                name,
                str(r["tasks"]),
                str(r.get("params", 0)),
                f"{r['import_ms']:.1f}",
                f"{r['serialize_ms']:.1f}",
                f"{r['total_ms']:.1f}",
                f"{r['ratio_trivial']:.2f}",
                f"{r['ratio_same_size']:.2f}" + ("" if within else " (over)"),
                f"{r.get('ratio_same_size_best', 1.0):.2f}",
            ]
        )
    return table(
        [
            "DAG file",
            "tasks",
            "Params",
            "import ms",
            "serialize ms",
            "total ms",
            "x trivial",
            f"x same-size trivial (target {data['target']})",
            "fastest / fastest",
        ],
        rows,
    )


def _latency_row(label: str, data: dict) -> list[str]:
    return [
        label,
        s(data["trivial"]["p50"]),
        s(data["trivial"]["p95"]),
        s(data["flow1"]["p50"]),
        s(data["flow1"]["p95"]),
        f"**{data['ratio_p50']:.2f}**",
    ]


def flow1_latency() -> str:
    return table(
        ["stack", "trivial p50", "trivial p95", "Flow 1 p50", "Flow 1 p95", "p50 ratio"],
        [
            _latency_row("README stack (LocalExecutor, embedded PostgreSQL)", load("trigger_latency_local")),
            _latency_row("production shape (Celery, 2 workers, PostgreSQL, Redis)", load("trigger_latency_celery")),
        ],
    )


def devices() -> str:
    rows = []
    for run in load("trigger_latency_devices")["runs"]:
        to_mail = run["phases_median"]["flow 1 answer_or_queue: start to e-mail"]
        rows.append(
            [
                run["what"].split(";")[0],
                s(run["trivial"]["p50"]),
                s(run["flow1"]["p50"]),
                s(run["flow1"]["p95"]),
                s(to_mail),
                f"{run['ratio_p50']:.2f}",
            ]
        )
    return table(
        ["Flow 1's task", "trivial p50", "Flow 1 p50", "Flow 1 p95", "task start to e-mail (median)", "p50 ratio"],
        rows,
    )


def _burst_row(label: str, b: dict) -> list[str]:
    duplicates = b.get("tickets_duplicated", 0) + b.get("duplicate_emails", 0)
    return [
        label,
        s(b["accept_seconds"], 1),
        f"{b['drain_seconds']:.0f} s",
        f"{b['runs_per_minute']:.1f}",
        str(b["runs_failed"]),
        str(b["tickets_lost"]),
        str(duplicates),
    ]


BURST_HEADER = [
    "stack",
    "all 200 accepted in",
    "drained in",
    "runs/min",
    "failed runs",
    "tickets lost",
    "duplicate tickets or e-mails",
]


def burst() -> str:
    return table(
        BURST_HEADER,
        [
            _burst_row("LocalExecutor, PostgreSQL metadata", load("burst_local-pg")),
            _burst_row("Celery, 2 workers, PostgreSQL, Redis", load("burst_celery")),
        ],
    )


def burst_readme() -> str:
    stack = load("default_stack")["burst"]
    return table(
        BURST_HEADER,
        [
            _burst_row("README stack (`run`: embedded PostgreSQL, LocalExecutor)", stack["readme_stack"]),
            _burst_row("the same launcher on the machine's PostgreSQL 15", stack["local_machine_pg"]),
        ],
    )


def key_flood() -> str:
    d = load("key_flood")
    return table(
        ["", "p50", "p95"],
        [
            ["idle", s(d["idle_p50_s"], 3), s(d["idle_p95_s"], 3)],
            [f"under the flood ({d['flood_seconds']:.1f} s)", s(d["flood_p50_s"], 3), s(d["flood_p95_s"], 3)],
            [
                f"ratio (issue 20's target: p50 at most {d['target_p50_ratio']:g}x)",
                x(d["p50_ratio"]),
                x(d["p95_ratio"]),
            ],
        ],
    )


def hostile_bodies() -> str:
    d = load("hostile_bodies")

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.0f} ms"

    rows = [
        [
            name,
            ", ".join(str(status) for status in row["statuses"]),
            ms(row["p50_s"]),
            ms(row["p95_s"]),
            x(row["p95_ratio"]),
            ms(row["health_p95_s"]),
        ]
        for name, row in d["rows"].items()
    ]
    rows.append(["the health probe, idle", "", "", "", "", ms(d["idle_health_p95_s"])])
    return table(["256 KiB body, no credentials", "answers", "p50", "p95", "p95 x good body", "health probe p95"], rows)


def one_call() -> str:
    d = load("one_call")

    def ms(v: float) -> str:
        return f"{v * 1000:.0f} ms"

    return table(
        ["", "p50", "p95"],
        [
            ["one call, Flow 1", ms(d["one_call_flow1_p50_s"]), ms(d["one_call_flow1_p95_s"])],
            ["one call, trivial DAG", ms(d["one_call_trivial_p50_s"]), ms(d["one_call_trivial_p95_s"])],
            ["three actions with a 1 s timer", ms(d["three_actions_p50_s"]), ms(d["three_actions_p95_s"])],
        ],
    )


def one_call_targets() -> str:
    d = load("one_call")
    t = d["targets"]
    answers = ", ".join(f"{n} {state}" for state, n in d["burst_answers"].items())
    burst_ok = d["burst_outcomes"] == d["burst_calls"] and d["burst_lost"] == 0 and d["burst_duplicate_runs"] == 0
    return table(
        ["target (issue 23)", "measured", ""],
        [
            [
                f"one call on Flow 1 at most {t['p95_ratio_flow1_to_trivial']}x the trivial DAG at p95",
                x(d["p95_ratio_flow1_to_trivial"]),
                met(d["p95_ratio_flow1_to_trivial"] <= t["p95_ratio_flow1_to_trivial"]),
            ],
            [
                f"one call wins over three actions with a 1 s timer by at least {t['median_win_over_three_actions_s']:g} s at the median",
                s(d["median_win_over_three_actions_s"]),
                met(d["median_win_over_three_actions_s"] >= t["median_win_over_three_actions_s"]) + ": see below",
            ],
            [
                f"a burst of {d['burst_calls']} one-call requests from {d['burst_clients']} clients: every outcome, 0 lost, 0 duplicates",
                f"{d['burst_outcomes']} outcomes ({answers}), {d['burst_lost']} lost, {d['burst_duplicate_runs']} "
                f"duplicate runs, {d['burst_tickets_created']} tickets and {d['burst_customer_emails']} customer "
                f"e-mails, in {d['burst_wall_s']:.2f} s",
                met(burst_ok),
            ],
            [
                f"the API server's other answers (`/api/v2/monitor/health`) during the burst within {t['health_ratio_p50']:g}x idle",
                f"p50 {d['health_burst_p50_s'] * 1000:.0f} ms against {d['health_idle_p50_s'] * 1000:.0f} ms "
                f"({x(d['health_ratio_p50'])}; p95 {d['health_burst_p95_s'] * 1000:.0f} ms)",
                met(d["health_ratio_p50"] <= t["health_ratio_p50"]),
            ],
        ],
    )


def scheduler_loop() -> str:
    floor = load("default_stack")["floor"]
    rows = []
    for key, label in (("stock", "Airflow's default"), ("tuned", "`run`")):
        f = floor[key]
        sleep = f["settings"]["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"]
        cpu = f["idle_cpu_seconds_per_minute"]
        rows.append(
            [f"{sleep} s ({label})", s(f["p50"]), s(f["p95"]), f"{cpu:.1f} s per minute ({cpu / 60:.0%} of a core)"]
        )
    return table(["`scheduler_idle_sleep_time`", "p50", "p95", "scheduler and workers' CPU while idle"], rows)


def scale() -> str:
    d = load("scheduled_at_scale")
    small, large = (d["results"][str(n)]["dags"] for n in d["sizes"])
    rows = []
    for dag_id in small:
        ratios = d["summary"][dag_id]
        rows.append(
            [
                dag_id,
                s(small[dag_id]["seconds"], 1),
                f"{small[dag_id]['peak_rss_mib']:.0f} MiB",
                s(large[dag_id]["seconds"], 1),
                f"{large[dag_id]['peak_rss_mib']:.0f} MiB",
                f"{ratios['peak_ratio']:.2f}",
                f"{ratios['working_set_ratio']:.2f}",
            ]
        )
    a, b = (f"{n:,}" for n in d["sizes"])
    return table(["DAG", f"{a}: time", "peak", f"{b}: time", "peak", "peak ratio", 'above "before", ratio'], rows)


def writes() -> str:
    d = load("scheduled_at_scale")
    rows = []
    for n in d["sizes"]:
        w = d["results"][str(n)]["writes"]

        def rate(v: float) -> str:
            return f"{round(v, -3):,.0f} rows/s"

        rows.append(
            [
                f"{w['rows']:,}",
                rate(w["upsert_rows_per_second"]),
                rate(w["copy_rows_per_second"]),
                f"**{w['ratio_upsert_to_copy']:.2f}**",
                rate(w["upsert_again_rows_per_second"]),
            ]
        )
    return table(["rows", "upsert", "raw COPY", "ratio", "the same rows again (nothing changes)"], rows)


def _mib(value: float) -> str:
    return f"{value:,.0f} MiB"


def soak() -> str:
    """The busy day of bench/soak.py, per stack it ran on."""
    rows = []
    for name, label in (
        ("soak_local", "README stack (LocalExecutor, embedded PostgreSQL)"),
        ("soak_celery", "Celery, 2 workers"),
    ):
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        d = load(name)
        p95s = [w["one_call_p95_s"] for w in d["api_p95_by_window"] if w["one_call_p95_s"] is not None]
        first, last = d["samples"][0]["rss_mib"], d["samples"][-1]["rss_mib"]
        growth = sum(last.values()) - sum(first.values())
        rows.append(
            [
                label,
                f"{d['tickets']:,} in {d['real_seconds'] / 60:.0f} min",
                f"{d['tickets_lost']} / {d['lifecycle_incomplete']} / {d['duplicate_emails']}",
                f"{min(p95s):.2f}-{max(p95s):.2f} s" if p95s else "-",
                f"{sum(first.values()):,.0f} -> {sum(last.values()):,.0f} MiB ({growth:+,.0f})",
                f"{d['metadata_mib']['per_1000_tickets']:.1f} MiB; {d['metadata_mib']['after_retention_clean_and_vacuum_full']:.1f} MiB after",
                f"{d['cpu_seconds_per_ticket']:.2f} s ({d['cpu_seconds_per_ticket_beyond_idle']:.2f} beyond idle)",
                f"{d['trivial_cpu_seconds_per_run_beyond_idle'] * d['runs_per_ticket']:.2f} s ({d['runs_per_ticket']:.1f} runs)",
            ]
        )
    return table(
        [
            "stack",
            "tickets",
            "lost / lifecycle incomplete / duplicate e-mails",
            "one call p95, per window",
            "RSS of all processes, first -> last sample",
            "metadata per 1,000 tickets; whole database after the retention job",
            "CPU per ticket",
            "trivial runs, CPU per ticket's worth",
        ],
        rows,
    )


def soak_schedules() -> str:
    d = load("soak_local")
    return table(
        ["scheduled DAG during the day", "runs", "latest start after its interval", "failed"],
        [
            [dag, str(d[key]["runs"]), s(d[key]["max_start_delay_s"] or 0, 1), str(d[key]["failed"])]
            for dag, key in (("support_sla_watch", "sla_watch"), ("support_error_log", "error_log"))
        ],
    )


def burst_exchange() -> str:
    b = load("burst_local")
    return table(
        [
            "burst (README stack)",
            "accepted",
            "drained",
            "failed runs",
            "customers mailed once",
            "last e-mail left the Outbox",
            "the rate's floor",
            "429s",
            "alert e-mails",
        ],
        [
            [
                f"{b['triggers']} new tickets from {b['senders']} clients",
                f"{b['accepted']} in {b['accept_seconds']:.0f} s",
                f"{b['drain_seconds']:.0f} s",
                str(b["runs_failed"]),
                f"{b['accepted'] - b['customers_without_email']} of {b['accepted']} ({b['duplicate_emails']} duplicates)",
                f"{b['mail_last_left_outbox_seconds']:.0f} s",
                f"{b['exchange_rate_floor_seconds']:.0f} s",
                str(b["throttled_answers"]),
                str(b["alert_emails"]),
            ]
        ],
    )


PEAK_HOUR_SHARE = 0.12  # the busiest desk hour's share of the day's tickets (bench/soak.py: 80 % in 10 hours, uneven)
CPU_HEADROOM = 0.7  # the share of the cores the flows may use in the busiest hour
EXCHANGE_PER_MINUTE, EXCHANGE_RECIPIENTS_PER_DAY = 30, 10_000


def capacity_inputs() -> dict:
    """What the model takes from the measurements: per ticket CPU, e-mails and runs; the drain rates."""
    d, local, celery = load("soak_local"), load("burst_local"), load("burst_celery")
    return {
        "cores": d["machine"]["cpus"],
        "cpu_per_ticket": d["cpu_seconds_per_ticket_beyond_idle"],
        "celery_cpu_per_ticket": load("soak_celery")["cpu_seconds_per_ticket_beyond_idle"],
        "emails_per_ticket": d["emails"] / d["tickets"],
        "runs_per_ticket": d["runs_per_ticket"],
        "local_runs_per_minute": local["runs_per_minute"],
        "celery_runs_per_minute": celery["runs_per_minute"],
    }


def capacity_model() -> str:
    """Tickets a day each shape carries before its first limit, from the measured per-ticket costs."""
    m = capacity_inputs()
    hour = 3600 * CPU_HEADROOM

    def per_day(per_peak_hour: float) -> float:
        return per_peak_hour / PEAK_HOUR_SHARE

    exchange_rate = per_day(EXCHANGE_PER_MINUTE * 60 / m["emails_per_ticket"])
    exchange_daily = EXCHANGE_RECIPIENTS_PER_DAY / m["emails_per_ticket"]
    shapes = [
        (
            "README stack (1 machine, 2 cores, LocalExecutor)",
            m["cores"],
            m["cpu_per_ticket"],
            m["local_runs_per_minute"],
            1,
            "measured",
        ),
        (
            "Celery, 2 workers on the same 2 cores",
            m["cores"],
            m["celery_cpu_per_ticket"],
            m["celery_runs_per_minute"],
            1,
            "measured",
        ),
        (
            "Celery or Helm, 4 worker cores beside the scheduler's machine, 2 mailboxes",
            4 + m["cores"],
            m["celery_cpu_per_ticket"],
            m["local_runs_per_minute"],
            2,
            "estimated from the Celery day",
        ),
    ]
    rows = []
    for label, cores, cpu_per_ticket, runs_per_minute, mailboxes, how in shapes:
        limits = {
            "CPU": per_day(cores * hour / cpu_per_ticket),
            "the scheduler loop (runs drained)": per_day(runs_per_minute * 60 / m["runs_per_ticket"]),
            "Exchange: 30 messages a minute": exchange_rate * mailboxes,
            "Exchange: 10,000 recipients a day": exchange_daily * mailboxes,
        }
        first = min(limits, key=limits.get)
        rows.append(
            [label, how]
            + [f"{value:,.0f}" + (" **(first)**" if name == first else "") for name, value in limits.items()]
        )
    return table(["shape", "figures", "CPU", "scheduler loop", "Exchange rate", "Exchange daily recipients"], rows) + (
        f"\n\nInputs (bench/results/soak_local.json, soak_celery.json, burst_local.json, burst_celery.json):"
        f" {m['cpu_per_ticket']:.2f} CPU s per ticket beyond idle on the README stack, {m['celery_cpu_per_ticket']:.2f} on"
        f" Celery, {m['emails_per_ticket']:.2f} e-mails and {m['runs_per_ticket']:.2f} DAG runs per ticket,"
        f" drains of {m['local_runs_per_minute']:.0f} (README stack) and {m['celery_runs_per_minute']:.0f} (Celery) runs a"
        f" minute; the busiest hour carries {PEAK_HOUR_SHARE:.0%} of the day and may use {CPU_HEADROOM:.0%} of the cores."
    )


BLOCKS: dict[str, Callable[[], str]] = {
    "capacity_model": capacity_model,
    "soak": soak,
    "soak_schedules": soak_schedules,
    "burst_exchange": burst_exchange,
    "targets_issue_6": targets_issue_6,
    "targets_issue_11": targets_issue_11,
    "parse_cost": parse_cost,
    "flow1_latency": flow1_latency,
    "devices": devices,
    "burst": burst,
    "burst_readme": burst_readme,
    "key_flood": key_flood,
    "hostile_bodies": hostile_bodies,
    "one_call": one_call,
    "one_call_targets": one_call_targets,
    "scheduler_loop": scheduler_loop,
    "scale": scale,
    "writes": writes,
}


def blocks_in(text: str) -> list[tuple[str, int, int]]:
    """(block name, start, end) of each generated block's body in ``text``."""
    found = []
    for match in BEGIN.finditer(text):
        end = text.index(END, match.end())
        found.append((match[1], match.end(), end))
    return found


def rendered(text: str) -> str:
    """``text`` with every block rendered afresh from the results."""
    out, at = [], 0
    for name, start, end in blocks_in(text):
        if name not in BLOCKS:
            raise SystemExit(f"a document names a block {name!r} that bench/report.py does not render")
        out += [text[at:start], "\n", BLOCKS[name](), "\n"]
        at = end
    return "".join([*out, text[at:]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--write", action="store_true", help="rewrite the blocks of docs/performance.md and docs/capacity.md"
    )
    args = parser.parse_args(argv)
    for doc in DOCS:
        new = rendered(doc.read_text())
        if args.write:
            doc.write_text(new)
        else:
            sys.stdout.write(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
