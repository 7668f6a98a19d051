"""The reporting database the analytics team reads, and the flows' own bookkeeping in it:

- ``tables``: the tables, their schemas (analysts' and internal) and roles, the customer key
- ``migrations``: the deploy step (``python -m support_flows.storage.migrations migrate``) around the
  Alembic revisions in ``alembic/versions`` (one per schema version), ``check`` and ``revision``
- ``loads``: idempotent upserts, with COPY for large loads on PostgreSQL
- ``ledger``: the side-effect ledger, so each e-mail, Planner task or upload is made once
- ``intake``: a run's customer fields, kept (encrypted) for its first step instead of in Airflow's metadata
- ``reporting``: ``ReportingStore``: the connection, loads, the ledger and watermarks by name (the
  reports that need a query of their own, in flows/, build it with SQLAlchemy on its engine)
- ``reporting_assets``: the reporting tables as Airflow Assets
- ``dictionary``: docs/data-dictionary.md written into the database as ``COMMENT ON``
"""
