"""Microsoft Graph for the flows: mail, calendar events, SharePoint files and Planner tasks.

Everything goes through the microsoft-azure provider's ``KiotaRequestAdapterHook`` on the
``support_graph`` connection (type msgraph), so reaching the real Graph or the mock is a matter of
connection settings alone (``host``/``schema`` or extra ``base_url``, ``authority``, ``tenant_id``).

Three things are done differently from the provider's defaults, on purpose:
- errors keep their HTTP status and ``Retry-After``, so the shared retry policy can tell a
  transient failure (5xx, timeout), throttling (429: wait as asked, no attempt used) and a refusal
  (other 4xx) apart;
- the SDK's own retry middleware is switched off per request, so a call is tried exactly as often
  as the policy says (3 attempts), not 3 times 4;
- nothing that is not idempotent is retried blind: when a POST timed out or got a 5xx, Graph may
  have done it, so the next attempt first asks whether it did (``recover``). Mail goes as a draft
  with our own ``internetMessageId``, then ``send``: a message already sent is found in Sent Items
  and not sent again; a Planner task is looked for in its plan by title.

A client keeps one request adapter (its connection lookup, its token, its HTTP connections) for its
life, on an event loop of its own that runs in the calling thread for each request: the tasks are
synchronous, and running each request in a fresh ``asyncio.run`` threw all three away.
``close()`` lets them go. (No thread: one in the background bought nothing measurable,
docs/performance.md.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from airflow.providers.microsoft.azure.hooks.msgraph import KiotaRequestAdapterHook, MSGraphMailHook
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kiota_abstractions.request_option import RequestOption
from kiota_abstractions.response_handler import ResponseHandler
from kiota_http.middleware.options import ResponseHandlerOption, RetryHandlerOption

from support_flows.clients.retry import CallRetryPolicy, TransientError, call_with_retries, parse_retry_after


class GraphError(AirflowException):
    """Graph could not be reached or kept failing; a later task try may succeed."""


class GraphRequestError(AirflowFailException):
    """Graph refused the request (4xx other than 429). Retrying the same request cannot help."""

    def __init__(self, status: int, message: str, what: str, hint: str | None = None):
        said = f"{message.rstrip('.')}; {hint}" if hint else message
        super().__init__(f"Microsoft Graph refused {what} ({status}): {said}")
        self.status = status


class GraphUserNotFound(GraphRequestError):
    """The directory has no user with that id or user principal name."""


class GraphResponseError(AirflowException):
    """Graph answered 2xx with something that is not what the API promises; a later try may do better."""


class _HttpStatusError(Exception):
    def __init__(self, status: int, body: Any, retry_after: float | None):
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body, self.retry_after = status, body, retry_after


class _StatusKeepingHandler(ResponseHandler):
    """Return the JSON (or raw) answer; raise with the status and Retry-After kept."""

    async def handle_response_async(self, response: httpx.Response, error_map: Any) -> Any:
        try:
            value = response.json() if response.content else {}
        except ValueError:
            value = response.content
        if response.status_code >= 400:
            error = value.get("error", value) if isinstance(value, dict) else value
            message = error.get("message", error) if isinstance(error, dict) else error
            raise _HttpStatusError(
                response.status_code, message, parse_retry_after(response.headers.get("Retry-After"))
            )
        return {"status": response.status_code, "body": value}


def _failure(err: Exception, what: str, not_found: str | None) -> Exception:
    """What a failed attempt means: throttled (429), unsure whether Graph did it (5xx, a time-out
    after sending), not sent at all (no connection), or refused (other 4xx)."""
    if isinstance(err, _HttpStatusError):
        if err.status == 429:
            return TransientError(str(err), err.retry_after, throttled=True)
        if err.status >= 500:
            return TransientError(str(err), err.retry_after, unsure=True)
        return GraphRequestError(err.status, str(err.body), what, not_found if err.status == 404 else None)
    never_sent = isinstance(err, (httpx.ConnectError, httpx.ConnectTimeout))
    return TransientError(f"{type(err).__name__}: {err}", unsure=not never_sent)


SIMPLE_UPLOAD_MAX_BYTES = 4 * 1024 * 1024
_NO_SDK_RETRIES: RequestOption = RetryHandlerOption(delay=0, max_retries=0, should_retry=False)


log = logging.getLogger(__name__)


class GraphClient:
    """Synchronous facade for tasks: each method is one Graph request with the shared retry policy.

    :param conn_id: msgraph connection id.
    :param timeout: seconds for each HTTP request.
    """

    def __init__(
        self,
        conn_id: str = "support_graph",
        timeout: float = 30.0,
        retry_policy: CallRetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conn_id = conn_id
        self.timeout = timeout
        self.retry_policy = retry_policy or CallRetryPolicy()
        self._sleep = sleep
        self._user_ids: dict[str, str] = {}
        self._hook: KiotaRequestAdapterHook | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # azure-identity logs every token request's headers at INFO; keep task logs readable.
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

    # --- transport ----------------------------------------------------------------------------------

    @property
    def hook(self) -> KiotaRequestAdapterHook:
        """This client's hook. Its adapter is cached on the hook, not in the provider's class-wide
        cache: an adapter belongs to the loop it was made on, and tests make many clients."""
        if self._hook is None:
            hook = KiotaRequestAdapterHook(conn_id=self.conn_id, timeout=self.timeout)
            hook.cached_request_adapters = {}
            self._hook = hook
        return self._hook

    def _run(self, coro: Any) -> Any:
        """Run a coroutine on this client's event loop, in the calling thread (a deadline callback
        calls from a thread of its own, never from inside a running loop)."""
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coro)

    def close(self) -> None:
        """Close the HTTP connections, the credential's session and the event loop (a later request
        opens new ones). Never fails: it runs when the work is done, whatever its outcome."""
        if self._hook is None or self._loop is None or self._loop.is_closed():
            return
        try:
            self._run(self.hook.close())
        except Exception as err:  # noqa: BLE001
            log.warning("closing the Graph client of %s failed: %s", self.conn_id, err)
        finally:
            self._loop.close()
            self._hook = None  # its adapter belonged to the closed loop

    async def _send_once(
        self, method: str, url: str, path_parameters: dict, query: dict | None, data: Any, headers: dict | None
    ) -> Any:
        info = self.hook.request_information(
            url=url, method=method, path_parameters=path_parameters, query_parameters=query, data=data, headers=headers
        )
        info.request_options[ResponseHandlerOption.get_key()] = ResponseHandlerOption(
            response_handler=_StatusKeepingHandler()
        )
        info.add_request_options([_NO_SDK_RETRIES])
        return await self.hook.send_request(info)

    def request(
        self,
        method: str,
        url: str,
        *,
        path_parameters: dict | None = None,
        query_parameters: dict | None = None,
        data: Any = None,
        headers: dict | None = None,
        what: str | None = None,
        expect: tuple[str, ...] = ("id",),
        expect_status: tuple[int, ...] = (200, 201),
        not_found: str | None = None,
        recover: Callable[[], Any] | None = None,
    ) -> Any:
        """One Graph request with the retry policy; the answer must have ``expect_status`` and,
        for a JSON answer, the keys ``expect`` (else ``GraphResponseError`` says what was expected).
        ``not_found``: what to fix when Graph answers 404 (a setting naming what does not exist).
        ``recover``: for a request that is not idempotent, what Graph made of an attempt whose answer
        was lost (None: nothing), asked before the next attempt; its answer is then this call's."""
        what = what or f"{method} {url}"
        unsure = False

        def attempt() -> Any:
            nonlocal unsure
            if unsure and recover is not None:
                done = recover()
                if done is not None:
                    log.warning("Graph %s: the attempt whose answer was lost had been done; not repeated", what)
                    return done
            try:
                answer = self._run(self._send_once(method, url, path_parameters or {}, query_parameters, data, headers))
            except (_HttpStatusError, httpx.TimeoutException, httpx.TransportError) as err:
                failure = _failure(err, what, not_found)
                unsure = unsure or getattr(failure, "unsure", False)
                raise failure from err
            status, body = answer["status"], answer["body"]
            if status not in expect_status:
                raise GraphResponseError(
                    f"Graph {what}: expected HTTP {' or '.join(map(str, expect_status))}, got {status}: {str(body)[:200]}"
                )
            if expect and (not isinstance(body, dict) or any(key not in body for key in expect)):
                raise GraphResponseError(
                    f"Graph {what}: expected a JSON object with {', '.join(expect)}, got {str(body)[:200]!r}"
                )
            return body

        return call_with_retries(
            attempt,
            what=f"Graph {what}",
            policy=self.retry_policy,
            give_up=lambda err, n: GraphError(f"Microsoft Graph {what} failed after {n} attempts: {err}"),
            sleep=self._sleep,
        )

    # --- mail ------------------------------------------------------------------------------------------

    def send_mail(
        self,
        sender: str,
        to: str | Iterable[str],
        subject: str,
        html: str,
        *,
        message_id: str,
        cc: str | Iterable[str] | None = None,
        headers: dict[str, str] | None = None,
        attachments: list[dict] | None = None,
        reference: str | None = None,
        look_first: bool = False,
    ) -> str:
        """Send an HTML e-mail from ``sender``'s mailbox, at most once for ``message_id`` (an
        RFC 5322 id, ``<local@domain>``, unique to the e-mail): a draft carrying that id, then
        ``send``. ``look_first``: an earlier try may have got as far as a draft or sent it; look for
        it before making another. ``"sent"``, or ``"already_sent"`` when Graph had sent it before.

        ``headers`` names must start with ``x-``. ``attachments`` are Graph ``fileAttachment``
        objects (e.g. an inline chart with ``isInline`` and ``contentId``). ``reference`` (e.g. the
        e-mail's idempotency key, which names the ticket) goes into error messages instead of the
        recipients: those end up in ``flow_errors``, which holds no customer address.
        """
        mailbox = MSGraphMailHook.extract_sender(sender)
        message = MSGraphMailHook.build_message(
            to=to, subject=subject, html_content=html, cc=cc, custom_headers=headers
        )
        if attachments:
            message["attachments"] = attachments
        message["internetMessageId"] = message_id
        what = f"({reference})" if reference else ""
        not_found = f"the mailbox {sender} does not exist in the tenant; correct the setting sender_mailbox"
        earlier = self.find_message(mailbox, message_id) if look_first else None
        if earlier and not earlier["isDraft"]:
            return "already_sent"

        def draft_made() -> dict | None:
            found = self.find_message(mailbox, message_id)
            return found and {**found, "_sent": not found["isDraft"]}

        draft = earlier or self.request(
            "POST",
            "users/{user_id}/messages",
            path_parameters={"user_id": mailbox},
            data=message,
            what=f"create the draft {what}".rstrip(),
            expect=("id",),
            expect_status=(201,),
            not_found=not_found,
            recover=draft_made,
        )
        if draft.get("_sent"):
            return "already_sent"

        def was_sent() -> dict | None:
            found = self.find_message(mailbox, message_id)
            return {} if found and not found["isDraft"] else None

        self.request(
            "POST",
            "users/{user_id}/messages/{message_id}/send",
            path_parameters={"user_id": mailbox, "message_id": draft["id"]},
            what=f"send {what}".rstrip(),
            expect=(),
            expect_status=(202,),
            not_found=not_found,
            recover=was_sent,
        )
        return "sent"

    def find_message(self, mailbox: str, message_id: str) -> dict | None:
        """The message with this ``internetMessageId`` in ``mailbox`` (any folder): ``{"id",
        "isDraft"}``, a sent one before a draft; None when there is none."""
        found = self.request(
            "GET",
            "users/{user_id}/messages",
            path_parameters={"user_id": mailbox},
            query_parameters={
                "$filter": "internetMessageId eq '" + message_id.replace("'", "''") + "'",
                "$select": "id,isDraft",
            },
            what="look for a message by its id",
            expect=("value",),
            expect_status=(200,),
        )["value"]
        return min(found, key=lambda m: m.get("isDraft", True), default=None)

    # --- calendar ---------------------------------------------------------------------------------------

    def create_event(
        self,
        mailbox: str,
        subject: str,
        html: str,
        start: datetime,
        *,
        duration: timedelta = timedelta(minutes=30),
        transaction_id: str,
        reminder_minutes: int = 15,
    ) -> dict:
        """Create an event in ``mailbox``'s calendar; ``transaction_id`` makes a repeat harmless."""
        # in UTC: Graph takes IANA or Windows zone names, not the abbreviations tzname() gives ("PST")
        start = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
        end = start + duration
        body = {
            "subject": subject,
            "body": {"contentType": "HTML", "content": html},
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "isReminderOn": True,
            "reminderMinutesBeforeStart": reminder_minutes,
            "transactionId": transaction_id,
        }
        return self.request(
            "POST",
            "users/{user_id}/events",
            path_parameters={"user_id": mailbox},
            data=body,
            what=f"create event in {mailbox}'s calendar",
            not_found=f"the mailbox {mailbox} does not exist in the tenant; correct the agent's e-mail in the backend",
        )

    def delete_event(self, mailbox: str, event_id: str) -> bool:
        """Delete an event from ``mailbox``'s calendar; False when it was already gone (404), so a
        repeat is harmless."""
        try:
            self.request(
                "DELETE",
                "users/{user_id}/events/{event_id}",
                path_parameters={"user_id": mailbox, "event_id": event_id},
                what="delete a calendar event",
                expect=(),
                expect_status=(204,),
            )
        except GraphRequestError as err:
            if err.status == 404:
                return False
            raise
        return True

    # --- SharePoint -------------------------------------------------------------------------------------

    def upload_file(self, site_id: str, path: str, content: bytes, content_type: str) -> dict:
        """Put a file (up to 4 MB, the simple upload's limit) at ``path`` in the site's default
        document library."""
        if len(content) > SIMPLE_UPLOAD_MAX_BYTES:
            raise AirflowFailException(
                f"{path} is {len(content):,} bytes; Graph's simple upload takes at most {SIMPLE_UPLOAD_MAX_BYTES:,}"
                " (a larger file needs an upload session)"
            )
        return self.request(
            "PUT",
            # percent-encoded: a space, '#' or '?' in a name would otherwise end the path early
            "sites/{site_id}/drive/root:/" + quote(path.strip("/"), safe="/") + ":/content",
            path_parameters={"site_id": site_id},
            data=content,
            headers={"Content-Type": content_type},
            what=f"upload {path}",
            not_found=f"no SharePoint site {site_id}; correct the setting sharepoint_site_id",
        )

    # --- directory --------------------------------------------------------------------------------------

    def user_id(self, user_principal_name: str) -> str:
        """The directory object id of a user (Planner assigns by id, not by address); cached for the
        life of this client, so one task run asks once per person."""
        key = user_principal_name.strip().lower()
        if key not in self._user_ids:
            try:
                user = self.request(
                    "GET",
                    "users/{user_id}",
                    path_parameters={"user_id": key},
                    what=f"look up user {key}",
                    expect=("id",),
                    expect_status=(200,),
                )
            except GraphRequestError as err:
                if err.status == 404:
                    raise GraphUserNotFound(404, f"no user {key} in the directory", f"look up user {key}") from err
                raise
            self._user_ids[key] = user["id"]
        return self._user_ids[key]

    # --- what a deployment must have (the preflight asks) -------------------------------------------------

    def access_token(self) -> None:
        """Get an access token now and raise whatever the identity platform said: the deploy
        preflight's first question)."""

        async def get_token() -> None:
            adapter = await self.hook.get_async_conn()
            await adapter._authentication_provider.access_token_provider.get_authorization_token(adapter.base_url)

        self._run(get_token())

    def site(self, site_id: str) -> dict:
        """The SharePoint site (``GET /sites/{id}``); a 404 is a ``GraphRequestError``."""
        return self.request(
            "GET", "sites/{site_id}", path_parameters={"site_id": site_id}, what=f"look up site {site_id}"
        )

    def planner_plan(self, plan_id: str) -> dict:
        """The Planner plan (``GET /planner/plans/{id}``); a 404 is a ``GraphRequestError``."""
        return self.request(
            "GET", "planner/plans/{plan_id}", path_parameters={"plan_id": plan_id}, what=f"look up plan {plan_id}"
        )

    # --- Planner ----------------------------------------------------------------------------------------

    def create_planner_task(
        self,
        plan_id: str,
        title: str,
        *,
        due: datetime | None = None,
        assignee_ids: Iterable[str] = (),
        bucket_id: str | None = None,
        look_first: bool = False,
    ) -> dict:
        """A Planner task assigned to users by directory id (see ``user_id``). Its description and
        links are its details, which Graph sets apart: ``update_planner_task_details``.

        ``title`` must be unique in the plan to the thing followed up: an attempt whose answer was
        lost, or an earlier try (``look_first``), is recognised by it and not repeated."""
        if look_first and (earlier := self.find_planner_task(plan_id, title)):
            return earlier
        body: dict[str, Any] = {"planId": plan_id, "title": title}
        if bucket_id:
            body["bucketId"] = bucket_id
        if due:
            body["dueDateTime"] = due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assignees = {
            user: {"@odata.type": "#microsoft.graph.plannerAssignment", "orderHint": " !"} for user in assignee_ids
        }
        if assignees:
            body["assignments"] = assignees
        # not the title in error messages: it quotes the ticket's subject, the customer's words
        return self.request(
            "POST",
            "planner/tasks",
            data=body,
            what=f"create Planner task in plan {plan_id}",
            not_found=f"no Planner plan {plan_id}; correct the setting planner_plan_id",
            recover=lambda: self.find_planner_task(plan_id, title),
        )

    def find_planner_task(self, plan_id: str, title: str) -> dict | None:
        """The plan's task with this title, the newest; None when there is none."""
        tasks = self.request(
            "GET",
            "planner/plans/{plan_id}/tasks",
            path_parameters={"plan_id": plan_id},
            what=f"list the tasks of plan {plan_id}",
            expect=("value",),
            expect_status=(200,),
        )["value"]
        same = [t for t in tasks if t.get("title") == title]
        return max(same, key=lambda t: t.get("createdDateTime") or "", default=None)

    def update_planner_task_details(
        self, task_id: str, *, description: str | None = None, references: dict[str, str] | None = None
    ) -> None:
        """Set a task's description and links (``references`` maps URLs to display names). Planner
        changes need the current ETag (If-Match), so this reads the details first; setting the same
        values again is harmless."""
        what = f"update Planner task {task_id}"
        current = self.request(
            "GET",
            "planner/tasks/{task_id}/details",
            path_parameters={"task_id": task_id},
            what=what,
            expect=("@odata.etag",),
            expect_status=(200,),
        )
        changes: dict[str, Any] = {}
        if description is not None:
            changes["description"] = description
        if references:
            changes["references"] = {
                planner_reference_key(url): {
                    "@odata.type": "microsoft.graph.plannerExternalReference",
                    "alias": alias,
                    "type": "Other",
                }
                for url, alias in references.items()
            }
        if changes:
            self.request(
                "PATCH",
                "planner/tasks/{task_id}/details",
                path_parameters={"task_id": task_id},
                data=changes,
                headers={"If-Match": current["@odata.etag"]},
                what=what,
                expect=(),
                expect_status=(200, 204),
            )


def planner_reference_key(url: str) -> str:
    """Planner keys a task's references by URL, as an OData property name: percent-encoded, with
    '.', ':', '@' and '#' encoded too (``quote`` leaves '.' alone)."""
    return quote(url, safe="").replace(".", "%2E")
