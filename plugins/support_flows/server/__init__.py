"""What runs inside Airflow's own processes (registered by ``plugin``, the package's
``airflow.plugins`` entry point, or named in Airflow's configuration), and the deploy steps:

- ``plugin``: the Airflow plugin that registers the listener, the REST guard and the keys
- ``preflight``: the deploy step that checks every tenant setting and outside system before start

- ``listener``: sees every task failure: the error log, alerts, failure reasons
- ``failure_reasons``: why a run failed on its input, for the calling app (the run's note)
- ``api_guard``: the API-server middleware that checks bodies (linear, off the event loop) and refuses unknown fields
- ``api_keys``: the middleware that lets the PowerApps connection's integration key in
- ``key_store``: the integration keys' table: create, list, revoke, check (hashed, bound to a user, expiring)
- ``key_scope``: what a keyed request may reach, and the one-request token it reaches it with
- ``personal``: a trigger's customer fields taken out before Airflow sees them, kept for the run's first step
- ``limits``: the keys' limits (refused keys per caller, runs per key), one budget for every API-server worker and replica
- ``flow_calls``: the one-call API (``/support/v1/flows/{dag_id}``): start a flow, answer its outcome
- ``access``: roles and users through the FAB auth manager; the bootstrap and key commands
- ``preload``: modules imported once in the parent processes, so task processes start fast
- ``celery_config``: the Celery workers' configuration
"""
