"""Schema version 6: runs slower than their workflow's usual duration, and task logs that
follow a running task.

- ``workflow.usual_seconds``: the usual duration of the workflow's successful runs (the
  daemon keeps it: a high percentile of the recent ones), the yardstick of "slow".
- ``run.slow``: the run took (or is taking) far longer than usual.
- ``task_log.continuation_token``: where Airflow's log of the try continues, so a
  follow-up fetch asks only for the new part.

Frozen: plain columns, independent of ``daemon.store.models``.
"""

from peewee import BooleanField, Database, FloatField, TextField
from playhouse.migrate import SchemaMigrator, migrate

DESCRIPTION = "slow runs, log continuation"


def up(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("workflow", "usual_seconds", FloatField(null=True)),
        migrator.add_column("run", "slow", BooleanField(default=False)),
        migrator.add_column("task_log", "continuation_token", TextField(null=True)),
    )
