"""support-flows: the code the support DAGs share, one module per outside system.

- ``support_api``: the Support API (providers-http ``HttpHook`` underneath)
- ``graph``: mail, calendar, SharePoint and Planner through Microsoft Graph (msgraph provider)
- ``reporting``: the analytics tables and their idempotent loads (SQLAlchemy Core)
- ``settings``: typed settings read at run time from Airflow Variables or the environment
- ``retry``: the one retry policy both clients use (3 attempts, exponential backoff)
"""
