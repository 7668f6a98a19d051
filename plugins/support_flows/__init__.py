"""support-flows: the code the support DAGs share, in layers. A layer imports only from the layers
listed before it (``tests/unit/test_layout.py`` checks it, and that the README's folder map lists
every module):

- ``clients``: the outside systems (Support API, Microsoft Graph) and the one retry policy
- ``storage``: the reporting database (tables, migrations, ledger, watermarks, Assets)
- ``core``: what every task works with (the catalog of DAGs, settings, the runtime, e-mails, reporting rows)
- ``flows``: the flows' steps, one module per flow, called by the DAG files in ``dags/``
- ``operations``: what runs the flows rather than being one: the event watcher, the error log and
  alerts, deadlines for late runs
- ``authoring``: helpers of the DAG files (defaults, Params, schedules, pools, deadlines)
- ``server``: what runs inside Airflow's own processes (listener, REST guard, keys, roles)
"""
