"""Hook for the Support API (the support system's Flask backend).

Built on providers-http's ``HttpHook``: the connection ``support_api`` supplies host, port, scheme,
auth and extra headers; this hook adds typed methods, a timeout on every call, the shared retry
policy, and checks that each answer has the shape the flows rely on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import requests
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from support_flows.clients.retry import CallRetryPolicy, TransientError, call_with_retries, parse_retry_after

log = logging.getLogger(__name__)


class SupportApiError(AirflowException):
    """The Support API could not be reached or kept failing; a later task try may succeed."""


class SupportApiRequestError(AirflowFailException):
    """The Support API refused the request (4xx). Retrying the same request cannot help."""

    def __init__(self, status: int, message: str, field: str | None = None, endpoint: str = ""):
        super().__init__(f"Support API refused {endpoint} ({status}): {message}")
        self.status, self.field, self.api_message = status, field, message


class SupportApiResponseError(AirflowException):
    """The Support API answered 2xx with something that is not what the API promises."""


class MalformedEventFeed(SupportApiResponseError, AirflowFailException):
    """The event feed answered a batch the watcher cannot use (a field missing or of the wrong type,
    a cursor that does not move). Not retried: reading it again gives the same batch."""


class SupportApiHook(HttpHook):
    """Typed client of the Support API.

    :param support_api_conn_id: connection with the API's base URL (type http).
    :param timeout: seconds for connecting and for reading each answer; the connection's extra
        ``timeout`` overrides it.
    :param retry_policy: attempts and backoff for transient failures (default: 3 attempts).
    """

    conn_name_attr = "support_api_conn_id"
    default_conn_name = "support_api"
    conn_type = "http"
    hook_name = "Support API"

    def __init__(
        self,
        support_api_conn_id: str = default_conn_name,
        timeout: float = 30.0,
        retry_policy: CallRetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(method="GET", http_conn_id=support_api_conn_id)
        self.support_api_conn_id = support_api_conn_id
        self.timeout = timeout
        self.retry_policy = retry_policy or CallRetryPolicy()
        self._sleep = sleep
        self._session: requests.Session | None = None

    # --- transport ----------------------------------------------------------------------------------

    def session(self) -> requests.Session:
        """The HTTP session, built once from the connection (base URL, auth, extra headers)."""
        if self._session is None:
            self._session = self.get_conn()
            extra_timeout = self.merged_extra.get("timeout") if self.merged_extra else None
            if extra_timeout:
                self.timeout = float(extra_timeout)
        return self._session

    def request(self, method: str, endpoint: str, *, json: Any = None, params: dict | None = None) -> Any:
        """Send one request with retries; return the decoded JSON answer."""
        session = self.session()
        url = self.url_from_endpoint(endpoint)
        what = f"{method} /{endpoint.lstrip('/')}"
        clean_params = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}

        def attempt() -> Any:
            try:
                response = session.request(method, url, json=json, params=clean_params, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as err:
                raise TransientError(f"{type(err).__name__}: {err}") from err
            if response.status_code == 429 or response.status_code >= 500:
                raise TransientError(
                    f"HTTP {response.status_code}: {_error_text(response)}",
                    parse_retry_after(response.headers.get("Retry-After")),
                )
            if response.status_code >= 400:
                message, field = _error_parts(response)
                raise SupportApiRequestError(response.status_code, message, field, what)
            try:
                return response.json()
            except ValueError:
                raise SupportApiResponseError(
                    f"{what}: expected a JSON answer, got {response.headers.get('Content-Type')!r}: "
                    f"{response.text[:200]!r}"
                ) from None

        return call_with_retries(
            attempt,
            what=what,
            policy=self.retry_policy,
            give_up=lambda err, n: SupportApiError(f"{what} failed after {n} attempts: {err}"),
            sleep=self._sleep,
        )

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.request("GET", "health")
            return True, "Support API is reachable"
        except Exception as err:  # noqa: BLE001 - the UI shows the message
            return False, str(err)

    # --- tickets --------------------------------------------------------------------------------------

    def create_ticket(self, **fields: Any) -> dict:
        """Create a ticket; with ``request_id`` a repeated call returns the same ticket."""
        return _expect(self.request("POST", "api/tickets", json=fields), ("id", "status"), "ticket")

    def get_ticket(self, ticket_id: int) -> dict:
        return _expect(self.request("GET", f"api/tickets/{int(ticket_id)}"), ("id", "status"), "ticket")

    def update_ticket(self, ticket_id: int, **fields: Any) -> dict:
        return _expect(self.request("PATCH", f"api/tickets/{int(ticket_id)}", json=fields), ("id", "status"), "ticket")

    def assign_ticket(self, ticket_id: int, agent_id: int, assigned_by: str) -> dict:
        body = {"agent_id": agent_id, "assigned_by": assigned_by}
        return _expect(
            self.request("POST", f"api/tickets/{int(ticket_id)}/assign", json=body), ("id", "agent_id"), "ticket"
        )

    def resolve_ticket(
        self, ticket_id: int, agent_id: int | None, resolution_summary: str, *, resolved_by: str = "agent"
    ) -> dict:
        """Resolve; ``resolved_by="ai"`` (no agent) closes an AI answer the customer did not reply to."""
        body: dict[str, Any] = {"resolution_summary": resolution_summary}
        if agent_id is not None:
            body["agent_id"] = agent_id
        if resolved_by != "agent":
            body["resolved_by"] = resolved_by
        return _expect(
            self.request("POST", f"api/tickets/{int(ticket_id)}/resolve", json=body), ("id", "status"), "ticket"
        )

    def add_note(
        self, ticket_id: int, body: str, *, author: str, author_type: str = "system", key: str | None = None
    ) -> dict:
        payload = {"author": author, "author_type": author_type, "body": body}
        if key:
            payload["key"] = key
        return _expect(self.request("POST", f"api/tickets/{int(ticket_id)}/notes", json=payload), ("id",), "note")

    def add_notes(self, notes: list[dict]) -> list[dict]:
        """Many notes in one call (each ``{"ticket_id", "body", "author", "author_type", "key"}``)."""
        items = []
        for start in range(0, len(notes), 500):
            page = self.request("POST", "api/notes/batch", json={"notes": notes[start : start + 500]})
            items += _expect(page, ("items",), "note batch")["items"]
        return items

    def list_notes(self, ticket_id: int) -> list[dict]:
        return _expect(self.request("GET", f"api/tickets/{int(ticket_id)}/notes"), ("items",), "note list")["items"]

    def check_ai_response(self, ticket_id: int) -> dict:
        """The AI's proposed answer: ``{"answer": str | None, "confidence": float, ...}``."""
        return _expect(
            self.request("POST", f"api/tickets/{int(ticket_id)}/ai-response"), ("answer", "confidence"), "AI response"
        )

    def iter_pages(
        self,
        endpoint: str,
        what: str,
        page_size: int,
        filters: dict[str, Any],
        clock: Callable[[], float] = time.monotonic,
    ) -> Iterator[dict]:
        """Every item of a cursor-paginated list, fetched one page at a time. A list of more than
        one page logs its progress after each page (items so far, rate), so whoever watches a long
        task's log (the analytics load, the escalation, the daily summary) sees it move."""
        cursor, count, pages, started = None, 0, 0, clock()
        seen: set[str] = set()
        while True:
            page = _expect(
                self.request("GET", endpoint, params={**filters, "limit": page_size, "cursor": cursor}),
                ("items", "next_cursor"),
                what,
            )
            yield from page["items"]
            cursor, count, pages = page["next_cursor"], count + len(page["items"]), pages + 1
            if cursor is not None and (cursor in seen or not page["items"]):
                # a cursor the list already gave (or a page with nothing after it) would repeat forever
                raise SupportApiResponseError(
                    f"GET /{endpoint}: the {what} cursor did not move after {count} items (page {pages} "
                    f"{'repeated cursor' if cursor in seen else 'was empty but named a next page'})"
                )
            if cursor is not None:
                seen.add(cursor)
            if cursor or pages > 1:
                elapsed = max(clock() - started, 1e-6)
                log.info(
                    "%s: %d pages, %d items so far (%.0f items/s)%s",
                    endpoint,
                    pages,
                    count,
                    count / elapsed,
                    "" if cursor else ", done",
                )
            if not cursor:
                return

    def iter_tickets(self, *, page_size: int = 500, **filters: Any) -> Iterator[dict]:
        """Every ticket matching ``filters`` (see the API's list parameters), one page at a time."""
        return self.iter_pages("api/tickets", "ticket page", page_size, filters)

    # --- agents -----------------------------------------------------------------------------------------

    def list_agents(self, role: str | None = None, available: bool | None = None) -> list[dict]:
        page = self.request("GET", "api/agents", params={"role": role, "available": available})
        return _expect(page, ("items",), "agent list")["items"]

    def get_agent(self, agent_id: int) -> dict:
        return _expect(self.request("GET", f"api/agents/{int(agent_id)}"), ("id", "email"), "agent")

    def record_agent_feedback(self, agent_id: int, feedback_id: int) -> dict:
        return _expect(
            self.request("POST", f"api/agents/{int(agent_id)}/metrics", json={"feedback_id": feedback_id}),
            ("id", "ratings_count"),
            "agent",
        )

    # --- statistics -----------------------------------------------------------------------------------

    def daily_stats(self, day: date, tz: str = "UTC") -> dict:
        return _expect(
            self.request("GET", "api/stats/daily", params={"date": day, "tz": tz}),
            ("date", "created", "resolved"),
            "daily statistics",
        )

    def stats_history(self, end: date, days: int = 14, tz: str = "UTC") -> list[dict]:
        page = self.request("GET", "api/stats/history", params={"end": end, "days": days, "tz": tz})
        return _expect(page, ("items",), "statistics history")["items"]

    # --- feedback, surveys, events --------------------------------------------------------------------

    def create_feedback(self, ticket_id: int, rating: int, comment: str | None = None) -> dict:
        body = {"ticket_id": ticket_id, "rating": rating}
        if comment:
            body["comment"] = comment
        return _expect(self.request("POST", "api/feedback", json=body), ("id", "rating"), "feedback")

    def get_feedback(self, feedback_id: int) -> dict:
        return _expect(self.request("GET", f"api/feedback/{int(feedback_id)}"), ("id", "rating"), "feedback")

    def iter_feedback(self, *, page_size: int = 500, **filters: Any) -> Iterator[dict]:
        return self.iter_pages("api/feedback", "feedback page", page_size, filters)

    def create_answer_links(self, ticket_id: int) -> dict:
        """The AI answer e-mail's "solved" and "still need help" links (one pair per ticket)."""
        answer = self.request("POST", f"api/tickets/{int(ticket_id)}/answer-links")
        return _expect(answer, ("solved_url", "help_url"), "answer links")

    def create_survey(self, ticket_id: int) -> dict:
        return _expect(self.request("POST", "api/surveys", json={"ticket_id": ticket_id}), ("id", "url"), "survey")

    def list_events(self, after: int = 0, limit: int = 100, types: list[str] | None = None) -> dict:
        """One batch of the backend's event feed after cursor ``after``: ``{"items", "last_id"}``."""
        params = {"after": after, "limit": limit, "type": ",".join(types) if types else None}
        return event_batch(self.request("GET", "api/events", params=params), after)


# --- helpers ----------------------------------------------------------------------------------------------


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _error_parts(response: requests.Response) -> tuple[str, str | None]:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason, None
    if isinstance(body, dict):
        return str(body.get("error") or body), body.get("field")
    return str(body)[:500], None


def _error_text(response: requests.Response) -> str:
    return _error_parts(response)[0]


def _expect(payload: Any, keys: tuple[str, ...], what: str) -> Any:
    """Refuse an answer that lacks what the flows rely on, saying what was expected and what came
    (its type and field names, never its values: they can be a customer's)."""
    if not isinstance(payload, dict):
        raise SupportApiResponseError(
            f"expected a {what} (a JSON object with {', '.join(keys)}), got {type(payload).__name__}"
        )
    missing = [key for key in keys if key not in payload]
    if missing:
        fields = ", ".join(sorted(map(str, payload))[:20]) or "no fields"
        raise SupportApiResponseError(
            f"expected a {what} with {', '.join(keys)}; missing {', '.join(missing)} (the answer had: {fields})"
        )
    return payload


# what each event type must carry for the flows it starts (the rest of an event is passed over)
EVENT_DATA_IDS = {
    "ticket.created": ("ticket_id",),
    "ticket.customer_replied": ("ticket_id",),
    "ticket.ai_answer_confirmed": ("ticket_id",),
    "feedback.submitted": ("feedback_id", "ticket_id"),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_event(event: Any, where: str, previous: int) -> int:
    """One event of a batch; its id."""
    if not isinstance(event, dict):
        raise MalformedEventFeed(f"{where}: not an object")
    event_id = event.get("id")
    if not _is_int(event_id) or event_id <= previous:
        raise MalformedEventFeed(f"{where}: id {event_id!r:.40} is not an integer after {previous}")
    for field, kind in (("type", str), ("created_at", str), ("data", dict)):
        if not isinstance(event.get(field), kind):
            raise MalformedEventFeed(f"event {event_id}: {field} is missing or not a {kind.__name__}")
    for field in EVENT_DATA_IDS.get(event["type"], ()):
        if not _is_int(event["data"].get(field)):
            raise MalformedEventFeed(
                f"event {event_id} ({event['type']}): data.{field} is {event['data'].get(field)!r:.40}, not an id"
            )
    return event_id


def event_batch(payload: Any, after: int) -> dict:
    """A batch of the event feed after cursor ``after``, checked so a reader always makes progress
    or stops with the event id and field at fault: ``items`` a list of events with an integer
    ``id`` past ``after`` (ascending), a ``type``, a ``created_at`` and a ``data`` object holding
    the ids its flow needs; ``last_id`` an integer, past ``after`` whenever the batch has items."""
    batch = _expect(payload, ("items", "last_id"), "event batch")
    items, last_id = batch["items"], batch["last_id"]
    if not isinstance(items, list):
        raise MalformedEventFeed(f"event batch after {after}: items is {type(items).__name__}, not a list")
    if not _is_int(last_id):
        raise MalformedEventFeed(f"event batch after {after}: last_id is {last_id!r:.40}, not an integer")
    previous = after
    for index, event in enumerate(items):
        previous = _check_event(event, f"event batch after {after}, item {index}", previous)
    if last_id < previous:
        raise MalformedEventFeed(f"event batch after {after}: last_id {last_id} is before its last event {previous}")
    return batch


@asynccontextmanager
async def event_feed(conn_id: str = "support_api", timeout: float = 30.0) -> AsyncIterator[EventFeed]:
    """The event feed for the triggerer, which must not block: the http provider's async hook on
    the same connection as ``SupportApiHook`` (its base URL, auth and extra headers), one HTTP
    session for the whole wait. Each read is one attempt: the trigger decides what an outage is."""
    from airflow.providers.http.hooks.http import HttpAsyncHook

    hook = HttpAsyncHook(method="GET", http_conn_id=conn_id, retry_limit=1)
    async with hook.session() as session:
        yield EventFeed(session, timeout)


class EventFeed:
    """Reads batches of the event feed over one async session (``event_feed`` makes it)."""

    def __init__(self, session: Any, timeout: float):
        self._session, self._timeout = session, timeout

    @property
    def url(self) -> str:
        return f"{self._session.base_url.rstrip('/')}/api/events"

    async def list_events(self, after: int, limit: int = 100, types: Iterable[str] = ()) -> dict:
        """Like ``SupportApiHook.list_events``: ``{"items", "last_id"}`` after cursor ``after``."""
        import aiohttp

        params = {"after": after, "limit": limit, **({"type": ",".join(types)} if types else {})}
        # the connection's extra timeout wins, as in SupportApiHook
        seconds = float((self._session.extra_options or {}).get("timeout") or self._timeout)
        response = await self._session.run(
            endpoint="api/events", data=params, extra_options={"timeout": aiohttp.ClientTimeout(total=seconds)}
        )
        try:
            payload = await response.json(content_type=None)
        except ValueError as err:
            raise SupportApiResponseError(f"GET /api/events: expected a JSON answer: {err}") from None
        return event_batch(payload, after)
