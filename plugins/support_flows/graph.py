"""Microsoft Graph for the flows: mail, calendar events, SharePoint files and Planner tasks.

Everything goes through the microsoft-azure provider's ``KiotaRequestAdapterHook`` on the
``support_graph`` connection (type msgraph), so reaching the real Graph or the mock is a matter of
connection settings alone (``host``/``schema`` or extra ``base_url``, ``authority``, ``tenant_id``).

Two things are done differently from the provider's defaults, on purpose:
- errors keep their HTTP status and ``Retry-After``, so the shared retry policy can tell a
  transient failure (429, 5xx, timeout) from a refusal (other 4xx);
- the SDK's own retry middleware is switched off per request, so a call is tried exactly as often
  as the policy says (3 attempts), not 3 times 4.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from airflow.providers.microsoft.azure.hooks.msgraph import KiotaRequestAdapterHook, MSGraphMailHook
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kiota_abstractions.request_option import RequestOption
from kiota_abstractions.response_handler import ResponseHandler
from kiota_http.middleware.options import ResponseHandlerOption, RetryHandlerOption

from support_flows.retry import RetryPolicy, TransientError, call_with_retries, parse_retry_after


class GraphError(AirflowException):
    """Graph could not be reached or kept failing; a later task try may succeed."""


class GraphRequestError(AirflowFailException):
    """Graph refused the request (4xx other than 429). Retrying the same request cannot help."""

    def __init__(self, status: int, message: str, what: str):
        super().__init__(f"Microsoft Graph refused {what} ({status}): {message}")
        self.status = status


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
            raise _HttpStatusError(response.status_code, message, parse_retry_after(response.headers.get("Retry-After")))
        return {"status": response.status_code, "body": value}


_NO_SDK_RETRIES: RequestOption = RetryHandlerOption(delay=0, max_retries=0, should_retry=False)


class GraphClient:
    """Synchronous facade for tasks: each method is one Graph request with the shared retry policy.

    :param conn_id: msgraph connection id.
    :param timeout: seconds for each HTTP request.
    """

    def __init__(
        self,
        conn_id: str = "support_graph",
        timeout: float = 30.0,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.conn_id = conn_id
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy()
        self._sleep = sleep
        # azure-identity logs every token request's headers at INFO; keep task logs readable.
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)

    # --- transport ----------------------------------------------------------------------------------

    async def _send_once(self, method: str, url: str, path_parameters: dict, data: Any, headers: dict | None) -> Any:
        hook = KiotaRequestAdapterHook(conn_id=self.conn_id, timeout=self.timeout)
        try:
            info = hook.request_information(
                url=url, method=method, path_parameters=path_parameters, data=data, headers=headers
            )
            info.request_options[ResponseHandlerOption.get_key()] = ResponseHandlerOption(
                response_handler=_StatusKeepingHandler()
            )
            info.add_request_options([_NO_SDK_RETRIES])
            return await hook.send_request(info)
        finally:
            await hook.close()

    def request(self, method: str, url: str, *, path_parameters: dict | None = None, data: Any = None,
                headers: dict | None = None, what: str | None = None, expect: tuple[str, ...] = ("id",),
                expect_status: tuple[int, ...] = (200, 201)) -> Any:
        """One Graph request with the retry policy; the answer must have ``expect_status`` and,
        for a JSON answer, the keys ``expect`` (else ``GraphResponseError`` says what was expected)."""
        what = what or f"{method} {url}"

        def attempt() -> Any:
            try:
                answer = asyncio.run(self._send_once(method, url, path_parameters or {}, data, headers))
            except _HttpStatusError as err:
                if err.status == 429 or err.status >= 500:
                    raise TransientError(str(err), err.retry_after) from err
                raise GraphRequestError(err.status, str(err.body), what) from err
            except (httpx.TimeoutException, httpx.TransportError) as err:
                raise TransientError(f"{type(err).__name__}: {err}") from err
            status, body = answer["status"], answer["body"]
            if status not in expect_status:
                raise GraphResponseError(f"Graph {what}: expected HTTP {' or '.join(map(str, expect_status))}, got {status}: {str(body)[:200]}")
            if expect and (not isinstance(body, dict) or any(key not in body for key in expect)):
                raise GraphResponseError(f"Graph {what}: expected a JSON object with {', '.join(expect)}, got {str(body)[:200]!r}")
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
        cc: str | Iterable[str] | None = None,
        headers: dict[str, str] | None = None,
        attachments: list[dict] | None = None,
        reference: str | None = None,
    ) -> None:
        """Send an HTML e-mail from ``sender``'s mailbox. ``headers`` names must start with ``x-``.

        ``attachments`` are Graph ``fileAttachment`` objects (e.g. an inline chart with
        ``isInline`` and ``contentId``). ``reference`` (e.g. the e-mail's idempotency key, which
        names the ticket) goes into error messages instead of the recipients: those end up in
        ``flow_errors``, which holds no customer address.
        """
        message = MSGraphMailHook.build_message(to=to, subject=subject, html_content=html, cc=cc, custom_headers=headers)
        if attachments:
            message["attachments"] = attachments
        self.request(
            "POST",
            "users/{user_id}/sendMail",
            path_parameters={"user_id": MSGraphMailHook.extract_sender(sender)},
            data={"message": message, "saveToSentItems": True},
            what=f"sendMail ({reference})" if reference else "sendMail",
            expect=(),
            expect_status=(202,),
        )

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
        end = start + duration
        body = {
            "subject": subject,
            "body": {"contentType": "HTML", "content": html},
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": start.tzname() or "UTC"},
            "end": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": end.tzname() or "UTC"},
            "isReminderOn": True,
            "reminderMinutesBeforeStart": reminder_minutes,
            "transactionId": transaction_id,
        }
        return self.request(
            "POST", "users/{user_id}/events", path_parameters={"user_id": mailbox}, data=body,
            what=f"create event in {mailbox}'s calendar",
        )

    def delete_event(self, mailbox: str, event_id: str) -> bool:
        """Delete an event from ``mailbox``'s calendar; False when it was already gone (404), so a
        repeat is harmless."""
        try:
            self.request("DELETE", "users/{user_id}/events/{event_id}",
                         path_parameters={"user_id": mailbox, "event_id": event_id},
                         what="delete a calendar event", expect=(), expect_status=(204,))
        except GraphRequestError as err:
            if err.status == 404:
                return False
            raise
        return True

    # --- SharePoint -------------------------------------------------------------------------------------

    def upload_file(self, site_id: str, path: str, content: bytes, content_type: str) -> dict:
        """Put a file (up to 4 MB) at ``path`` in the site's default document library."""
        return self.request(
            "PUT",
            "sites/{site_id}/drive/root:/" + path.strip("/") + ":/content",
            path_parameters={"site_id": site_id},
            data=content,
            headers={"Content-Type": content_type},
            what=f"upload {path}",
        )

    # --- Planner ----------------------------------------------------------------------------------------

    def create_planner_task(self, plan_id: str, title: str, *, due: datetime | None = None,
                            assignee_ids: Iterable[str] = (), bucket_id: str | None = None,
                            description: str | None = None, references: dict[str, str] | None = None) -> dict:
        """A Planner task; ``references`` maps URLs to their display names (e.g. the ticket link)."""
        body: dict[str, Any] = {"planId": plan_id, "title": title}
        details: dict[str, Any] = {}
        if description:
            details["description"] = description
        if references:
            # Planner keys references by the URL itself, percent-encoded.
            details["references"] = {
                quote(url, safe=""): {"@odata.type": "microsoft.graph.plannerExternalReference", "alias": alias, "type": "Other"}
                for url, alias in references.items()
            }
        if details:
            body["details"] = details
        if bucket_id:
            body["bucketId"] = bucket_id
        if due:
            body["dueDateTime"] = due.isoformat()
        assignees = {
            user: {"@odata.type": "#microsoft.graph.plannerAssignment", "orderHint": " !"} for user in assignee_ids
        }
        if assignees:
            body["assignments"] = assignees
        # not the title in error messages: it quotes the ticket's subject, the customer's words
        return self.request("POST", "planner/tasks", data=body, what=f"create Planner task in plan {plan_id}")
