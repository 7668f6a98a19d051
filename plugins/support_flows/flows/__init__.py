"""The flows, one module per flow: each declares its contract (``core.contract.FlowContract``: what
starts it, its Params, what it answers) beside its steps, which the DAG files in ``dags/`` call. Its
DAG file reads the contract while it is parsed, so a flow module's top level imports only what
declares it (``core.contract``, ``params``, ``outcomes``, ``times``); its steps import the rest
(settings, SLA clocks, templates, the mailer, the reporting tables, client errors) where they use
it, and the runtime is an annotation only (``tests/dags/test_dag_folder.py`` holds the list).

- ``tickets``: Flow 1, a new ticket answered by the AI or acknowledged and queued
- ``ai_answers``: Flow 1 after the AI answered: a reply goes to an agent, silence closes the ticket,
  the survey follows
- ``replies``: a customer's reply reaches a person: the agent told, the ticket reopened, or a new one
- ``assignment``: Flow 2 (an admin's choice and assignment by workload) and the agent's reminder
- ``resolution``: Flow 3, the resolution, the customer's e-mail, the reporting row, the survey
- ``lifecycle``: Flow 3 continued, pending tickets reminded then resolved, resolved tickets closed
- ``escalation``: Flow 4, stale tickets
- ``daily_summary``: Flow 5, the day's report
- ``feedback``: Flow 6, the feedback, the follow-up task, the agent's metrics, the thank-you
- ``analytics``: the nightly load of the reporting tables

What runs the flows rather than being one (the event watcher, the error log and alerts, deadlines)
is in ``support_flows.operations``.
"""
