"""The second alert channel: a chat webhook (a Teams or Slack incoming webhook, Mattermost, ...),
for when the mailbox cannot carry an alert: Graph refuses the e-mail, or ``sender_mailbox`` is wrong,
which would otherwise silence every alert at once.

An Airflow notifier (``AlertWebhookNotifier``), so a DAG can also name it in a callback. It posts to
the URL of the connection ``support_alert_webhook`` (conn type http; its host is the whole webhook
URL) in the receiver's own format, the connection's extra ``format`` (else guessed from the URL):

- ``teams``: a Teams Workflows webhook (the "Send webhook alerts to a channel" template, which
  replaced the retired Office 365 connectors) posts the Adaptive Cards of a message's
  ``attachments``; a plain ``{"text": ...}`` shows nothing there;
- ``slack``: a Slack incoming webhook takes ``{"text": ...}`` (Mattermost and others too).

    AIRFLOW_CONN_SUPPORT_ALERT_WEBHOOK='{"conn_type": "http", "host": "https://prod-12.westeurope.logic.azure.com/workflows/...", "extra": {"format": "teams"}}'

Without that connection there is no second channel, and the e-mail alert waits for Graph as before.
"""

from __future__ import annotations

import logging

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

CONN_ID = "support_alert_webhook"
TEXT_LIMIT = 3000  # well within Slack's and Teams' message limits
TIMEOUT_SECONDS = 10


FORMATS = ("teams", "slack")


def receiver_format(host: str, extra: dict) -> str:
    """The format the webhook takes: the connection's extra ``format``, else guessed from its URL
    (Teams Workflows URLs are Power Automate's; anything else gets Slack's ``text``)."""
    chosen = (extra.get("format") or "").lower()
    if chosen:
        if chosen not in FORMATS:
            raise ValueError(f"connection {CONN_ID}: extra format {chosen!r} is not one of {', '.join(FORMATS)}")
        return chosen
    teams_hosts = ("logic.azure.com", "powerautomate.com", "powerplatform.com", "flow.microsoft.com")
    return "teams" if any(part in host for part in teams_hosts) or "/workflows/" in host else "slack"


def payload(text: str, receiver: str) -> dict:
    """The body the receiver shows ``text`` from."""
    text = text[:TEXT_LIMIT]
    if receiver == "slack":
        return {"text": text}
    heading, _, rest = text.partition("\n")
    blocks = [{"type": "TextBlock", "text": heading, "weight": "Bolder", "size": "Medium", "wrap": True}]
    if rest.strip():
        blocks.append({"type": "TextBlock", "text": rest.strip(), "wrap": True})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": blocks,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


class AlertWebhookNotifier(BaseNotifier):
    """Post ``text`` to the alert webhook (a Jinja template, rendered with the callback's context)."""

    template_fields = ("text",)

    def __init__(self, text: str, conn_id: str = CONN_ID):
        super().__init__()
        self.text, self.conn_id = text, conn_id

    def notify(self, context) -> None:
        from airflow.providers.http.hooks.http import HttpHook
        from airflow.sdk import BaseHook

        connection = BaseHook.get_connection(self.conn_id)
        receiver = receiver_format(connection.host or "", connection.extra_dejson)
        HttpHook(method="POST", http_conn_id=self.conn_id).run(
            endpoint=None,
            json=payload(self.text, receiver),
            extra_options={"timeout": TIMEOUT_SECONDS, "check_response": True},
        )


def configured(conn_id: str = CONN_ID) -> bool:
    """Whether the deployment has the webhook connection."""
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException, or no way to ask: no second channel
        return False
    return True


def post(text: str, conn_id: str = CONN_ID) -> bool:
    """Send ``text`` through the webhook; True when it went out. Never raises: it is the fallback."""
    if not configured(conn_id):
        log.warning("no %s connection: the alert has no second channel", conn_id)
        return False
    try:
        AlertWebhookNotifier(text, conn_id).notify({})
    except Exception as err:  # noqa: BLE001
        log.error("the alert webhook refused the alert too: %s", err)
        return False
    return True
