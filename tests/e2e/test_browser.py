"""Two people in a real browser. An admin logs into the Airflow UI, opens support_ticket_created's
trigger form, fills it in (the titles and the priority drop-down come from the DAG's Params),
triggers it and sees the run succeed; the customer's e-mail is in the mock's outbox. A customer
opens the survey link of their resolution e-mail, rates the support, and Flow 6 runs by itself
(the backend's event feed, read by the watcher). Screenshots go to test-artifacts/browser/ (or
$SUPPORT_ARTIFACTS_DIR).

Needs Chromium: Debian's `chromium` package (which .ci/run installs) or $SUPPORT_CHROMIUM. Without
one the test is skipped, except in CI, where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from e2e_support import Client, mock_get

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# What the machines here need: no sandbox as root, and no calls to Google's services (the network
# is closed, and each refused connection slows the start).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


CHROMIUM = os.environ.get("SUPPORT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = (
    "no Chromium for the browser test: install Debian's package (`apt-get install chromium`) "
    "or set SUPPORT_CHROMIUM to a Chromium binary"
)
if not CHROMIUM and not os.environ.get("CI"):  # skip before the stack starts; in CI, fail instead
    pytest.skip(NO_CHROMIUM, allow_module_level=True)


def chromium_path() -> str:
    if not CHROMIUM:
        pytest.fail(NO_CHROMIUM + " (.ci/run installs it; did that step fail?)")
    return CHROMIUM


@pytest.fixture
def page(tmp_path):
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        yield context.new_page()
        browser.close()


def artifacts() -> Path:
    path = Path(os.environ.get("SUPPORT_ARTIFACTS_DIR", ROOT / "test-artifacts")) / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_admin_triggers_a_new_ticket_from_the_ui_and_sees_it_succeed(page, stack):
    from playwright.sync_api import expect

    page.set_default_timeout(30_000)
    page.goto(stack.airflow_url + "/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", stack.passwords()["admin"])
    page.locator("input[type=submit]").click()  # FAB's login form
    page.wait_for_url(lambda url: "login" not in url)

    page.goto(stack.airflow_url + "/dags/support_ticket_created")
    page.get_by_role("button", name="Trigger").first.click()
    form = page.get_by_role("dialog")
    for title in (
        "Customer name",
        "Customer e-mail",
        "Subject",
        "Description",
        "Priority",
        "Channel",
        "Where the answer or the acknowledgement is sent.",
    ):  # Params' titles and descriptions
        expect(form).to_contain_text(title)
    form.locator("#element_customer_name").fill("Ana Lima")
    form.locator("#element_customer_email").fill("ana.lima@example.org")
    form.locator("#element_subject").fill("Cannot log in")
    form.locator("#element_description").fill("My password stopped working after the update.")
    form.locator("input[role=combobox]").first.click()  # Priority: the enum is a drop-down
    expect(page.get_by_role("option")).to_have_text(["low", "normal", "high", "urgent"])
    page.get_by_role("option", name="high").click()
    form.screenshot(path=str(artifacts() / "trigger_form.png"))
    form.get_by_role("button", name="Trigger").click()

    page.wait_for_url(re.compile(r"/dags/support_ticket_created/runs/"), timeout=60_000)
    badge = page.get_by_text("Success", exact=True).first
    for _ in range(12):  # the run page refreshes itself; a reload now and then makes sure
        try:
            expect(badge).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            page.reload()
    expect(badge).to_be_visible()
    page.screenshot(path=str(artifacts() / "run_succeeded.png"))

    (mail,) = [m for m in mock_get(stack, "/_mock/mail")["items"] if m["to"] == ["ana.lima@example.org"]]
    ticket = next(
        t for t in mock_get(stack, "/api/tickets", limit=1000)["items"] if t["customer_email"] == "ana.lima@example.org"
    )
    assert ticket["priority"] == "high" and ticket["subject"] == "Cannot log in"
    assert mail["subject"].startswith(f"[Ticket #{ticket['id']}]")


def test_a_customer_rates_the_support_from_the_survey_link_and_flow_6_runs(page, stack):
    import time

    from playwright.sync_api import expect

    client = Client(stack)
    ticket = {
        "customer_name": "Rui Costa",
        "customer_email": "rui.costa@example.org",
        "subject": "Dark mode",
        "description": "Please add a dark theme.",
        "request_id": "browser-survey-1",
    }
    run = client.trigger("support_ticket_created", ticket).json()
    assert client.wait("support_ticket_created", run["dag_run_id"]) == "success"
    ticket_id = client.output("support_ticket_created", run["dag_run_id"], "answer_or_queue")["ticket_id"]
    for dag_id, conf in (
        ("support_ticket_assigned", {"ticket_id": ticket_id, "agent_id": 6, "assigned_by": "admin"}),
        ("support_ticket_resolved", {"ticket_id": ticket_id, "agent_id": 6, "resolution_summary": "Done."}),
    ):
        run = client.trigger(dag_id, conf).json()
        assert client.wait(dag_id, run["dag_run_id"]) == "success", dag_id
    (survey_mail,) = [
        m
        for m in mock_get(stack, "/_mock/mail")["items"]
        if m["to"] == ["rui.costa@example.org"] and "/survey/" in m["body"]
    ]
    link = re.search(r'href="([^"]*/survey/[^"]+)"', survey_mail["body"]).group(1)

    page.set_default_timeout(30_000)
    page.goto(link)  # the customer clicks "Rate our support"
    expect(page.get_by_role("heading")).to_have_text("How did we do?")
    page.get_by_label("2", exact=True).check()
    page.get_by_label("Anything you want to tell us (optional)").fill("It took three days.")
    page.screenshot(path=str(artifacts() / "survey_form.png"))
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading")).to_have_text("Thank you")

    deadline = time.monotonic() + 180  # the watcher polls the feed every second here
    while time.monotonic() < deadline:
        runs = [
            r
            for r in Client(stack, "admin").runs("support_feedback_received")  # PowerApps reads no runs
            if r["dag_run_id"].startswith("backend_event__") and (r.get("conf") or {}).get("ticket_id") == ticket_id
        ]
        if runs and runs[0]["state"] in ("success", "failed"):
            break
        time.sleep(2)
    assert runs and runs[0]["state"] == "success", runs
    # the watcher passes ids and the rating, not the customer's words: those stay with the backend
    assert runs[0]["conf"] == {"ticket_id": ticket_id, "rating": 2}
    kept = [f for f in mock_get(stack, "/api/feedback", limit=1000)["items"] if f["ticket_id"] == ticket_id]
    assert [f["comment"] for f in kept] == ["It took three days."]
    (task,) = [t for t in mock_get(stack, "/_mock/tasks")["items"] if f"#{ticket_id}" in t["title"]]
    assert list(task["assignments"])  # the low rating reached the supervisor, by directory id
