"""Schema version 3: the action queue, the daemon lease, task log tails and the notification outbox.

Frozen like 0001: the version-3 tables as released, independent of ``daemon.store.models``.
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

DESCRIPTION = "actions, daemon lease, task logs, notification outbox"


class Table(Model):
    class Meta:
        legacy_table_names = False  # index names are <table_name>_<columns>, as released


class Action(Table):
    id = AutoField()
    kind = CharField(max_length=20, index=True)
    target = TextField()
    source_type = CharField(max_length=10, null=True)
    params = TextField(null=True)
    reason = TextField(null=True)
    requested_by = CharField(max_length=100)
    requested_at = DateTimeField()
    state = CharField(max_length=10, index=True)
    claimed_by = CharField(max_length=200, null=True)
    claimed_at = DateTimeField(null=True)
    attempts = IntegerField()
    checkpoint = TextField(null=True)
    progress_done = IntegerField(null=True)
    progress_total = IntegerField(null=True)
    message = TextField(null=True)
    result = TextField(null=True)
    error = TextField(null=True)
    finished_at = DateTimeField(null=True)
    updated_at = DateTimeField(index=True)

    class Meta:
        table_name = "action"


class DaemonLease(Table):
    id = AutoField()
    key = CharField(max_length=255, unique=True)
    holder = CharField(max_length=200)
    hostname = CharField(max_length=200)
    pid = IntegerField()
    version = CharField(max_length=40)
    started_at = DateTimeField()
    heartbeat_at = DateTimeField()
    status = TextField(null=True)
    stopped_at = DateTimeField(null=True)

    class Meta:
        table_name = "daemon_lease"


class TaskLog(Table):
    id = AutoField()
    run_id = IntegerField()
    task_id = CharField(max_length=250)
    map_index = IntegerField()
    try_number = IntegerField()
    content = TextField()
    truncated = BooleanField()
    fetched_at = DateTimeField()

    class Meta:
        table_name = "task_log"
        indexes = ((("run_id", "task_id", "map_index", "try_number"), True),)


class Notification(Table):
    id = AutoField()
    event_id = IntegerField()
    channel = CharField(max_length=20)
    target = TextField(null=True)
    payload = TextField()
    state = CharField(max_length=10, index=True)
    attempts = IntegerField()
    next_attempt_at = DateTimeField()
    last_error = TextField(null=True)
    sent_at = DateTimeField(null=True)
    created_at = DateTimeField()

    class Meta:
        table_name = "notification"
        indexes = ((("event_id", "channel", "target"), True),)


TABLES = (Action, DaemonLease, TaskLog, Notification)


def up(db: Database) -> None:
    with db.bind_ctx(TABLES):
        db.create_tables(TABLES, safe=False)
