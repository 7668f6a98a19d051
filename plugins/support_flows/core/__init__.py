"""What every task works with:

- ``contract``: what a DAG promises (``FlowContract``: its Params, outcome, backend events, schedule),
  declared by each flow module beside its steps
- ``params``: the REST payloads' building blocks as Airflow Params, and the REST guard's markers
- ``outcomes``: the outcome fields' building block and the check of an outcome against them
- ``settings``: typed settings read at run time from Airflow Variables or the environment
- ``runtime``: a task's settings, clients, store and mailer in one object
- ``notifications``: e-mails from Jinja2 templates (``templates/``)
- ``i18n``: customers' e-mails in their language (catalogs in ``locale/``), dates the locale's way
- ``routing``: which agent suits a ticket: skill, language, group
- ``mailer``: the one road for e-mail: once per key, exactly once at Graph, the mailboxes' daily budgets
- ``facts``: rows of the reporting tables built from the Support API's objects, the customer key
- ``times``: the Support API's times as aware times, and now
- ``business_time``: ages in business hours, with the business calendar
- ``sla``: SLA policies per priority, the response and resolution clocks, their pauses
- ``chart``: the daily report's PNG chart
- ``metrics``: the package's own StatsD metrics (watcher lag, trigger to e-mail)
"""
