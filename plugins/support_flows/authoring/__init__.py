"""Helpers of the DAG files:

- ``dag_defaults``: the ``@dag`` arguments of each kind (event, scheduled) and the task decorator
- ``schedules``: cron schedules in the support centre's time zone
- ``pools``: the pool that keeps the flows within Graph's limit per mailbox
- ``lateness``: deadline alerts for runs that are late
"""
