# The support-flows image: Apache Airflow 3.3.2 (the official image) with the support_flows package
# installed from pyproject.toml (its runtime dependencies: requirements.txt) and the DAG files baked
# in. docker-compose.yaml builds it; the Helm values (deploy/helm/values.yaml) run it. Airflow finds
# the plugin through the package's entry point: no plugins folder, no PYTHONPATH.
#
#   docker build --target production -t support-flows-airflow:3.3.2-python3.11-1 .
#   docker build --target demo -t support-flows-demo:3.3.2-python3.11-1 .   # + the mock backend
#
# The base tag names its Python: constraints.txt is resolved for it (`python3 scripts/dev.py lock`
# resolves for IMAGE_PYTHON and IMAGE_PLATFORM, which a test keeps equal to this tag).
FROM apache/airflow:3.3.2-python3.11 AS production

# The official image installs as its own user (airflow, uid 50000); constraints.txt pins the same
# versions as the development machine and CI, and apache-airflow stays at the image's version.
# .dockerignore lets in only what these COPY lines name.
COPY --chown=airflow:0 pyproject.toml requirements.txt constraints.txt /opt/support-flows/
COPY --chown=airflow:0 plugins/support_flows/ /opt/support-flows/plugins/support_flows/
RUN pip install --no-cache-dir "apache-airflow==3.3.2" /opt/support-flows -c /opt/support-flows/constraints.txt
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
# The data dictionary, which the migration step writes into the reporting database as COMMENT ON.
COPY --chown=airflow:0 docs/data-dictionary.md /opt/support-flows/docs/data-dictionary.md
# The task logs' folder, where a named volume is mounted: created here, owned by the image's user,
# so a new volume starts with this ownership and the user can write to it.
RUN mkdir -p /opt/airflow/logs

# The demo (docker-compose.demo.yaml): the same image plus the mock of the Support API, Graph and
# Key Vault, with its data folder. Never deployed to production.
FROM production AS demo
COPY --chown=airflow:0 mock_backend/ /opt/support-flows/mock_backend/
RUN pip install --no-cache-dir /opt/support-flows/mock_backend -c /opt/support-flows/constraints.txt \
    && mkdir -p /opt/airflow/mock-data
