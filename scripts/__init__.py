"""support_flows_dev: the development tools (installed under this name from ``scripts/``): the
stack launcher behind ``python3 scripts/dev.py run`` (``devstack``: the stack's configuration and
lifecycle), its processes and their supervision (``processes``), the deploy steps it runs before
Airflow starts (``bootstrap``), its embedded PostgreSQL (``pgserver``), a PowerApps-like REST
client (``rest_client``) and the connector generator (``powerapps_connector``). ``dev.py`` itself
is the standard-library bootstrap that installs all of this."""
