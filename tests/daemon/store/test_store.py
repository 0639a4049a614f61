"""The store on both backends: SQLite (the default) and a real PostgreSQL server.

The same migrations, fields and constraints must behave the same on each; the column
check is what makes the author of the next migration freeze migration 0001.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from peewee import Database, IntegrityError

from daemon.core.errors import UserError
from daemon.store import migrations
from daemon.store.db import bind_store, open_store
from daemon.store.models import ALL_MODELS, Event, Workflow, database_proxy
from tests.pgserver import create_database

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/s.db"


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database (no tables) on each backend."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return create_database(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A store with the schema applied, bound to the models, on each backend."""
    if request.param == "postgres":
        yield request.getfixturevalue("postgres_store")
        return
    database = open_store(sqlite_url(tmp_path))
    yield database
    database.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Database]:
    database = open_store(sqlite_url(tmp_path))
    yield database
    database.close()


def test_migrations_apply_from_empty_and_are_idempotent(empty_url: str) -> None:
    database = bind_store(empty_url)
    try:
        assert migrations.current_version(database) == 0
        assert migrations.upgrade(database) == list(range(1, migrations.LATEST_VERSION + 1))
        assert migrations.upgrade(database) == []
        assert migrations.current_version(database) == migrations.LATEST_VERSION
    finally:
        database.close()


def test_migrated_tables_match_the_models_exactly(db: Database) -> None:
    expected_tables = {model._meta.table_name for model in ALL_MODELS} | {"schema_migrations"}
    assert set(db.get_tables()) == expected_tables
    for model in ALL_MODELS:
        table = model._meta.table_name
        in_db = {column.name for column in db.get_columns(table)}
        in_model = {field.column_name for field in model._meta.fields.values()}
        assert in_db == in_model, (
            f"table {table!r} after migrating differs from model {model.__name__}: "
            f"only in the database {sorted(in_db - in_model)}, "
            f"only in the model {sorted(in_model - in_db)}"
        )


def test_utc_datetime_field_round_trips_aware_utc(db: Database) -> None:
    at = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone.utc)
    event = Event.create(at=at, kind="test", severity="info", subject="s", message="m")
    loaded = Event.get_by_id(event.id).at
    assert loaded == at
    assert loaded.tzinfo == timezone.utc


def test_utc_datetime_field_converts_other_zones_to_utc(db: Database) -> None:
    plus_two = timezone(timedelta(hours=2))
    at = datetime(2026, 3, 29, 3, 30, tzinfo=plus_two)
    event = Event.create(at=at, kind="test", severity="info", subject="s", message="m")
    loaded = Event.get_by_id(event.id).at
    assert loaded.tzinfo == timezone.utc
    assert loaded == datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)


def test_json_field_round_trips_nested_documents(db: Database) -> None:
    data = {
        "schedule": {"cron": "0 6 * * *", "tz": "Europe/Zürich", "retries": [1, 2.5, None]},
        "enabled": True,
        "tags": [],
        "nested": {"deeper": {"deepest": {"ok": False}}},
    }
    event = Event.create(kind="test", severity="info", subject="s", message="m", data=data)
    assert Event.get_by_id(event.id).data == data


def test_workflow_unique_dataset_and_source_type(db: Database) -> None:
    Workflow.create(dataset_name="sales", source_type="s3", status="valid")
    Workflow.create(dataset_name="sales", source_type="local", status="valid")
    with pytest.raises(IntegrityError), db.atomic():
        Workflow.create(dataset_name="sales", source_type="s3", status="valid")
    assert Workflow.select().count() == 2


def test_schema_newer_than_the_code_is_refused(db: Database) -> None:
    with db.bind_ctx([migrations.SchemaMigration]):
        migrations.SchemaMigration.create(version=migrations.LATEST_VERSION + 1)
    with pytest.raises(UserError, match="newer"):
        migrations.upgrade(db)


def test_open_without_upgrade_on_empty_db_says_how_to_upgrade(empty_url: str) -> None:
    try:
        with pytest.raises(UserError, match="basecamp db upgrade"):
            open_store(empty_url, upgrade=False)
    finally:
        database_proxy.obj.close()


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
