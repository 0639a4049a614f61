"""Schema version 8: when a task was queued, and the earlier tries of a retried task.

- ``task_instance.queued_at``: when the latest try was queued (Airflow's ``queued_when``),
  the start of the Gantt's queued phase.
- ``task_instance.tries_synced``: the try number whose earlier tries the store has; the
  run sync asks Airflow for a task's tries only while it differs from ``try_number``.
- ``task_try``: one row per earlier try (state, queued, start and end times), from
  Airflow's task-instance history.

Frozen: plain columns and the version-8 table, independent of ``daemon.store.models``.
"""

from peewee import (
    AutoField,
    CharField,
    Database,
    DateTimeField,
    FloatField,
    IntegerField,
    Model,
)
from playhouse.migrate import SchemaMigrator, migrate

DESCRIPTION = "queued time and earlier tries of task instances"


class TaskTry(Model):
    id = AutoField()
    run_id = IntegerField()
    task_id = CharField(max_length=250)
    map_index = IntegerField()
    try_number = IntegerField()
    state = CharField(max_length=20, null=True)
    queued_at = DateTimeField(null=True)
    started_at = DateTimeField(null=True)
    ended_at = DateTimeField(null=True)
    duration_seconds = FloatField(null=True)

    class Meta:
        table_name = "task_try"
        legacy_table_names = False  # index names are <table_name>_<columns>
        indexes = ((("run_id", "task_id", "map_index", "try_number"), True),)


def up(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("task_instance", "queued_at", DateTimeField(null=True)),
        migrator.add_column("task_instance", "tries_synced", IntegerField(null=True)),
    )
    with db.bind_ctx([TaskTry]):
        db.create_tables([TaskTry], safe=False)
