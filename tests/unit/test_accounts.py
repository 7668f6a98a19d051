"""Accounts behave like a real identity system: deploys never change a password, keys are bound to
a user id, can expire, are refused for admins, and live in a table the deploy step makes; a keyed
request carries a token of minutes; refused keys are logged by key id and source and a source that
keeps trying is slowed (429). Against Airflow's metadata database and FAB's own user tables."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from support_flows.server import access, api_keys, key_scope, key_store, limits


@pytest.fixture
def fab(airflow_db, monkeypatch):
    """FAB's users as bootstrap leaves them on a fresh deploy, and no keys' table yet."""
    from airflow import settings
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", "support_flows.server.access.SupportFabAuthManager")
    monkeypatch.setenv("SUPPORT_ADMIN_PASSWORD", "first-admin-password")
    monkeypatch.setenv("SUPPORT_POWERAPPS_PASSWORD", "first-powerapps-password")
    with get_application_builder() as appbuilder:
        for name in ("admin", "powerapps"):
            user = appbuilder.sm.find_user(username=name)
            if user is not None:
                appbuilder.sm.session.delete(user)
        appbuilder.sm.session.commit()
    with settings.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS support_api_keys")
        conn.exec_driver_sql("DROP TABLE IF EXISTS support_rate_limits")
    yield
    with settings.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS support_api_keys")
        conn.exec_driver_sql("DROP TABLE IF EXISTS support_rate_limits")


def password_is(username: str, password: str) -> bool:
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
    from werkzeug.security import check_password_hash

    with get_application_builder() as appbuilder:
        return check_password_hash(appbuilder.sm.find_user(username=username).password, password)


def test_a_deploy_never_changes_an_existing_password_and_a_reset_is_explicit(fab, monkeypatch):
    made = access.bootstrap()
    assert "user admin (Admin)" in made and "table support_api_keys" in made
    assert password_is("admin", "first-admin-password")

    # the admin rotated a leaked password; the next deploy still has the old one in its environment
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        appbuilder.sm.reset_password(appbuilder.sm.find_user(username="admin").id, "rotated-after-leak")
    assert access.bootstrap() == []
    assert password_is("admin", "rotated-after-leak")

    monkeypatch.setenv("SUPPORT_ADMIN_PASSWORD", "chosen-on-purpose")
    assert access.main(["bootstrap", "--reset-password", "admin"]) == 0
    assert password_is("admin", "chosen-on-purpose") and password_is("powerapps", "first-powerapps-password")
    with pytest.raises(SystemExit, match="--reset-password nobody: not one of the users"):
        access.bootstrap(reset_password="nobody")


def set_roles(username: str, *roles: str) -> None:
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        user = appbuilder.sm.find_user(username=username)
        user.roles = [appbuilder.sm.find_role(role) for role in roles]
        appbuilder.sm.update_user(user)


def test_keys_are_refused_for_admins_and_operators_when_made_and_at_use(fab):
    access.bootstrap()
    with pytest.raises(key_store.ApiKeyError, match="'admin' has the Admin role"):
        key_store.create("admin", "too strong")
    assert access.main(["keys", "create", "--user", "admin", "--name", "x"]) == 1
    with pytest.raises(SystemExit):  # no way around it
        access.main(["keys", "create", "--user", "admin", "--name", "x", "--allow-admin"])
    key = key_store.create("powerapps", "production")
    assert key_store.check_key(key).user_id is not None
    for role in ("Op", "Admin"):  # the key's user gains the role later: the key stops at its next use
        set_roles("powerapps", "PowerApps", role)
        assert key_store.check_key(key).refused == f"its user now holds the {role} role"
    set_roles("powerapps", "PowerApps")
    assert key_store.check_key(key).user_id is not None


def test_a_key_can_expire(fab, monkeypatch):
    access.bootstrap()
    key = key_store.create("powerapps", "pilot", expires_in=key_store.parse_duration("12h"))
    assert key_store.check_key(key).user_id is not None
    later = key_store._now() + timedelta(hours=12, seconds=1)
    monkeypatch.setattr(key_store, "_now", lambda: later)
    assert key_store.check_key(key).refused == "expired"
    for wrong in ("0d", "12", "1w", "-3h"):
        with pytest.raises(key_store.ApiKeyError, match="--expires-in"):
            key_store.parse_duration(wrong)


def test_a_key_is_bound_to_its_users_id_not_the_name(fab):
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    access.bootstrap()
    key = key_store.create("powerapps", "production")
    with get_application_builder() as appbuilder:
        # PostgreSQL's sequences never give a deleted user's id again; SQLite reuses the highest
        # one, so a later user keeps the deleted one from being the highest, as on a real deploy
        viewer = appbuilder.sm.find_role("Viewer")
        appbuilder.sm.add_user("someone", "s", "e", "someone@support-flows.invalid", viewer, password="x")
        appbuilder.sm.session.delete(appbuilder.sm.find_user(username="powerapps"))
        appbuilder.sm.session.commit()
    access.bootstrap()  # a new user under the same name
    assert key_store.check_key(key).refused == "its user is gone or inactive"


def test_the_deploy_step_brings_an_older_keys_table_up_to_date(fab):
    from airflow import settings

    access.bootstrap()
    with settings.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE support_api_keys")
        conn.exec_driver_sql(
            "CREATE TABLE support_api_keys (key_id VARCHAR(12) PRIMARY KEY, name VARCHAR(200) NOT NULL,"
            " username VARCHAR(256) NOT NULL, secret_sha256 VARCHAR(64) NOT NULL, created_at TIMESTAMP NOT NULL,"
            " revoked_at TIMESTAMP, last_used_at TIMESTAMP)"
        )
        conn.exec_driver_sql(
            "INSERT INTO support_api_keys VALUES ('0123456789ab', 'old', 'powerapps', ?, '2026-01-01', NULL, NULL)",
            (key_store.digest("s" * 43),),
        )
    done = key_store.ensure_table()
    assert "support_api_keys.user_id" in done and "support_api_keys.expires_at" in done
    assert key_store.check_key("sfk_0123456789ab_" + "s" * 43).user_id is not None
    assert key_store.ensure_table() == []


def test_no_request_creates_the_table(fab, caplog):
    assert key_store.check_key("sfk_0123456789ab_" + "s" * 43).refused == "cannot be checked now"
    from airflow import settings

    assert not sa.inspect(settings.engine).has_table("support_api_keys")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_source_that_keeps_sending_wrong_keys_waits_and_good_keys_go_on():
    clock = Clock()
    limiter = limits.FailureLimiter(limit=3, window=60, windows=limits.Windows(clock=clock))
    good, bad = "sfk_good", "sfk_bad"
    limiter.succeeded(good)  # (the middleware passes the key's digest)
    for _ in range(3):
        assert limiter.blocked_for("10.0.0.9", bad) == 0
        limiter.failed("10.0.0.9")
    clock.now += 10
    assert limiter.blocked_for("10.0.0.9", bad) == pytest.approx(50)
    assert limiter.blocked_for("10.0.0.9", good) == 0  # worked within the window
    assert limiter.blocked_for("10.0.0.7", bad) == 0  # another source
    clock.now += 51
    assert limiter.blocked_for("10.0.0.9", bad) == 0


def call(
    auth: api_keys.ApiKeyAuth,
    key: str,
    source: str = "203.0.113.5",
    *,
    method: str = "GET",
    path: str = "/support/v1/flows",
) -> tuple[int, dict, dict, list]:
    """One request through the middleware to a stand-in for Airflow that answers 200: the status,
    the answer's body and headers, and the headers Airflow was handed (none when refused)."""
    seen: list[dict] = []

    async def app(scope, receive, send):
        seen.append(dict(scope["headers"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    auth.app = app
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"{}"}

    scope = {"type": "http", "method": method, "path": path, "client": (source, 5555)}
    scope["headers"] = [(b"x-api-key", key.encode())]
    asyncio.run(auth(scope, receive, send))
    headers = dict(sent[0]["headers"])
    return sent[0]["status"], json.loads(sent[1]["body"]), headers, seen


def test_the_middleware_logs_refusals_by_key_id_and_source_then_answers_429(fab, caplog, monkeypatch):
    access.bootstrap()
    good = key_store.create("powerapps", "production")
    wrong = good[:17] + ("A" if good[17] != "A" else "B") + good[18:]
    auth = api_keys.ApiKeyAuth(None, limits.FailureLimiter(limit=2, window=60, windows=limits.Windows()))
    with caplog.at_level(logging.WARNING, logger=api_keys.__name__):
        assert call(auth, wrong)[0] == 401
    (line,) = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert f"key id {good.split('_')[1]}" in line and "203.0.113.5" in line and "wrong secret" in line
    assert good.split("_", 2)[2] not in caplog.text and wrong.split("_", 2)[2] not in caplog.text

    assert call(auth, "hunter2")[0] == 401
    status, body, headers, _ = call(auth, "sfk_000000000000_" + "x" * 43)
    assert status == 429 and 1 <= int(headers[b"retry-after"]) <= 60 and "too many refused keys" in body["detail"]
    assert call(auth, wrong, source="198.51.100.1")[0] == 401  # another address is not slowed

    monkeypatch.setattr(api_keys, "token_for", lambda user_id: f"token-for-{user_id}")
    status, _, _, seen = call(api_keys.ApiKeyAuth(None), good)
    assert status == 200 and seen[0][b"authorization"].startswith(b"Bearer token-for-")


def test_the_token_for_a_keyed_request_lives_minutes(fab):
    import jwt

    access.bootstrap()
    from airflow.api_fastapi.app import create_auth_manager

    create_auth_manager()
    user_id = key_store.check_key(key_store.create("powerapps", "production")).user_id
    claims = jwt.decode(key_scope.token_for(user_id), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == key_scope.KEYED_TOKEN_SECONDS <= 300


def test_one_key_starts_at_most_its_cap_of_runs_a_minute():
    clock = Clock()
    limiter = limits.TriggerLimiter(per_minute=3, windows=limits.Windows(clock=clock))
    assert [limiter.wait_for("k1") for _ in range(3)] == [0, 0, 0]
    clock.now += 15
    assert limiter.wait_for("k1") == pytest.approx(45)
    assert limiter.wait_for("k2") == 0  # another key
    clock.now += 45
    assert limiter.wait_for("k1") == 0
    assert limits.TriggerLimiter(per_minute=0).wait_for("k1") == 0


@pytest.fixture
def shared_counts(airflow_db):
    """The limits' table in Airflow's metadata database, as the deploy step makes it."""
    from airflow import settings

    with settings.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS support_rate_limits")
    assert limits.ensure_table() == ["table support_rate_limits"] and limits.ensure_table() == []
    yield settings.engine
    with settings.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS support_rate_limits")


def test_two_workers_share_one_budget_of_runs_and_of_refused_keys(shared_counts):
    """Two API-server workers (or replicas), each with its own limiter objects, count in the one
    table: a key's runs a minute are capped over both, and a source's refused keys add up over both
    (each worker lets at most one more through before it learns the source must wait)."""
    clock = Clock()
    first, second = (limits.TriggerLimiter(per_minute=3, windows=limits.Windows(shared_counts, clock)) for _ in "ab")
    assert [first.wait_for("k1"), second.wait_for("k1"), first.wait_for("k1")] == [0, 0, 0]
    assert second.wait_for("k1") == pytest.approx(60) and first.wait_for("k1") == pytest.approx(60)
    clock.now += 61
    assert second.wait_for("k1") == 0

    a, b = (limits.FailureLimiter(limit=3, window=60, windows=limits.Windows(shared_counts, clock)) for _ in "ab")
    a.failed("203.0.113.9")
    b.failed("203.0.113.9")
    assert a.blocked_for("203.0.113.9", "digest") == b.blocked_for("203.0.113.9", "digest") == 0
    b.failed("203.0.113.9")  # the third refusal, on the second worker: the budget is spent
    assert b.blocked_for("203.0.113.9", "digest") == pytest.approx(60)
    a.failed("203.0.113.9")  # the first worker learns it on its next refusal
    assert a.blocked_for("203.0.113.9", "digest") == pytest.approx(60)
    assert a.blocked_for("198.51.100.4", "digest") == 0  # another source


def test_over_its_cap_a_key_gets_429_on_triggers_only(fab, monkeypatch):
    access.bootstrap()
    key = key_store.create("powerapps", "production")
    monkeypatch.setattr(api_keys, "token_for", lambda user_id: "token")
    auth = api_keys.ApiKeyAuth(None, triggers=limits.TriggerLimiter(per_minute=2, windows=limits.Windows()))

    def trigger(dag_id: str = "support_ticket_created") -> tuple[int, dict]:
        status, _, headers, _ = call(auth, key, method="POST", path=f"/api/v2/dags/{dag_id}/dagRuns")
        return status, headers

    assert [trigger()[0] for _ in range(2)] == [200, 200]
    status, headers = trigger()
    assert status == 429 and 1 <= int(headers[b"retry-after"]) <= 60
    assert trigger("support_error_log")[0] == 200  # not a catalog DAG: not counted
    assert call(auth, key)[0] == 200  # reading is not capped


# What a key must never reach, whatever its user's role: Airflow's token routes (a key is never
# exchanged for a token), runs, XComs, task instances, logs, the UI's endpoints, the rest of the API.
NOT_FOR_KEYS = [
    ("POST", "/auth/token"),
    ("POST", "/auth/token/cli"),
    ("POST", "/ui/auth/token"),
    ("GET", "/ui/auth/me"),
    ("GET", "/ui/dags"),
    ("GET", "/ui/grid/runs/support_ticket_created"),
    ("GET", "/api/v2/dags"),
    ("GET", "/api/v2/dags/support_ticket_created"),
    ("GET", "/api/v2/dags/support_ticket_created/dagRuns"),
    ("POST", "/api/v2/dags/~/dagRuns/list"),
    ("GET", "/api/v2/dags/support_ticket_created/dagRuns/mine-1"),
    ("GET", "/api/v2/dags/support_ticket_created/dagRuns/mine-1/wait"),
    ("GET", "/api/v2/dags/support_ticket_created/dagRuns/mine-1/taskInstances"),
    (
        "GET",
        "/api/v2/dags/support_ticket_created/dagRuns/mine-1/taskInstances/answer_or_queue/xcomEntries/return_value",
    ),
    ("GET", "/api/v2/dags/support_ticket_created/dagRuns/mine-1/taskInstances/answer_or_queue/logs/1"),
    ("GET", "/api/v2/eventLogs"),
    ("DELETE", "/api/v2/dags/support_ticket_created/dagRuns/mine-1"),
    ("PATCH", "/api/v2/dags/support_ticket_created"),
    ("GET", "/api/v2/connections"),
    ("GET", "/auth/fab/v1/users"),
]


@pytest.mark.parametrize("method, path", NOT_FOR_KEYS)
def test_a_key_reaches_only_the_routes_that_start_flows_and_answer_their_outcomes(fab, monkeypatch, method, path):
    access.bootstrap()
    key = key_store.create("powerapps", "production")
    monkeypatch.setattr(api_keys, "token_for", lambda user_id: pytest.fail("a refused route gets no token"))
    auth = api_keys.ApiKeyAuth(None)
    for prefix in ("", "/airflow"):  # under a base-URL prefix too
        status, body, _, seen = call(auth, key, method=method, path=prefix + path)
        assert status == 403 and "starts flows and reads their outcomes only" in body["detail"], path
        assert seen == []
    assert call(auth, "sfk_000000000000_" + "x" * 43, method=method, path=path)[0] == 401  # a wrong key: 401 first


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/api/v2/dags/support_ticket_created/dagRuns"),
        ("GET", "/support/v1/flows"),
        ("POST", "/support/v1/flows/support_ticket_created"),
        ("GET", "/support/v1/flows/support_ticket_created/runs/flow_call__abc"),
        ("GET", "/api/v2/monitor/health"),
    ],
)
def test_a_key_starts_flows_and_reads_outcomes_as_its_user(fab, monkeypatch, method, path):
    access.bootstrap()
    key = key_store.create("powerapps", "production")
    monkeypatch.setattr(api_keys, "token_for", lambda user_id: f"token-for-{user_id}")
    status, _, _, seen = call(api_keys.ApiKeyAuth(None), key, method=method, path=path)
    assert status == 200 and seen[0][b"authorization"].startswith(b"Bearer token-for-")
    assert b"x-api-key" not in seen[0]


def test_the_powerapps_role_may_start_the_event_flows_and_read_nothing(fab):
    """Airflow's own authorisation, as the API server asks it: the role's per-DAG right (synced from
    the DAGs' access_control) starts runs; no read of the DAG, its runs, XComs, logs or anything
    else, and bootstrap takes away a global right an older version granted."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    from support_flows.authoring.dag_defaults import EVENT_DAG_ACCESS

    with get_application_builder() as appbuilder:
        role = appbuilder.sm.find_role("PowerApps") or appbuilder.sm.add_role("PowerApps")
        old = appbuilder.sm.get_permission("can_read", "XComs") or appbuilder.sm.create_permission("can_read", "XComs")
        appbuilder.sm.add_permission_to_role(role, old)  # what the last version granted
    done = access.bootstrap()
    assert "role PowerApps: can_read on XComs taken away" in done
    with get_application_builder() as appbuilder:
        appbuilder.sm.sync_perm_for_dag("support_ticket_created", EVENT_DAG_ACCESS)
        manager = access.SupportFabAuthManager()
        manager.appbuilder = appbuilder
        user = appbuilder.sm.find_user(username="powerapps")
        flow_1, other = DagDetails(id="support_ticket_created"), DagDetails(id="support_daily_summary")

        def may(method, entity=None, details=flow_1) -> bool:
            return manager.is_authorized_dag(method=method, user=user, access_entity=entity, details=details)

        assert may("POST", DagAccessEntity.RUN)
        assert not may("POST", DagAccessEntity.RUN, other)
        for entity in (None, DagAccessEntity.RUN, DagAccessEntity.XCOM, DagAccessEntity.TASK_INSTANCE,
                       DagAccessEntity.TASK_LOGS, DagAccessEntity.AUDIT_LOG):  # fmt: skip
            assert not may("GET", entity), entity
        assert not manager.is_authorized_dag(method="GET", user=user)  # listing DAGs
        assert not may("PUT", DagAccessEntity.RUN) and not may("PATCH")  # manage runs, pause
        admin = appbuilder.sm.find_user(username="admin")
        assert manager.is_authorized_dag(method="GET", user=admin, access_entity=DagAccessEntity.RUN, details=flow_1)


def test_the_uis_session_slides_while_bearer_tokens_die_on_time(fab, monkeypatch):
    """Tokens live jwt_expiration_time (15 minutes on our stacks); a UI request with a cookie token
    past half its life gets a new one from Airflow's refresh middleware, an earlier one does not."""
    import time

    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME", "900")
    access.bootstrap()
    manager = access.SupportFabAuthManager()
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        manager.appbuilder = appbuilder
        user_id = appbuilder.sm.find_user(username="admin").id
        fresh = manager.deserialize_user({"sub": str(user_id), "exp": time.time() + 800})
        assert manager.refresh_user(user=fresh) is None
        old = manager.deserialize_user({"sub": str(user_id), "exp": time.time() + 300})
        assert manager.refresh_user(user=old) is old
