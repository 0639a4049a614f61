"""Schema version 5: DAG import errors per cluster, and tasks waiting for a person
(Airflow's human-in-the-loop).

Frozen: the version-5 tables as released, independent of ``daemon.store.models``.
"""

from peewee import (
    AutoField,
    BooleanField,
    CharField,
    Database,
    DateTimeField,
    IntegerField,
    Model,
    TextField,
)

DESCRIPTION = "import errors, tasks waiting for input"


class Table(Model):
    class Meta:
        legacy_table_names = False  # index names are <table_name>_<columns>


class ImportError_(Table):
    id = AutoField()
    cluster = CharField(max_length=100, index=True)
    filename = TextField()
    stack_trace = TextField()
    timestamp = DateTimeField(null=True)
    updated_at = DateTimeField(index=True)

    class Meta:
        table_name = "import_error"


class HitlRequest(Table):
    id = AutoField()
    cluster = CharField(max_length=100)
    dag_id = CharField(max_length=250)
    dag_run_id = CharField(max_length=250)
    task_id = CharField(max_length=250)
    map_index = IntegerField()
    subject = TextField()
    body = TextField(null=True)
    options = TextField()
    multiple = BooleanField()
    defaults = TextField(null=True)
    params = TextField(null=True)
    created_at = DateTimeField(null=True)
    response_received = BooleanField(index=True)
    chosen_options = TextField(null=True)
    responded_by = CharField(max_length=200, null=True)
    responded_at = DateTimeField(null=True)
    updated_at = DateTimeField(index=True)

    class Meta:
        table_name = "hitl_request"
        indexes = ((("cluster", "dag_id", "dag_run_id", "task_id", "map_index"), True),)


def up(db: Database) -> None:
    tables = [ImportError_, HitlRequest]
    with db.bind_ctx(tables):
        db.create_tables(tables, safe=False)
