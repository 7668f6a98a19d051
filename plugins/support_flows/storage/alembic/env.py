"""Alembic's environment for the reporting database. The deploy step
(``python -m support_flows.storage.migrations migrate``) hands it its connection; the ``alembic``
command line may pass one as ``-x url=...`` (default: the ``support_reporting`` connection)."""

from alembic import context

from support_flows.storage import migrations

connection = context.config.attributes.get("connection")
if connection is None:  # run by the alembic command line
    url = context.get_x_argument(as_dictionary=True).get("url")
    with migrations.owner_engine(url).begin() as connection:
        migrations.configure(context, connection)
        context.run_migrations()
else:
    migrations.configure(context, connection)
    with context.begin_transaction():
        context.run_migrations()
