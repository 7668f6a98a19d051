"""What runs the flows rather than being one: the backend-events watcher that starts them
(``events``), the central error log and the failure alerts (``alerts``), the deadlines that alert a
late run (``lateness``), the retention clean-up of Airflow's own records (``maintenance``). The
DAG files, the listener and the scheduled error-log round call them."""
