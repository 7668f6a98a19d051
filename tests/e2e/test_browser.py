"""An admin in a real browser: logs into the Airflow UI, opens support_ticket_created's trigger
form, fills it in (the titles and the priority drop-down come from the DAG's Params), triggers it
and sees the run succeed; the customer's e-mail is in the mock's outbox. Screenshots of the filled
form and of the finished run go to test-artifacts/browser/ (or $SUPPORT_ARTIFACTS_DIR).

Needs Chromium: Debian's `chromium` package (which .ci/run installs) or $SUPPORT_CHROMIUM. Without
one the test is skipped, except in CI, where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from e2e_support import mock_get

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# What the machines here need: no sandbox as root, and no calls to Google's services (the network
# is closed, and each refused connection slows the start).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


CHROMIUM = os.environ.get("SUPPORT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = ("no Chromium for the browser test: install Debian's package (`apt-get install chromium`) "
               "or set SUPPORT_CHROMIUM to a Chromium binary")
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
    for title in ("Customer name", "Customer e-mail", "Subject", "Description", "Priority", "Channel",
                  "Where the answer or the acknowledgement is sent."):  # Params' titles and descriptions
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
    ticket = next(t for t in mock_get(stack, "/api/tickets", limit=1000)["items"]
                  if t["customer_email"] == "ana.lima@example.org")
    assert ticket["priority"] == "high" and ticket["subject"] == "Cannot log in"
    assert mail["subject"].startswith(f"[Ticket #{ticket['id']}]")
