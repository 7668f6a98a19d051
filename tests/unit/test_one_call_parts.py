"""The one-call API's parts that need no Airflow: how waiting calls share one poller, and how an
idempotency key names a run."""

from __future__ import annotations

import asyncio
import threading

import pytest

from support_flows.server import flow_calls


class Runs:
    """Run states as the metadata database would answer them, counting each read."""

    def __init__(self):
        self.states: dict[tuple[str, str], str] = {}
        self.reads: list[list[tuple[str, str]]] = []
        self.threads: set[int] = set()

    def read(self, runs):
        self.reads.append(sorted(runs))
        self.threads.add(threading.get_ident())
        return {run: self.states.get(run, "running") for run in runs}


def test_many_waiting_calls_share_one_query_per_round_and_wake_when_their_run_ends():
    runs = Runs()
    watch = flow_calls.RunWatch(poll_seconds=0.01, reader=runs.read)
    keys = [("support_ticket_created", f"run-{n}") for n in range(200)]

    async def scenario():
        waiting = [asyncio.create_task(watch.finished(*key, timeout=5)) for key in keys]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in waiting)
        for key in keys[:100]:
            runs.states[key] = "success"
        runs.states[keys[100]] = "failed"
        done = await asyncio.gather(*waiting[:101])
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in waiting[101:])  # still going: still waiting
        for task in waiting[101:]:
            task.cancel()
        return done

    done = asyncio.run(scenario())
    assert done == ["success"] * 100 + ["failed"]
    # every round read all 200 runs in one call, from a worker thread (never one thread per call)
    assert all(len(read) == 200 for read in runs.reads[:3]) and len(runs.threads) <= 2
    assert len(runs.reads) < 100


def test_a_call_that_runs_out_of_time_gets_none_and_the_poller_stops_when_nobody_waits():
    runs = Runs()
    watch = flow_calls.RunWatch(poll_seconds=0.01, reader=runs.read)

    async def scenario():
        assert await watch.finished("support_ticket_created", "slow", timeout=0.05) is None
        await asyncio.sleep(0.05)
        return watch._poller.done(), watch._waiting

    stopped, waiting = asyncio.run(scenario())
    assert stopped and waiting == {}
    reads = len(runs.reads)
    assert reads >= 1


def test_the_database_away_for_a_moment_keeps_calls_waiting_not_failing():
    runs, failures = Runs(), [2]

    def flaky(keys):
        if failures[0]:
            failures[0] -= 1
            raise ConnectionError("database restarting")
        return runs.read(keys)

    runs.states[("support_ticket_created", "r")] = "success"
    watch = flow_calls.RunWatch(poll_seconds=0.01, reader=flaky)
    assert asyncio.run(watch.finished("support_ticket_created", "r", timeout=2)) == "success"


def test_an_idempotency_key_names_one_run_per_user_and_flow():
    one = flow_calls.run_id_for("powerapps", "support_ticket_created", "k-1")
    assert one == flow_calls.run_id_for("powerapps", "support_ticket_created", "k-1")
    others = {
        flow_calls.run_id_for("someone", "support_ticket_created", "k-1"),
        flow_calls.run_id_for("powerapps", "support_ticket_resolved", "k-1"),
        flow_calls.run_id_for("powerapps", "support_ticket_created", "k-2"),
    }
    assert one not in others and len(others) == 3
    assert one.startswith(flow_calls.RUN_ID_PREFIX) and len(one) < 250  # Airflow's run id column


@pytest.mark.parametrize("text", ["-1", "101", "nan", "soon", "inf"])
def test_wait_seconds_out_of_range_is_refused_naming_it(text):
    from fastapi import HTTPException
    from starlette.requests import Request

    request = Request({"type": "http", "query_string": f"wait_seconds={text}".encode(), "headers": []})
    with pytest.raises(HTTPException) as refused:
        flow_calls._wait_seconds(request)
    assert refused.value.status_code == 400 and "wait_seconds" in refused.value.detail
