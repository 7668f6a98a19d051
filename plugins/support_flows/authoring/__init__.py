"""Helpers of the DAG files:

- ``catalog``: the one list of the DAGs (the flows' contracts) and what derives from it: the REST
  guard's rules, the outcome checks, the docs' tables (``python -m support_flows.authoring.catalog``)
- ``dag_defaults``: the ``@dag`` arguments of each kind (event, scheduled) and ``@step``, a task
  that gets its runtime and the run's Params as arguments
- ``schedules``: a contract's cron schedule in the support centre's time zone
- ``escalation_steps``: Flow 4's tasks, for its daily DAG and its 15-minute SLA watch
- ``pools``: the pool of the tasks that send from the sender mailboxes (Graph's 4 concurrent requests)
"""
