"""Schema version 1: clusters, workflows, spec files, events, sync state.

Frozen: these declarations are the version-1 tables as released, written out here so that
later changes to ``daemon.store.models`` cannot change what this migration creates. Never
edit them; change a table with a new migration (``tests/daemon/store/test_migrations.py``
fails while the models and the migrated schema differ).

Only the DDL matters here, so the columns use peewee's own types: ``UTCDateTimeField`` is a
``DateTimeField`` and ``JSONField`` a ``TextField`` in the database, and Python defaults are
not part of a table's definition.
"""

from peewee import (
    AutoField,
    BooleanField,
    CharField,
    Database,
    DateTimeField,
    FloatField,
    IntegerField,
    Model,
    TextField,
)

DESCRIPTION = "clusters, workflows, spec files, events, sync state"


class Table(Model):
    class Meta:
        legacy_table_names = False  # index names are <table_name>_<columns>, as released


class Cluster(Table):
    id = AutoField()
    name = CharField(max_length=255, unique=True)
    team = CharField(max_length=255, index=True)
    url = TextField()
    environment = CharField(max_length=255)
    dag_name_prefix = CharField(max_length=255)
    api_version = CharField(max_length=255)
    detected_api_version = CharField(max_length=255, null=True)
    airflow_version = CharField(max_length=255, null=True)
    healthy = BooleanField(null=True)
    latency_ms = FloatField(null=True)
    last_ok_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    checked_at = DateTimeField(null=True)
    configured = BooleanField()
    updated_at = DateTimeField(index=True)

    class Meta:
        table_name = "cluster"


class Workflow(Table):
    id = AutoField()
    dataset_name = CharField(max_length=200)
    source_type = CharField(max_length=10)
    status = CharField(max_length=16, index=True)
    overridden_by = CharField(max_length=10, null=True)
    spec_path = TextField(null=True)
    spec = TextField(null=True)
    spec_yaml = TextField(null=True)
    spec_error = TextField(null=True)
    cron = CharField(max_length=255, null=True)
    timezone = CharField(max_length=255, null=True)
    enabled = BooleanField()
    team = CharField(max_length=255, null=True, index=True)
    owner = CharField(max_length=255, null=True)
    description = TextField(null=True)
    next_run = DateTimeField(null=True)
    is_paused = BooleanField(null=True)
    valid_at = DateTimeField(null=True)
    removed_at = DateTimeField(null=True)
    created_at = DateTimeField()
    updated_at = DateTimeField(index=True)

    class Meta:
        table_name = "workflow"
        indexes = ((("dataset_name", "source_type"), True),)


class SpecFile(Table):
    id = AutoField()
    path = CharField(max_length=1024, unique=True)
    source_type = CharField(max_length=10)
    dataset_name = CharField(max_length=200, null=True, index=True)
    state = CharField(max_length=10)
    error = TextField(null=True)
    error_line = IntegerField(null=True)
    parse_error = TextField(null=True)
    warnings = TextField(null=True)
    size = IntegerField()
    version = CharField(max_length=200)
    last_modified = DateTimeField(null=True)
    content = TextField(null=True)
    spec = TextField(null=True)
    fetched_at = DateTimeField()
    updated_at = DateTimeField(index=True)

    class Meta:
        table_name = "spec_file"


class Event(Table):
    id = AutoField()
    at = DateTimeField(index=True)
    kind = CharField(max_length=40, index=True)
    severity = CharField(max_length=10)
    subject = TextField()
    message = TextField()
    data = TextField(null=True)

    class Meta:
        table_name = "event"


class SyncState(Table):
    id = AutoField()
    key = CharField(max_length=255, unique=True)
    last_started_at = DateTimeField(null=True)
    last_ok_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    error_since = DateTimeField(null=True)
    cursor = TextField(null=True)
    data = TextField(null=True)
    updated_at = DateTimeField()

    class Meta:
        table_name = "sync_state"


TABLES = (Cluster, Workflow, SpecFile, Event, SyncState)


def up(db: Database) -> None:
    with db.bind_ctx(TABLES):
        db.create_tables(TABLES, safe=False)
