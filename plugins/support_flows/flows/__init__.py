"""The flows' steps, one module per flow; the DAG files in ``dags/`` call them:

- ``tickets``: Flow 1, a new ticket answered by the AI or acknowledged and queued
- ``ai_answers``: Flow 1 after the AI answered: a reply goes to an agent, silence closes the ticket
- ``assignment``: Flow 2 (an admin's choice and assignment by workload) and the agent's reminder
- ``escalation``: Flow 4, stale tickets
- ``daily_summary``: Flow 5, the day's report
- ``feedback``: Flow 6, the follow-up task and the agent's metrics
- ``analytics``: the nightly load of the reporting tables
- ``events``: the backend's event feed, which starts flows without PowerApps
- ``alerts``: the central error log and the failure alerts
"""
