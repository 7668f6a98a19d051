"""The outside systems, each behind one client with the shared retry policy:

- ``support_api``: the Support API (providers-http ``HttpHook`` underneath)
- ``graph``: mail, calendar, SharePoint, Planner and the directory through Microsoft Graph
  (the microsoft-azure provider's msgraph hook)
- ``alert_webhook``: the second alert channel, a chat webhook (an Airflow notifier over providers-http)
- ``retry``: the one retry policy both use (``CallRetryPolicy``: 3 attempts, exponential backoff,
  Retry-After; a 429 waited out without using an attempt)
"""
