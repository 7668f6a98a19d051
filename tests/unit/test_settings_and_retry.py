"""Settings read at run time, and the shared retry policy."""

from __future__ import annotations

from datetime import date

import pytest

from support_flows.clients.retry import CallRetryPolicy, TransientError, call_with_retries, parse_retry_after
from support_flows.core.settings import Settings, SettingsError, load_settings


def test_defaults_without_any_variable(monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_SUPPORT_CUSTOMER_KEY_SALT", raising=False)
    settings = load_settings()
    assert settings == Settings()
    assert settings.escalation_reminder_hours == 48 and settings.escalation_supervisor_hours == 72


def test_variables_from_the_environment_are_typed(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_ADMIN_RECIPIENTS", "a@x.com, b@x.com")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_ESCALATION_REMINDER_HOURS", "24")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_AI_CONFIDENCE_THRESHOLD", "0.9")
    settings = load_settings()
    assert settings.admin_recipients == ("a@x.com", "b@x.com")
    assert settings.escalation_reminder_hours == 24 and settings.ai_confidence_threshold == 0.9


def test_a_bad_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_ESCALATION_REMINDER_HOURS", "two days")
    with pytest.raises(SettingsError, match="support_escalation_reminder_hours: expected int"):
        load_settings()
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_ESCALATION_REMINDER_HOURS", "80")
    with pytest.raises(SettingsError, match="must be greater than"):
        load_settings()


def test_backoff_doubles_and_is_capped():
    policy = CallRetryPolicy(base_delay=2, max_delay=5, jitter=0)
    assert [policy.delay(n) for n in (1, 2, 3)] == [2, 4, 5]
    assert policy.delay(1, retry_after=3.5) == 3.5


def test_call_with_retries_stops_at_the_policy_and_wraps_the_last_error():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        raise TransientError(f"boom {len(calls)}")

    with pytest.raises(RuntimeError, match="gave up after 3: boom 3"):
        call_with_retries(
            flaky,
            what="x",
            policy=CallRetryPolicy(jitter=0),
            sleep=sleeps.append,
            give_up=lambda err, n: RuntimeError(f"gave up after {n}: {err}"),
        )
    assert len(calls) == 3 and sleeps == [1.0, 2.0]


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), ("5", 5.0), ("-3", 0.0), ("soon", None)])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value) == expected


def test_lazy_settings_read_only_what_is_used_and_still_name_a_bad_variable(monkeypatch):
    from support_flows.core.settings import LazySettings

    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_AI_CONFIDENCE_THRESHOLD", "0.9")
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_HOLIDAYS", "2026-12-25")
    read = []
    import airflow.sdk

    original = airflow.sdk.Variable.get
    monkeypatch.setattr(
        airflow.sdk.Variable, "get", lambda key, default=None: read.append(key) or original(key, default)
    )
    settings = LazySettings(sender_mailbox="desk@example.com")
    assert settings.ai_confidence_threshold == 0.9 and settings.ai_confidence_threshold == 0.9
    assert settings.sender_mailbox == "desk@example.com" and settings.timezone == "UTC"
    assert settings.holiday_dates() == {date(2026, 12, 25)}
    assert read == ["support_ai_confidence_threshold", "support_timezone", "support_holidays"]
    monkeypatch.setenv("AIRFLOW_VAR_SUPPORT_ESCALATION_REMINDER_HOURS", "80")
    with pytest.raises(SettingsError, match="must be greater than"):
        LazySettings().escalation_supervisor_hours  # noqa: B018
    with pytest.raises(AttributeError):
        LazySettings().no_such_setting  # noqa: B018


def test_the_readme_settings_table_is_the_code():
    """Every setting the code reads is in the README's table with its default, tenant settings
    marked as such, and the table names no setting the code does not have."""
    import dataclasses
    import re
    from pathlib import Path

    from support_flows.core.settings import TENANT_SETTINGS, Settings

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("| setting | default | what |") :]
    table = table[: table.index("\n\n")]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for name in re.findall(r"`(\w+)`", cells[0]):
            rows[name] = cells[1]
    fields = {item.name: item for item in dataclasses.fields(Settings)}
    assert set(rows) == set(fields), f"README only: {set(rows) - set(fields)}; code only: {set(fields) - set(rows)}"
    for name, item in fields.items():
        default = item.default if not isinstance(item.default, tuple) else ", ".join(item.default)
        if name in TENANT_SETTINGS:
            assert rows[name] == f"tenant (placeholder {default})", name
        elif item.metadata.get("secret"):
            assert "required, secret" in rows[name], name
        elif default != "" and default != ():
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            assert shown in rows[name].split(" / ") or rows[name].startswith(shown), (name, rows[name], shown)


def test_every_environment_variable_the_code_reads_is_documented():
    """A ``SUPPORT_*`` variable read anywhere in the package, the dev tools or the mock is named in
    README.md or docs/ (the failure names the variable and the file that reads it)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    docs = (root / "README.md").read_text() + "".join(p.read_text() for p in (root / "docs").glob("*.md"))
    read = re.compile(r"""(?:environ(?:\.get)?\(|environ\[|getenv\()\s*["'](SUPPORT_[A-Z0-9_]+)["']""")
    missing, found = [], set()
    for folder in ("plugins", "scripts", "mock_backend", "dags"):
        for path in (root / folder).rglob("*.py"):
            for name in read.findall(path.read_text()):
                found.add(name)
                if name not in docs:
                    missing.append(f"{name} (read in {path.relative_to(root)})")
    assert {"SUPPORT_DATABASE_URL", "SUPPORT_TASK_RETRY_DELAY_SECONDS", "SUPPORT_VENV"} <= found  # the scan sees them
    assert not missing, "not in README.md or docs/: " + ", ".join(sorted(set(missing)))
