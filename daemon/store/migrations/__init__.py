"""Numbered schema migrations, applied in order by the daemon and ``basecamp db upgrade``.

Each migration is a module ``mNNNN_<what>.py`` with ``DESCRIPTION`` and ``up(db)``; it
runs in one transaction together with the row that records it, so a failed migration
leaves the previous version intact.

Migrations are frozen once released: each declares the tables it creates or changes
itself and imports nothing from ``daemon.store`` (not the models, not the field types),
so changing a model never changes what an old migration does. A model change needs a new
migration; ``tests/daemon/store/test_migrations.py`` fails until it exists.
"""

from __future__ import annotations

from datetime import datetime, timezone
from types import ModuleType

from peewee import Database, DateTimeField, IntegerField, Model, PostgresqlDatabase, fn

from daemon.core.errors import UserError
from daemon.store.migrations import (
    m0001_initial,
    m0002_runs,
    m0003_actions,
    m0004_latest_run_index,
    m0005_import_errors_and_input,
    m0006_slow_runs_and_log_follow,
    m0007_who_by_the_database,
    m0008_task_tries,
    m0009_cluster_owner,
    m0010_live_notify,
)

MIGRATIONS: tuple[ModuleType, ...] = (
    m0001_initial, m0002_runs, m0003_actions, m0004_latest_run_index,
    m0005_import_errors_and_input, m0006_slow_runs_and_log_follow, m0007_who_by_the_database,
    m0008_task_tries, m0009_cluster_owner, m0010_live_notify)
LATEST_VERSION = len(MIGRATIONS)


def _naive_utcnow() -> datetime:
    """Now as naive UTC, the store's convention for every timestamp (see ``fields.py``)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class SchemaMigration(Model):
    version = IntegerField(primary_key=True)
    applied_at = DateTimeField(default=_naive_utcnow)

    class Meta:
        table_name = "schema_migrations"


def current_version(db: Database) -> int:
    """The highest applied migration (0 for an empty database)."""
    with db.bind_ctx([SchemaMigration]):
        if not SchemaMigration.table_exists():
            return 0
        return SchemaMigration.select(fn.MAX(SchemaMigration.version)).scalar() or 0


MIGRATION_LOCK = 0x62617365_63616D70  # "basecamp": one upgrade at a time on PostgreSQL


def upgrade(db: Database) -> list[int]:
    """Apply every pending migration; returns the versions applied now. On PostgreSQL
    daemons that start together take turns (a session advisory lock): the first one
    migrates, the others find the schema up to date."""
    if not isinstance(db, PostgresqlDatabase):
        return _upgrade(db)
    db.execute_sql("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        return _upgrade(db)
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def _upgrade(db: Database) -> list[int]:
    with db.bind_ctx([SchemaMigration]):
        db.create_tables([SchemaMigration])
        version = current_version(db)
        if version > LATEST_VERSION:
            raise UserError(
                f"The store's schema is at version {version}, newer than this basecamp "
                f"knows ({LATEST_VERSION}). Upgrade basecamp."
            )
        applied = []
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            with db.atomic():
                migration.up(db)
                SchemaMigration.create(version=number)
            applied.append(number)
        return applied
