"""The second alert channel: a chat webhook (a Teams or Slack incoming webhook, Mattermost, ...),
for when the mailbox cannot carry an alert: Graph refuses the e-mail, or ``sender_mailbox`` is wrong,
which would otherwise silence every alert at once.

An Airflow notifier (``AlertWebhookNotifier``), so a DAG can also name it in a callback. It posts
``{"text": ...}`` (what incoming webhooks take) to the URL of the connection ``support_alert_webhook``
(conn type http; its host is the whole webhook URL, e.g.
``AIRFLOW_CONN_SUPPORT_ALERT_WEBHOOK='{"conn_type": "http", "host": "https://hooks.slack.com/services/..."}'``).
Without that connection there is no second channel, and the e-mail alert waits for Graph as before.
"""

from __future__ import annotations

import logging

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

CONN_ID = "support_alert_webhook"
TEXT_LIMIT = 3000  # well within Slack's and Teams' message limits
TIMEOUT_SECONDS = 10


class AlertWebhookNotifier(BaseNotifier):
    """Post ``text`` to the alert webhook (a Jinja template, rendered with the callback's context)."""

    template_fields = ("text",)

    def __init__(self, text: str, conn_id: str = CONN_ID):
        super().__init__()
        self.text, self.conn_id = text, conn_id

    def notify(self, context) -> None:
        from airflow.providers.http.hooks.http import HttpHook

        HttpHook(method="POST", http_conn_id=self.conn_id).run(
            endpoint=None,
            json={"text": self.text[:TEXT_LIMIT]},
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
