# The support-flows image: Apache Airflow 3.3.2 (the official image) with this package's runtime
# dependencies and its code baked in. docker-compose.yaml builds it; the Helm values
# (deploy/helm/values.yaml) run it. Tests and tools (requirements-dev.txt) are not installed here.
#
#   docker build -t support-flows-airflow:3.3.2-1 .
FROM apache/airflow:3.3.2-python3.11

# The official image installs as its own user (airflow, uid 50000); constraints.txt pins the same
# versions as the development machine and CI, and apache-airflow stays at the image's version.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/support-flows/
RUN pip install --no-cache-dir "apache-airflow==3.3.2" \
        -r /opt/support-flows/requirements.txt -c /opt/support-flows/constraints.txt

# The code: DAG files and the support_flows package (found through the plugins folder and
# PYTHONPATH), and the demo's mock backend (docker-compose.demo.yaml; unused in production).
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 mock_backend/ /opt/airflow/mock_backend/
# Folders that named volumes are mounted on: created here, owned by the image's user, so a new
# volume starts with this ownership and the user can write to it.
RUN mkdir -p /opt/airflow/logs /opt/airflow/mock-data
ENV PYTHONPATH=/opt/airflow/plugins:/opt/airflow
