"""Helpers of the DAG files:

- ``dag_defaults``: owner, retries, tags, access and the task decorator every DAG shares
- ``params``: the REST payloads of the event DAGs as Airflow Params
- ``schedules``: cron schedules in the support centre's time zone
- ``pools``: the pool that keeps the flows within Graph's limit per mailbox
- ``lateness``: deadline alerts for runs that are late
"""
