"""The DAG folder as the dag-processor sees it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CONTRACT_DAGS = {
    "support_ticket_created",
    "support_ticket_assigned",
    "support_auto_assign",
    "support_ticket_resolved",
    "support_escalate_stale_tickets",
    "support_daily_summary",
    "support_feedback_received",
}


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_one_dag_per_file_named_after_its_dag_id(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.fileloc.endswith(f"/{dag_id}.py"), (dag_id, dag.fileloc)


def test_the_contract_dags_that_exist_so_far_are_well_formed(dagbag):
    present = CONTRACT_DAGS & set(dagbag.dag_ids)
    assert {
        "support_ticket_created",
        "support_ticket_assigned",
        "support_ticket_resolved",
        "support_feedback_received",
    } <= present


@pytest.mark.parametrize("attribute", ["owner", "tags", "retries", "doc"])
def test_every_dag_has_owner_tags_retries_and_doc(dagbag, attribute):
    for dag_id, dag in dagbag.dags.items():
        if attribute == "owner":
            assert dag.owner and dag.owner != "airflow", dag_id
        elif attribute == "tags":
            assert "support" in dag.tags and any(t.startswith("flow-") for t in dag.tags), dag_id
        elif attribute == "retries":
            assert all(task.retries >= 3 for task in dag.tasks), dag_id
        else:
            assert dag.doc_md and "**Outputs**" in dag.doc_md and "**Rerun**" in dag.doc_md, dag_id


def test_every_dag_is_unpaused_on_creation(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.is_paused_upon_creation is False, dag_id


def test_every_rest_field_is_a_param_with_title_description_and_schema(dagbag):
    from support_flows.authoring.catalog import DAGS

    for dag_id in [d.dag_id for d in DAGS.values() if d.params]:
        if dag_id not in dagbag.dags:
            continue
        for name, param in dagbag.dags[dag_id].params.items():
            param = dagbag.dags[dag_id].params.get_param(name)
            assert param.schema.get("title") and param.description, (dag_id, name)
            assert param.schema.get("type"), (dag_id, name)


def test_parsing_needs_no_connection_and_no_variable(monkeypatch, airflow_db):
    """The dag-processor parses without secrets: nothing at a DAG file's top level reads them."""
    import os

    from airflow.dag_processing.dagbag import DagBag

    for name in list(os.environ):
        if name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_")):
            monkeypatch.delenv(name)
    from pathlib import Path

    assert DagBag(str(Path(__file__).resolve().parents[2] / "dags")).import_errors == {}


# Every task that sends from the support mailbox (Mailer / GraphClient.send_mail on it)
SENDS_FROM_THE_MAILBOX = {
    ("support_ticket_created", "answer_or_queue"),
    ("support_customer_replied", "hand_to_agent"),
    ("support_ticket_assigned", "notify_agent"),
    ("support_auto_assign", "resume_stranded_tickets"),  # Flow 1's e-mails for tickets an outage left
    ("support_auto_assign", "assign_ticket"),
    ("support_ticket_resolved", "notify_customer"),
    ("support_ticket_resolved", "send_survey"),
    ("support_close_ai_answers", "survey_ai_resolved"),  # the survey for AI answers
    ("support_ticket_lifecycle", "follow_up_pending"),  # the reminder and the resolution's e-mail
    ("support_escalate_stale_tickets", "remind_agents"),
    ("support_escalate_stale_tickets", "tell_supervisors"),
    ("support_sla_watch", "remind_agents"),  # the same steps every 15 minutes
    ("support_sla_watch", "tell_supervisors"),
    ("support_daily_summary", "email_admins"),
    ("support_feedback_received", "thank_customer"),
    ("support_error_log", "send_pending_alerts"),
    ("support_error_log", "warn_of_mail_budget"),  # its warning is an alert e-mail
}


def test_tasks_that_send_from_the_mailbox_share_its_pool(dagbag):
    """Graph allows 4 concurrent requests per mailbox: these tasks, and only these, take a slot of
    the mailbox's pool (support_flows.authoring.pools)."""
    from support_flows.authoring.pools import SENDER_MAILBOX_POOL

    pooled = {
        (dag.dag_id, task.task_id)
        for dag in dagbag.dags.values()
        for task in dag.tasks
        if task.pool == SENDER_MAILBOX_POOL
    }
    assert pooled == SENDS_FROM_THE_MAILBOX


def test_the_catalog_lists_exactly_the_dags_in_the_folder_with_their_tags(dagbag):
    from support_flows.authoring.catalog import DAGS

    assert set(DAGS) == set(dagbag.dag_ids)
    for dag_id, entry in DAGS.items():
        assert set(dagbag.dags[dag_id].tags) == set(entry.tags), dag_id
        assert set(dagbag.dags[dag_id].params) == set(entry.params() if entry.params else ())
        # every event DAG marks its result task the Airflow way (the task its @dag function returns:
        # what /wait and the one-call API answer)
        marked = [t.task_id for t in dagbag.dags[dag_id].tasks if getattr(t, "returns_dag_result", False)]
        assert len(marked) == (1 if entry.kind == "event" else len(marked)) <= 1, (dag_id, marked)


def test_the_readmes_table_of_flows_is_the_catalogs():
    from pathlib import Path

    from support_flows.authoring.catalog import flows_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert flows_table() in readme, "regenerate it: python -m support_flows.authoring.catalog"


def test_the_powerapps_guides_payload_table_is_the_catalogs():
    from pathlib import Path

    from support_flows.authoring.catalog import conf_table

    guide = (Path(__file__).resolve().parents[2] / "docs" / "powerapps.md").read_text()
    assert conf_table() in guide, "regenerate it: python -m support_flows.authoring.catalog"


def test_parsing_the_dag_folder_looks_nothing_up(airflow_db, monkeypatch):
    """Nothing reads a Variable, a connection or the network while a DAG file is parsed: with Key
    Vault as the secrets backend each lookup would be a vault call per file per parse (the
    schedules' time zone comes from the environment: support_flows.authoring.schedules)."""
    import socket

    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook, Connection, Variable

    looked_up: list[str] = []

    def counting(what):
        def lookup(*args, **kwargs):
            looked_up.append(f"{what}{args[-1:] or ''}")
            raise AssertionError(f"{what} looked up at parse time")

        return lookup

    monkeypatch.setattr(Variable, "get", counting("Variable.get"))
    monkeypatch.setattr(BaseHook, "get_connection", counting("BaseHook.get_connection"))
    monkeypatch.setattr(Connection, "get", counting("Connection.get"))
    monkeypatch.setattr(socket.socket, "connect", counting("socket.connect"))
    bag = DagBag(str(ROOT / "dags"))
    assert bag.import_errors == {} and len(bag.dag_ids) >= 13  # the premise: every file parsed
    assert looked_up == []


# What a task needs and a parse does not: the clients (and the provider hooks and SDKs under them),
# the runtime that holds them, the e-mail templates' renderer, the charts, the holiday calendars.
RUN_TIME_ONLY = (
    "support_flows.clients",
    "support_flows.core.runtime",
    "airflow.providers.http.hooks",
    "airflow.providers.microsoft.azure.hooks",
    "msgraph",
    "matplotlib",
    "holidays",
)

# The package's modules a parse may load: the contracts and what declares them (Params, outcome
# fields, schedules, the DAGs' defaults, pools, deadlines, Assets, the watcher's sensor). Everything
# else (settings, SLA clocks, business time, e-mails and their catalogs, the mailer, the reporting
# tables and store) costs a parse milliseconds for nothing a DAG file declares: the flow modules
# import them in the steps that use them (bench/parse_cost.py measures what that is worth).
PARSE_TIME = {
    "support_flows",
    "support_flows.authoring",
    "support_flows.authoring.dag_defaults",
    "support_flows.authoring.escalation_steps",
    "support_flows.authoring.pools",
    "support_flows.authoring.schedules",
    "support_flows.core",
    "support_flows.core.contract",
    "support_flows.core.metrics",
    "support_flows.core.outcomes",
    "support_flows.core.params",
    "support_flows.core.routing",
    "support_flows.core.times",
    "support_flows.flows",  # and each flow module: its contract is beside its steps
    "support_flows.operations",
    "support_flows.operations.alerts",  # the error log's contract
    "support_flows.operations.events",  # the watcher's contract and sensor
    "support_flows.operations.lateness",
    "support_flows.storage",
    "support_flows.storage.reporting_assets",
}


def _modules_a_parse_loads() -> list[str]:
    """The modules that parsing every DAG file in turn loads beyond ``airflow.sdk`` (one process)."""
    code = f"""
import json, runpy, sys
import airflow.sdk
before = set(sys.modules)
for path in sorted(__import__("pathlib").Path({str(ROOT / "dags")!r}).glob("*.py")):
    runpy.run_path(str(path))
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def modules_a_parse_loads() -> list[str]:
    return _modules_a_parse_loads()


def test_a_dag_file_reads_its_contract_without_loading_what_only_tasks_need(modules_a_parse_loads):
    """Each DAG file imports its flow module for the contract (Params, tags, schedule) while it is
    parsed; a flow module keeps its clients to run time, so that costs a parse nothing heavy."""
    assert [m for m in modules_a_parse_loads if m.startswith(RUN_TIME_ONLY)] == []


def test_a_parse_loads_only_the_packages_declarations(modules_a_parse_loads):
    """Of our own package, a parse loads the contracts and what declares them; the flow modules
    import the rest (settings, SLA clocks, templates, the reporting tables) in their steps."""
    ours = [m for m in modules_a_parse_loads if m.startswith("support_flows")]
    assert "support_flows.flows.tickets" in ours and "support_flows.core.contract" in ours  # the premise
    beyond = [m for m in ours if m not in PARSE_TIME and not m.startswith("support_flows.flows.")]
    assert beyond == [], f"loaded while the DAG folder is parsed: {beyond}"
