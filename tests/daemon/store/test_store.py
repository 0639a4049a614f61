"""The store on both backends: SQLite (the default) and a real PostgreSQL server.

The column types must mean the same on each; SQLite must be set up for one writer and
many readers. The migrations and the schema they build: ``test_migrations.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg2
import pytest
from peewee import Database, IntegrityError, PostgresqlDatabase, fn

from daemon.core.states import SourceType
from daemon.store.db import open_store
from daemon.store.models import Event, Run, Workflow
from tests.pgserver import create_database


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Database]:
    database = open_store(f"sqlite:///{tmp_path}/s.db")
    yield database
    database.close()


def test_utc_datetime_field_round_trips_aware_utc(db_store: Database) -> None:
    at = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone.utc)
    event = Event.create(at=at, kind="test", severity="info", subject="s", message="m")
    loaded = Event.get_by_id(event.id).at
    assert loaded == at
    assert loaded.tzinfo == timezone.utc


def test_utc_datetime_field_converts_other_zones_to_utc(db_store: Database) -> None:
    plus_two = timezone(timedelta(hours=2))
    at = datetime(2026, 3, 29, 3, 30, tzinfo=plus_two)
    event = Event.create(at=at, kind="test", severity="info", subject="s", message="m")
    loaded = Event.get_by_id(event.id).at
    assert loaded.tzinfo == timezone.utc
    assert loaded == datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)


def test_json_field_round_trips_nested_documents(db_store: Database) -> None:
    data = {
        "schedule": {"cron": "0 6 * * *", "tz": "Europe/Zürich", "retries": [1, 2.5, None]},
        "enabled": True,
        "tags": [],
        "nested": {"deeper": {"deepest": {"ok": False}}},
    }
    event = Event.create(kind="test", severity="info", subject="s", message="m", data=data)
    assert Event.get_by_id(event.id).data == data


@pytest.mark.postgres
def test_postgres_compares_timestamps_in_utc_whatever_the_servers_time_zone(
    postgres_url: str,
) -> None:
    """Columns hold naive UTC. A value compared without a field to convert it (here to a
    COALESCE, as the run filters do) reaches PostgreSQL as an aware ``timestamptz``, and
    PostgreSQL reads the naive column in the session's time zone to compare them."""
    url = create_database(postgres_url)
    admin = psycopg2.connect(postgres_url)
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" SET timezone = \'America/New_York\'')
    finally:
        admin.close()
    db = open_store(url)
    try:
        started = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
        Run.create(cluster="c", dag_id="d", dag_run_id="r", dataset_name="ds", status="SUCCESS",
                   started_at=started)
        at = fn.COALESCE(Run.started_at, Run.created_at)
        for since, found in ((started - timedelta(hours=1), 1), (started + timedelta(hours=1), 0)):
            assert Run.select().where(at >= since).count() == found, since
    finally:
        db.close()


def test_a_dataset_has_one_workflow_per_source_type(db_store: Database) -> None:
    """The spec sync keys workflows by (dataset, source type): a code and a manual spec of
    one dataset are two rows, a second row of either is refused, and the refused insert
    leaves the connection usable (on PostgreSQL an error aborts the whole transaction
    unless it is rolled back, which ``atomic`` does)."""
    Workflow.create(dataset_name="ds.sales", source_type=SourceType.CODE, status="active")
    Workflow.create(dataset_name="ds.sales", source_type=SourceType.MANUAL, status="overridden",
                    overridden_by=SourceType.CODE)
    for source in (SourceType.CODE, SourceType.MANUAL):
        with pytest.raises(IntegrityError), db_store.atomic():
            Workflow.create(dataset_name="ds.sales", source_type=source, status="active")
    with db_store.atomic():
        Workflow.create(dataset_name="ds.orders", source_type=SourceType.CODE, status="active")
    assert sorted(Workflow.select(Workflow.dataset_name, Workflow.source_type).tuples()) == [
        ("ds.orders", SourceType.CODE), ("ds.sales", SourceType.CODE), ("ds.sales", SourceType.MANUAL)]


def test_sqlite_uses_wal_and_a_busy_timeout(sqlite_store: Database) -> None:
    assert sqlite_store.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sqlite_store.execute_sql("PRAGMA busy_timeout").fetchone()[0] > 0


def test_sqlite_reader_is_not_blocked_by_an_open_write_transaction(
    sqlite_store: Database,
) -> None:
    Event.create(kind="committed", severity="info", subject="s", message="m")
    # EXCLUSIVE would lock readers out in rollback-journal mode; in WAL mode it does not.
    with sqlite_store.atomic(lock_type="EXCLUSIVE"):
        Event.create(kind="pending", severity="info", subject="s", message="m")
        reader = sqlite3.connect(sqlite_store.database, timeout=0)  # fail at once if locked
        try:
            kinds = [row[0] for row in reader.execute(f"SELECT kind FROM {Event._meta.table_name}")]
        finally:
            reader.close()
    assert kinds == ["committed"]


def test_recent_history_is_the_last_runs_oldest_first_with_durations(db_store: Database) -> None:
    from daemon.read.runs import RecentRun, recent_history

    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for day in range(12):
        began = start + timedelta(days=day)
        Run.create(cluster="c", dag_id="d__a", dag_run_id=f"r{day:02d}", dataset_name="a",
                   status="SUCCESS" if day % 3 else "FAILED", started_at=began,
                   ended_at=began + timedelta(minutes=day + 1))
    Run.create(cluster="c", dag_id="d__a", dag_run_id="running", dataset_name="a",
               status="RUNNING", started_at=start + timedelta(days=20))
    Run.create(cluster="c", dag_id="d__a", dag_run_id="queued", dataset_name="a",
               status="PENDING")  # not started: not in the strip
    Run.create(cluster="c", dag_id="d__b", dag_run_id="r", dataset_name="b", status="SUCCESS",
               started_at=start, ended_at=start + timedelta(seconds=90))
    history = recent_history(per=4)
    assert history["a"] == (RecentRun("FAILED", 600.0), RecentRun("SUCCESS", 660.0),
                            RecentRun("SUCCESS", 720.0), RecentRun("RUNNING", None))
    assert history["b"] == (RecentRun("SUCCESS", 90.0),)
    assert recent_history(["b"], per=4) == {"b": history["b"]}


def test_who_queued_an_action_is_the_database_role_on_postgres(db_store: Database) -> None:
    """On PostgreSQL the role that inserts the row is ``requested_by`` whatever the client
    sends; the client's word stays as ``requested_by_os``. SQLite keeps the client's."""
    from daemon.store.models import Action

    Action.create(kind="pause", target="ds.a", params={}, requested_by="mallory",
                  requested_by_os="mallory")
    Action.insert(kind="pause", target="ds.b", params={}, requested_by="eve").execute()
    rows = {a.target: (a.requested_by, a.requested_by_os) for a in Action.select()}
    if isinstance(db_store, PostgresqlDatabase):
        role = db_store.execute_sql("SELECT current_user").fetchone()[0]
        assert role not in ("mallory", "eve")
        assert rows == {"ds.a": (role, "mallory"), "ds.b": (role, "eve")}
    else:
        assert rows == {"ds.a": ("mallory", "mallory"), "ds.b": ("eve", None)}


@pytest.mark.postgres
def test_worker_threads_share_pooled_connections(postgres_url: str) -> None:
    """The daemon's threads (one per cluster) hand their connection back after each job:
    twelve threads taking turns hold one PostgreSQL connection between them, not twelve."""
    from concurrent.futures import ThreadPoolExecutor

    from daemon.store.db import release_connection

    db = open_store(create_database(postgres_url), max_connections=16)

    def job() -> None:
        try:
            Event.select().count()
        finally:
            release_connection()

    def backends() -> int:
        return db.execute_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").fetchone()[0]

    pools = [ThreadPoolExecutor(1) for _ in range(12)]
    try:
        for pool in pools:
            pool.submit(job).result()
        assert backends() == 2  # this thread's and the one the workers took turns with
    finally:
        for pool in pools:
            pool.shutdown()
        db.close_all()


@pytest.mark.postgres
def test_a_bounded_pool_makes_jobs_wait_for_a_connection(postgres_url: str) -> None:
    """The daemon's pool is bounded: twelve threads at once never hold more than its
    connections, and each waits its turn instead of failing."""
    from concurrent.futures import ThreadPoolExecutor

    from playhouse.pool import PooledDatabase

    from daemon.store.db import connect

    db = connect(create_database(postgres_url), max_connections=3)
    assert isinstance(db, PooledDatabase)

    def job() -> int:
        try:
            with db.atomic():
                seen = db.execute_sql("SELECT count(*) FROM pg_stat_activity "
                                      "WHERE datname = current_database()").fetchone()[0]
                db.execute_sql("SELECT pg_sleep(0.1)")
            return seen
        finally:
            db.close()  # what release_connection does for the daemon's bound store

    try:
        with ThreadPoolExecutor(12) as pool:
            seen = list(pool.map(lambda _: job(), range(12)))
        assert len(seen) == 12 and max(seen) <= 3
    finally:
        db.close_all()


@pytest.mark.postgres
def test_a_dashboard_thread_that_ends_leaves_no_connection_behind(postgres_url: str) -> None:
    """The dashboard and the CLI read from short-lived threads that never hand anything
    back: their store is not pooled, so a thread's connection closes with it."""
    import gc
    import threading

    from daemon.store.db import open_for_reading
    from tests.waiting import wait_until

    url = create_database(postgres_url)
    open_store(url).close()
    db = open_for_reading(url)

    def backends() -> int:
        return db.execute_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").fetchone()[0]

    for _ in range(5):
        worker = threading.Thread(target=lambda: Event.select().count())
        worker.start()
        worker.join()
    gc.collect()
    try:
        wait_until(lambda: backends() == 1, 10, "the ended threads' connections to close")
    finally:
        db.close()
