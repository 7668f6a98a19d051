"""The README's stack as `run` starts it (embedded PostgreSQL, tuned scheduler loop), each figure
as a ratio to a floor measured in the same run:

- start: `python3 scripts/dev.py run` from an empty state folder until it prints its addresses,
  against the SQLite launcher it replaced (commit BEFORE, checked out beside this one);
- floor: the trivial one-task DAG's trigger-to-run latency on the README stack, against the same
  stack with Airflow's stock scheduler settings; and the scheduler's idle CPU with each;
- burst: 200 triggers from 8 clients, each sent once (no client retry), against the README stack
  and against the LocalExecutor on the machine's PostgreSQL (127.0.0.1:5432): accepted, lost,
  failed, duplicated, and the drain rate as a ratio.

    .venv/bin/python bench/default_stack.py [--part start|floor|burst|all] [--rounds 2] [--triggers 20]

Writes bench/results/default_stack.json. Flow 1's trigger-to-e-mail latency against the floor is
bench/trigger_latency.py (its "local" stack is this one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from benchstack import ROOT, Client, Stack, bench_stack, executor_options, percentile, write_results
from burst import burst, report
from trigger_latency import floor_latency

from support_flows_dev.devstack import SCHEDULER_TUNING, STOCK_SCHEDULER, free_port

BEFORE = "96d2002"  # the last commit whose `run` used SQLite


def _run_until_ready(command: list[str], cwd: Path, timeout: float = 300) -> float:
    """Seconds from starting ``command`` in an empty state folder until it prints its addresses."""
    state = Path(tempfile.mkdtemp(prefix="support-bench-start-"))
    env = {
        **os.environ,
        "SUPPORT_STATE_DIR": str(state),
        "SUPPORT_VENV": sys.prefix,
        "SUPPORT_AIRFLOW_PORT": str(free_port()),
        "SUPPORT_MOCK_PORT": str(free_port()),
        "SUPPORT_MOCK_TLS_PORT": str(free_port()),
    }
    out = state.parent / f"{state.name}.out"
    started = time.monotonic()
    with open(out, "wb") as sink:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        while "Ctrl-C" not in out.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() - started > timeout:
                raise RuntimeError(f"{command} did not start:\n{out.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        return time.monotonic() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(120)
        shutil.rmtree(state, ignore_errors=True)
        out.unlink(missing_ok=True)


def start_times(rounds: int) -> dict:
    before = Path(tempfile.mkdtemp(prefix="support-bench-before-")) / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(before), BEFORE], cwd=ROOT, check=True, capture_output=True
    )
    try:
        now, sqlite = [], []
        for n in range(rounds):
            now.append(_run_until_ready([sys.executable, str(ROOT / "scripts" / "dev.py"), "run"], ROOT))
            sqlite.append(_run_until_ready([sys.executable, str(before / "scripts" / "devstack.py"), "run"], before))
            print(
                f"  start {n + 1}/{rounds}: embedded PostgreSQL {now[-1]:.1f}s, SQLite (before) {sqlite[-1]:.1f}s",
                flush=True,
            )
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)
    ratio = statistics.median(now) / statistics.median(sqlite)
    print(
        f"start from an empty state folder: {statistics.median(now):.1f}s vs {statistics.median(sqlite):.1f}s "
        f"on SQLite = {ratio:.2f}x"
    )
    return {"embedded_postgres_s": now, "sqlite_before_s": sqlite, "ratio_median": ratio}


def _trivial_latencies(stack: Stack, triggers: int) -> list[float]:
    admin = Client(stack, "admin")
    values = []
    for n in range(triggers + 2):
        seconds, _ = floor_latency(admin)
        if n >= 2:  # two untimed warm-up runs
            values.append(seconds)
        time.sleep(0.3)  # let the scheduler go idle, as between two PowerApps calls
    return values


def _idle_cpu_seconds(stack: Stack, seconds: float = 30) -> float:
    """CPU seconds the scheduler (and its executor workers) used per minute while nothing ran."""
    scheduler = psutil.Process(stack.components["scheduler"].pid)

    def used() -> float:
        total = 0.0
        for process in [scheduler, *scheduler.children(recursive=True)]:
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    time.sleep(5)
    first = used()
    time.sleep(seconds)
    return (used() - first) * 60 / seconds


def floor(triggers: int) -> dict:
    result = {}
    for label, settings in (("tuned", SCHEDULER_TUNING), ("stock", STOCK_SCHEDULER)):
        with bench_stack(extra_env=settings) as stack:
            values = _trivial_latencies(stack, triggers)
            idle = _idle_cpu_seconds(stack)
        result[label] = {
            "settings": settings,
            "p50": statistics.median(values),
            "p95": percentile(values, 95),
            "samples": values,
            "idle_cpu_seconds_per_minute": idle,
        }
        print(
            f"  {label}: trivial DAG trigger->run p50 {result[label]['p50']:.2f}s, p95 {result[label]['p95']:.2f}s; "
            f"scheduler idle CPU {idle:.1f} s/min",
            flush=True,
        )
    result["ratio_p50"] = result["tuned"]["p50"] / result["stock"]["p50"]
    print(f"floor, README stack / stock settings: p50 {result['ratio_p50']:.2f}x")
    return result


def bursts(triggers: int, senders: int) -> dict:
    result = {}
    for label, executor in (("readme_stack", "local"), ("local_machine_pg", "local-pg")):
        with executor_options(executor) as options, bench_stack(**options) as stack:
            result[label] = burst(stack, triggers, senders, retry=False)
        print(f"{label}:")
        report(result[label])
    result["drain_rate_ratio"] = (
        result["readme_stack"]["runs_per_minute"] / result["local_machine_pg"]["runs_per_minute"]
    )
    print(f"drain rate, README stack / LocalExecutor on the machine's PostgreSQL: {result['drain_rate_ratio']:.2f}x")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["start", "floor", "burst", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=2, help="starts of each launcher")
    parser.add_argument("--triggers", type=int, default=20, help="trivial-DAG triggers per floor")
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    out = ROOT / "bench" / "results" / "default_stack.json"
    result = json.loads(out.read_text()) if out.exists() else {}
    result.pop("machine", None)
    if args.part in ("start", "all"):
        result["start"] = start_times(args.rounds)
    if args.part in ("floor", "all"):
        result["floor"] = floor(args.triggers)
    if args.part in ("burst", "all"):
        result["burst"] = bursts(args.burst, args.senders)
    print(f"wrote {write_results('default_stack', result)}")


if __name__ == "__main__":
    main()
