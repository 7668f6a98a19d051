"""What every task works with:

- ``catalog``: the one list of the DAGs (ids, flows, kinds, Params, PowerApps actions)
- ``params``: the REST payloads of the DAGs as Airflow Params
- ``outcomes``: what each PowerApps flow answers, field by field
- ``settings``: typed settings read at run time from Airflow Variables or the environment
- ``runtime``: a task's settings, clients, store and mailer in one object
- ``notifications``: e-mails from Jinja2 templates (``templates/``)
- ``mailer``: the one road for e-mail: once per key, exactly once at Graph, the mailboxes' daily budgets
- ``facts``: rows of the reporting tables built from the Support API's objects, the customer key
- ``times``: the Support API's times as aware times, and now
- ``business_time``: ages in business hours, with the business calendar
- ``sla``: SLA policies per priority, the response and resolution clocks, their pauses
- ``chart``: the daily report's PNG chart
- ``metrics``: the package's own StatsD metrics (watcher lag, trigger to e-mail)
"""
