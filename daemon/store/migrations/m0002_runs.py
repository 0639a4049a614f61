"""Schema version 2: runs and their task instances (the run sync).

Frozen like 0001: the version-2 tables as released, independent of ``daemon.store.models``.
"""

from peewee import (
    AutoField,
    CharField,
    Database,
    DateTimeField,
    FloatField,
    IntegerField,
    Model,
    TextField,
)

DESCRIPTION = "runs and task instances"


class Table(Model):
    class Meta:
        legacy_table_names = False  # index names are <table_name>_<columns>, as released


class Run(Table):
    id = AutoField()
    cluster = CharField(max_length=255, index=True)
    dag_id = CharField(max_length=250)
    dag_run_id = CharField(max_length=250)
    dataset_name = CharField(max_length=200, index=True)
    status = CharField(max_length=10, index=True)
    airflow_state = CharField(max_length=20, null=True)
    run_type = CharField(max_length=20, null=True)
    triggered_by = CharField(max_length=40, null=True)
    logical_date = DateTimeField(null=True)
    queued_at = DateTimeField(null=True)
    started_at = DateTimeField(null=True, index=True)
    ended_at = DateTimeField(null=True)
    conf = TextField(null=True)
    note = TextField(null=True)
    total = IntegerField()
    succeeded = IntegerField()
    failed = IntegerField()
    running = IntegerField()
    queued = IntegerField()
    skipped = IntegerField()
    current_task = TextField(null=True)
    last_seen_at = DateTimeField(null=True)
    created_at = DateTimeField()
    updated_at = DateTimeField(index=True)

    class Meta:
        table_name = "run"
        indexes = ((("cluster", "dag_id", "dag_run_id"), True),)


class TaskInstance(Table):
    id = AutoField()
    run_id = IntegerField(index=True)
    task_id = CharField(max_length=250)
    map_index = IntegerField()
    state = CharField(max_length=20, null=True)
    try_number = IntegerField()
    started_at = DateTimeField(null=True)
    ended_at = DateTimeField(null=True)
    duration_seconds = FloatField(null=True)
    updated_at = DateTimeField(index=True)

    class Meta:
        table_name = "task_instance"
        indexes = ((("run_id", "task_id", "map_index"), True),)


TABLES = (Run, TaskInstance)


def up(db: Database) -> None:
    with db.bind_ctx(TABLES):
        db.create_tables(TABLES, safe=False)
