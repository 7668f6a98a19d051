"""The Graph client against the running mock, reached through the support_graph connection alone."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from airflow.sdk.exceptions import AirflowFailException

from mock_backend.graph import directory_id
from support_flows.clients.graph import GraphClient, GraphError, GraphRequestError, GraphUserNotFound
from support_flows.clients.retry import CallRetryPolicy


@pytest.fixture
def graph(connections) -> GraphClient:
    return GraphClient(retry_policy=CallRetryPolicy(base_delay=0.01), timeout=2)


SEND = r"/messages/[^/]+/send$"  # the request that sends a draft


def send(graph, subject="s", to="a@example.org", n=0, **options):
    return graph.send_mail(
        "support@support.example.com", to, subject, "<p>x</p>", message_id=f"<mail-{n}@support.example.com>", **options
    )


def test_mail_reaches_the_outbox_with_html_body_and_headers(graph, mock):
    graph.send_mail(
        "support@support.example.com",
        ["maria@example.org"],
        "Your ticket #7",
        "<p>Hello <b>Maria</b></p>",
        message_id="<ticket-7-ack@support.example.com>",
        headers={"x-support-flows-key": "ticket-7-ack"},
    )
    (mail,) = mock.mail()
    assert mail["from"] == "support@support.example.com" and mail["to"] == ["maria@example.org"]
    assert mail["content_type"] == "HTML" and mail["body"] == "<p>Hello <b>Maria</b></p>"
    assert mail["headers"] == {"x-support-flows-key": "ticket-7-ack"}
    assert mail["message"]["internetMessageId"] == "<ticket-7-ack@support.example.com>"
    posts = [r["path"] for r in mock.get("/_mock/requests")["items"] if r["method"] == "POST"]
    assert posts[-2].endswith("/users/support@support.example.com/messages") and posts[-1].endswith("/send")


def late_answers(mock, count: int = 1, within: float = 10.0) -> list[dict]:
    """The 504s the mock gave, once ``count`` of them are in its log: an answer held past the
    client's timeout is logged when the mock sends it, after the client gave up, and must not land
    in the next test's log (a loaded machine holds it longer)."""
    deadline = time.monotonic() + within
    while True:
        found = [r for r in mock.get("/_mock/requests")["items"] if r["status"] == 504]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.mark.parametrize("lost", ["gateway_timeout", "past_the_client_timeout"])
@pytest.mark.parametrize("step", ["draft", "send"])
def test_a_send_whose_answer_was_lost_after_graph_took_it_is_not_repeated(mock, connections, lost, step):
    """Graph did the request and the answer never arrived: the next attempt finds the draft (or the
    sent message) by its internetMessageId instead of making another: one e-mail."""
    graph = GraphClient(retry_policy=CallRetryPolicy(base_delay=0.01), timeout=0.5)
    path = SEND if step == "send" else r"/users/[^/]+/messages$"
    delay = 1.0 if lost == "past_the_client_timeout" else 0
    mock.faults({"path": path, "method": "POST", "accept": True, "delay_s": delay, "times": 1})
    assert send(graph) in ("sent", "already_sent")
    assert len(mock.mail()) == 1
    assert len(late_answers(mock)) == 1, "the premise: one answer was lost"
    graph.close()


def test_a_later_try_that_looks_first_does_not_send_again(graph, mock):
    assert send(graph) == "sent"
    assert send(graph, look_first=True) == "already_sent"
    assert len(mock.mail()) == 1


def test_a_later_try_sends_the_draft_an_earlier_try_left(graph, mock):
    mock.faults({"path": SEND, "status": 400, "times": 1})
    with pytest.raises(GraphRequestError):
        send(graph)
    assert mock.mail() == []
    assert send(graph, look_first=True) == "sent"
    assert len(mock.mail()) == 1
    drafts = [r for r in mock.get("/_mock/requests")["items"] if r["path"].endswith("/messages")]
    assert len(drafts) == 1  # the draft was made once and sent on the second try


def test_a_planner_task_whose_answer_was_lost_is_found_not_made_again(mock, connections):
    graph = GraphClient(retry_policy=CallRetryPolicy(base_delay=0.01), timeout=0.5)
    mock.faults({"path": r"/planner/tasks$", "method": "POST", "accept": True, "delay_s": 1.0, "times": 1})
    task = graph.create_planner_task("support-follow-ups", "Follow up ticket #9")
    (stored,) = mock.get("/_mock/tasks")["items"]
    assert task["id"] == stored["id"]
    assert graph.create_planner_task("support-follow-ups", "Follow up ticket #9", look_first=True)["id"] == task["id"]
    assert len(mock.get("/_mock/tasks")["items"]) == 1
    assert len(late_answers(mock)) == 1  # the premise: the first answer was lost
    graph.close()


def test_throttling_waits_as_asked_without_using_up_attempts(mock, connections):
    waits: list[float] = []
    graph = GraphClient(retry_policy=CallRetryPolicy(base_delay=0.01), sleep=waits.append)
    mock.faults({"path": SEND, "status": 429, "times": 5, "retry_after": 2})
    assert send(graph) == "sent"
    assert waits == [2.0] * 5  # five 429s: more than the three attempts, and no failure
    assert len(mock.mail()) == 1
    graph.close()


def test_throttling_past_its_budget_gives_up_like_any_transient_failure(mock, connections):
    graph = GraphClient(retry_policy=CallRetryPolicy(base_delay=0.01, throttle_budget=3), sleep=lambda s: None)
    mock.faults({"path": SEND, "status": 429, "times": 100, "retry_after": 2})
    with pytest.raises(GraphError, match="failed after 3 attempts"):
        send(graph)
    graph.close()


def test_calendar_event_with_transaction_id_is_created_once(graph, mock):
    start = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    first = graph.create_event(
        "support@support.example.com", "Follow up #7", "<p>Check</p>", start, transaction_id="t-7"
    )
    second = graph.create_event(
        "support@support.example.com", "Follow up #7", "<p>Check</p>", start, transaction_id="t-7"
    )
    assert first["id"] == second["id"]
    (event,) = mock.get("/_mock/events")["items"]
    assert (
        event["start"] == {"dateTime": "2026-11-26T09:00:00", "timeZone": "UTC"}
        and event["mailbox"] == "support@support.example.com"
    )


def test_sharepoint_upload(graph, mock):
    item = graph.upload_file("support-reports", "Reports/2026/11/daily.html", b"<html>ok</html>", "text/html")
    assert item["name"] == "daily.html"
    assert mock.get("/_mock/files")["items"][0]["path"] == "Reports/2026/11/daily.html"


@pytest.mark.parametrize("name", ["Daily report #1.html", "What? 50% & more.csv", "Résumé über.html"])
def test_a_sharepoint_path_is_percent_encoded_so_the_whole_name_arrives(graph, mock, name):
    item = graph.upload_file("support-reports", f"Reports/2026/{name}", b"ok", "text/plain")
    assert item["name"] == name
    assert [f["path"] for f in mock.get("/_mock/files")["items"]] == [f"Reports/2026/{name}"]


def test_planner_task(graph, mock):
    task = graph.create_planner_task("support-follow-ups", "Call back about #7", due=datetime(2026, 11, 27, tzinfo=UTC))
    assert task["id"] and mock.get("/_mock/tasks")["items"][0]["dueDateTime"] == "2026-11-27T00:00:00Z"


def test_planner_task_assigned_by_directory_id_with_a_link_in_its_details(graph, mock):
    mock.seed()
    supervisor = graph.user_id("Alan.Turing@support.example.com")
    assert supervisor == directory_id("alan.turing@support.example.com")
    task = graph.create_planner_task("support-follow-ups", "Call back about #7", assignee_ids=[supervisor])
    url = "https://portal.support.example.com/tickets/7"
    graph.update_planner_task_details(task["id"], references={url: "Ticket #7"})
    graph.update_planner_task_details(task["id"], references={url: "Ticket #7"})  # again: same result
    (stored,) = mock.get("/_mock/tasks")["items"]
    assert list(stored["assignments"]) == [supervisor]
    assert stored["details"]["references"] == {
        "https%3A%2F%2Fportal%2Esupport%2Eexample%2Ecom%2Ftickets%2F7": {
            "@odata.type": "microsoft.graph.plannerExternalReference",
            "alias": "Ticket #7",
            "type": "Other",
        }
    }


def test_user_lookup_is_cached_and_an_unknown_user_is_named(graph, mock):
    mock.seed()
    graph.user_id("alan.turing@support.example.com")
    graph.user_id("ALAN.TURING@support.example.com")
    lookups = [r for r in mock.get("/_mock/requests")["items"] if "/users/alan.turing" in r["path"]]
    assert len(lookups) == 1
    with pytest.raises(GraphUserNotFound, match="no user nobody@support.example.com in the directory"):
        graph.user_id("nobody@support.example.com")


def test_calendar_event_in_a_local_zone_is_sent_in_utc(graph, mock):
    from zoneinfo import ZoneInfo

    start = datetime(2026, 11, 26, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles"))  # tzname() is "PST"
    graph.create_event("support@support.example.com", "Follow up #8", "<p>Check</p>", start, transaction_id="t-8")
    (event,) = mock.get("/_mock/events")["items"]
    assert event["start"] == {"dateTime": "2026-11-26T17:00:00", "timeZone": "UTC"}


def test_a_file_over_the_simple_upload_limit_is_refused_before_sending(graph, mock):
    with pytest.raises(AirflowFailException, match="upload session"):
        graph.upload_file("support-reports", "Reports/big.csv", b"x" * (4 * 1024 * 1024 + 1), "text/csv")
    assert mock.get("/_mock/files")["items"] == []


def test_transient_failures_are_retried_three_attempts_in_all(graph, mock):
    mock.faults(
        {"path": SEND, "status": 503, "times": 2},
        {"path": "planner", "status": 429, "times": 1, "retry_after": 0},
    )
    send(graph)
    graph.create_planner_task("support-follow-ups", "t")
    assert len(mock.mail()) == 1 and len(mock.get("/_mock/tasks")["items"]) == 1
    sends = [r for r in mock.get("/_mock/requests")["items"] if r["path"].endswith("/send")]
    assert [r["status"] for r in sends] == [503, 503, 202]  # the SDK's own retries are off


def test_persistent_5xx_gives_up_after_three_attempts(graph, mock):
    mock.faults({"path": SEND, "status": 500, "times": 3})
    with pytest.raises(GraphError, match="failed after 3 attempts"):
        send(graph)
    assert mock.mail() == []


def test_4xx_fails_at_once(graph, mock):
    mock.faults({"path": "planner", "status": 403, "times": 1})
    with pytest.raises(GraphRequestError, match="403"):
        graph.create_planner_task("support-follow-ups", "t")
    with pytest.raises(GraphRequestError, match="400"):
        send(graph, to="not-an-address")


def test_timeout_counts_as_transient(mock, connections):
    graph = GraphClient(retry_policy=CallRetryPolicy(base_delay=0.01), timeout=0.5)
    mock.faults({"path": "planner", "delay_s": 1.5, "status": 504, "times": 1})
    graph.create_planner_task("support-follow-ups", "after a slow answer")
    assert [t["title"] for t in mock.get("/_mock/tasks")["items"]] == ["after a slow answer"]
    assert len(late_answers(mock)) == 1  # the slow answer, logged in this test


def test_one_token_for_all_of_a_client_s_requests_and_a_new_one_after_close(graph, mock):
    for n in range(3):
        send(graph, f"Update {n}", n=n)
    assert len(mock.mail()) == 3 and mock.token_requests() == 1
    graph.close()
    send(graph, "After close", n=4)
    assert len(mock.mail()) == 4 and mock.token_requests() == 2
    graph.close()
