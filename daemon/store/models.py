"""The store's tables, declared once and bound to a database at start (``db.open_store``).

Every change to them comes with a new numbered migration in ``migrations/`` (released
ones are frozen; tests/daemon/store/test_migrations.py fails when one is missing). The
``updated_at`` index on every mutable table is what lets the dashboard ask "what changed
since my last look".
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BooleanField,
    CharField,
    DatabaseProxy,
    FloatField,
    IntegerField,
    Model,
    TextField,
)

from daemon.core.timefmt import utcnow
from daemon.store.fields import JSONField, UTCDateTimeField

database_proxy = DatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class Cluster(BaseModel):
    """One Airflow cluster per team, upserted from the config; health filled by the daemon."""

    id = AutoField()
    name = CharField(unique=True)
    team = CharField(index=True)
    url = TextField()
    environment = CharField(default="development")
    dag_name_prefix = CharField(default="")
    api_version = CharField(default="auto")
    detected_api_version = CharField(null=True)
    airflow_version = CharField(null=True)
    healthy = BooleanField(null=True)
    latency_ms = FloatField(null=True)
    last_ok_at = UTCDateTimeField(null=True)
    last_error = TextField(null=True)
    checked_at = UTCDateTimeField(null=True)
    configured = BooleanField(default=True)
    owner = CharField(max_length=200, null=True)
    """The daemon that syncs this cluster (its lease holder id); on a shared store
    several daemons split the clusters. NULL while no daemon has it."""
    owned_since = UTCDateTimeField(null=True)
    updated_at = UTCDateTimeField(default=utcnow, index=True)


class Workflow(BaseModel):
    """One row per (dataset name, source type); the last valid spec is kept on the row."""

    id = AutoField()
    dataset_name = CharField(max_length=200)
    source_type = CharField(max_length=10)
    status = CharField(max_length=16, index=True)
    overridden_by = CharField(max_length=10, null=True)
    spec_path = TextField(null=True)
    spec = JSONField(null=True)
    spec_yaml = TextField(null=True)
    spec_error = TextField(null=True)
    cron = CharField(null=True)
    timezone = CharField(null=True)
    enabled = BooleanField(default=True)
    team = CharField(null=True, index=True)
    owner = CharField(null=True)
    description = TextField(null=True)
    next_run = UTCDateTimeField(null=True)
    is_paused = BooleanField(null=True)
    usual_seconds = FloatField(null=True)
    """The usual duration of its successful runs (kept by the daemon): "slow" is relative to it."""
    valid_at = UTCDateTimeField(null=True)
    removed_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("dataset_name", "source_type"), True),)


class SpecFile(BaseModel):
    """One row per file in the spec store, with what the last fetch of it yielded."""

    id = AutoField()
    path = CharField(max_length=1024, unique=True)
    source_type = CharField(max_length=10)
    dataset_name = CharField(max_length=200, null=True, index=True)
    state = CharField(max_length=10)
    error = TextField(null=True)
    error_line = IntegerField(null=True)
    parse_error = TextField(null=True)
    warnings = JSONField(null=True)
    size = IntegerField()
    version = CharField(max_length=200)
    last_modified = UTCDateTimeField(null=True)
    content = TextField(null=True)
    spec = JSONField(null=True)
    fetched_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow, index=True)


class Event(BaseModel):
    """The event log: spec errors, sync errors, source changes, actions, health changes."""

    id = AutoField()
    at = UTCDateTimeField(default=utcnow, index=True)
    kind = CharField(max_length=40, index=True)
    severity = CharField(max_length=10)
    subject = TextField()
    message = TextField()
    data = JSONField(null=True)


class SyncState(BaseModel):
    """Per sync job (``specs``, later one per cluster): last outcome and cursor."""

    id = AutoField()
    key = CharField(unique=True)
    last_started_at = UTCDateTimeField(null=True)
    last_ok_at = UTCDateTimeField(null=True)
    last_error = TextField(null=True)
    error_since = UTCDateTimeField(null=True)
    cursor = TextField(null=True)
    data = JSONField(null=True)
    updated_at = UTCDateTimeField(default=utcnow)


class Run(BaseModel):
    """One DAG run of a managed DAG, whoever triggered it; progress counted from its tasks."""

    id = AutoField()
    cluster = CharField(index=True)
    dag_id = CharField(max_length=250)
    dag_run_id = CharField(max_length=250)
    dataset_name = CharField(max_length=200, index=True)
    status = CharField(max_length=10, index=True)
    airflow_state = CharField(max_length=20, null=True)
    run_type = CharField(max_length=20, null=True)
    triggered_by = CharField(max_length=40, null=True)
    logical_date = UTCDateTimeField(null=True)
    queued_at = UTCDateTimeField(null=True)
    started_at = UTCDateTimeField(null=True, index=True)
    ended_at = UTCDateTimeField(null=True)
    conf = JSONField(null=True)
    note = TextField(null=True)
    total = IntegerField(default=0)
    succeeded = IntegerField(default=0)
    failed = IntegerField(default=0)
    running = IntegerField(default=0)
    queued = IntegerField(default=0)
    skipped = IntegerField(default=0)
    current_task = TextField(null=True)
    slow = BooleanField(default=False)
    """Far slower than its workflow's usual duration (``Workflow.usual_seconds``)."""
    last_seen_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = (
            (("cluster", "dag_id", "dag_run_id"), True),
            (("dataset_name", "started_at"), False),  # the latest run of each workflow
        )

    @property
    def public_id(self) -> str:
        return f"{self.dataset_name}/{self.dag_run_id}"


class TaskInstance(BaseModel):
    """One task (or mapped task index) of a run, as Airflow last reported it."""

    id = AutoField()
    run_id = IntegerField(index=True)
    task_id = CharField(max_length=250)
    map_index = IntegerField(default=-1)
    state = CharField(max_length=20, null=True)
    try_number = IntegerField(default=0)
    queued_at = UTCDateTimeField(null=True)
    """When this try was queued (Airflow's ``queued_when``)."""
    started_at = UTCDateTimeField(null=True)
    ended_at = UTCDateTimeField(null=True)
    duration_seconds = FloatField(null=True)
    tries_synced = IntegerField(null=True)
    """The ``try_number`` whose earlier tries are in ``TaskTry``: the run sync asks Airflow
    for the tries only while this differs from ``try_number`` (above 1)."""
    updated_at = UTCDateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("run_id", "task_id", "map_index"), True),)


class TaskTry(BaseModel):
    """An earlier try of a task instance that was retried (the latest try is the
    ``TaskInstance`` row itself), from Airflow's task-instance history."""

    id = AutoField()
    run_id = IntegerField()
    task_id = CharField(max_length=250)
    map_index = IntegerField(default=-1)
    try_number = IntegerField()
    state = CharField(max_length=20, null=True)
    queued_at = UTCDateTimeField(null=True)
    started_at = UTCDateTimeField(null=True)
    ended_at = UTCDateTimeField(null=True)
    duration_seconds = FloatField(null=True)

    class Meta:
        indexes = ((("run_id", "task_id", "map_index", "try_number"), True),)


class Action(BaseModel):
    """A request queued by the CLI or the dashboard and carried out by the daemon.

    ``state``: pending → running → done | failed | rejected. ``params`` holds what the
    requester asked for; ``checkpoint`` what the daemon decided before acting on Airflow
    (the chosen dag_run_id, a backfill's id), so that re-running a claimed action whose
    daemon died repeats the same idempotent request instead of making a second run.
    """

    id = AutoField()
    kind = CharField(max_length=20, index=True)
    target = TextField()
    source_type = CharField(max_length=10, null=True)
    params = JSONField(null=True)
    reason = TextField(null=True)
    requested_by = CharField(max_length=100)
    """Who queued it: on PostgreSQL the database role that inserted the row (set by a
    trigger, whatever the client sent); on SQLite the OS user the client reported."""
    requested_by_os = CharField(max_length=100, null=True)
    """The OS user the client reported (informative on PostgreSQL)."""
    requested_at = UTCDateTimeField(default=utcnow)
    state = CharField(max_length=10, index=True, default="pending")
    claimed_by = CharField(max_length=200, null=True)
    claimed_at = UTCDateTimeField(null=True)
    attempts = IntegerField(default=0)
    checkpoint = JSONField(null=True)
    progress_done = IntegerField(null=True)
    progress_total = IntegerField(null=True)
    message = TextField(null=True)
    result = JSONField(null=True)
    error = TextField(null=True)
    finished_at = UTCDateTimeField(null=True)
    updated_at = UTCDateTimeField(default=utcnow, index=True)


class DaemonLease(BaseModel):
    """Daemons and their heartbeats. ``key="daemon"``: the store's row (SQLite: its one
    daemon's lease; PostgreSQL: the last heartbeat of any of its daemons); on a shared
    PostgreSQL store also one row per daemon, ``key="daemon:<holder>"``."""

    id = AutoField()
    key = CharField(unique=True)
    holder = CharField(max_length=200)
    hostname = CharField(max_length=200)
    pid = IntegerField()
    version = CharField(max_length=40)
    started_at = UTCDateTimeField()
    heartbeat_at = UTCDateTimeField()
    status = TextField(null=True)
    stopped_at = UTCDateTimeField(null=True)


class TaskLog(BaseModel):
    """The tail of one task try's log, fetched by a ``fetch_log`` action."""

    id = AutoField()
    run_id = IntegerField()
    task_id = CharField(max_length=250)
    map_index = IntegerField(default=-1)
    try_number = IntegerField()
    content = TextField()
    truncated = BooleanField(default=False)
    fetched_at = UTCDateTimeField(default=utcnow)
    continuation_token = TextField(null=True)
    """Where Airflow's log of this try continues: the next fetch asks for the new part."""

    class Meta:
        indexes = ((("run_id", "task_id", "map_index", "try_number"), True),)


class Notification(BaseModel):
    """The outbox: one row per (event, channel) to deliver, with its delivery attempts."""

    id = AutoField()
    event_id = IntegerField()
    channel = CharField(max_length=20)
    target = TextField(null=True)
    payload = JSONField()
    state = CharField(max_length=10, index=True, default="pending")
    attempts = IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(default=utcnow)
    last_error = TextField(null=True)
    sent_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("event_id", "channel", "target"), True),)


# Every table there is. The migrations declare their own frozen copies of these tables
# (``daemon.store.migrations``); a test checks that migrating gives exactly this schema.
class ImportError_(BaseModel):
    """A DAG file that failed to import on a cluster (Airflow's ``/importErrors``), as the
    last health check saw it."""

    id = AutoField()
    cluster = CharField(max_length=100, index=True)
    filename = TextField()
    stack_trace = TextField()
    timestamp = UTCDateTimeField(null=True)
    updated_at = UTCDateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "import_error"


class HitlRequest(BaseModel):
    """A task waiting for a person (Airflow ≥ 3.1 human-in-the-loop), as the run sync
    last saw it; kept after the answer (who answered what)."""

    id = AutoField()
    cluster = CharField(max_length=100)
    dag_id = CharField(max_length=250)
    dag_run_id = CharField(max_length=250)
    task_id = CharField(max_length=250)
    map_index = IntegerField(default=-1)
    subject = TextField()
    body = TextField(null=True)
    options = JSONField()
    multiple = BooleanField(default=False)
    defaults = JSONField(null=True)
    params = JSONField(null=True)
    created_at = UTCDateTimeField(null=True)
    response_received = BooleanField(default=False, index=True)
    chosen_options = JSONField(null=True)
    responded_by = CharField(max_length=200, null=True)
    responded_at = UTCDateTimeField(null=True)
    updated_at = UTCDateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "hitl_request"
        indexes = ((("cluster", "dag_id", "dag_run_id", "task_id", "map_index"), True),)


ALL_MODELS: tuple[type[BaseModel], ...] = (
    Cluster, Workflow, SpecFile, Event, SyncState, Run, TaskInstance, TaskTry,
    Action, DaemonLease, TaskLog, Notification, ImportError_, HitlRequest,
)
