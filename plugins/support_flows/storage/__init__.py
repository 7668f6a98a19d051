"""The reporting database the analytics team reads, and the flows' own bookkeeping in it:

- ``reporting``: schema and versioned migrations, idempotent upserts, the side-effect ledger,
  watermarks, the error log's rows
- ``reporting_assets``: the reporting tables as Airflow Assets
"""
