"""Opening the store: one database URL, SQLite by default, PostgreSQL for shared setups."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from peewee import Database, PostgresqlDatabase, SqliteDatabase
from playhouse.pool import PooledDatabase, PooledPostgresqlDatabase

from daemon.core.errors import ConfigError, UserError
from daemon.store import migrations
from daemon.store.models import database_proxy

# WAL lets readers (dashboard, CLI) read while the daemon writes; the busy timeout makes a
# writer that meets a checkpoint wait instead of failing with "database is locked".
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 15000,
    "foreign_keys": 1,
    "synchronous": "normal",
}


class StoreSqliteDatabase(SqliteDatabase):
    """Transactions take the write lock when they begin (``BEGIN IMMEDIATE``).

    A deferred transaction that reads and then writes fails at once with "database is
    locked" when another connection wrote in between (its snapshot is stale, so the busy
    timeout cannot help); an immediate one waits for the lock instead. Every transaction
    in basecamp exists to write."""

    def begin(self, lock_type: str | None = None) -> None:
        super().begin(lock_type or "IMMEDIATE")


POOL_STALE_SECONDS = 300
"""An idle pooled connection older than this is closed instead of reused."""
POOL_WAIT_SECONDS = 60
"""How long a thread waits for a connection of a full pool before its job fails."""


class StorePostgresqlDatabase(PostgresqlDatabase):
    """Every session in UTC. Columns hold naive UTC (``fields.UTCDateTimeField``); a value
    compared without a field to convert it (``COALESCE(started_at, ...) >= %s``) reaches
    PostgreSQL as an aware ``timestamptz``, and PostgreSQL compares by reading the naive
    column in the session's time zone: the server's or the role's default, often local.

    One connection per thread, closed with its thread: the dashboard's and the CLI's."""

    def _initialize_connection(self, conn: Any) -> None:
        with conn.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")


class PooledStorePostgresqlDatabase(PooledPostgresqlDatabase, StorePostgresqlDatabase):
    """The daemon's: a bounded pool. Its threads (one per cluster, a few for actions) hand
    their connection back after each job (:func:`release_connection`), so a daemon holds
    at most ``max_connections`` however many clusters it syncs, and a job that finds them
    all busy waits for one. Only for threads that hand their connection back: the pool
    keeps a connection checked out by a thread that ended without doing so."""


def connect(url: str, *, max_connections: int | None = None) -> Database:
    """A database for ``url`` (``sqlite:///relative``, ``sqlite:////abs``, ``postgresql://``).
    ``max_connections``: PostgreSQL connections come from a pool of at most that many
    (:class:`PooledStorePostgresqlDatabase`); None: one per thread."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(f"[database] url {url!r}: expected sqlite:///path/to/basecamp.db")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return StoreSqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=15)
    if parsed.scheme in ("postgres", "postgresql"):
        try:
            import psycopg2  # noqa: F401  (peewee needs it; say how to get it if missing)
        except ImportError as exc:
            raise ConfigError(
                "[database] url is PostgreSQL but psycopg2 is not installed: "
                "pip install 'basecamp[postgres]'"
            ) from exc
        params: dict[str, Any] = {"user": parsed.username, "password": parsed.password,
                                  "host": parsed.hostname, "port": parsed.port}
        name = parsed.path.lstrip("/")
        if max_connections is None:
            return StorePostgresqlDatabase(name, **params)
        return PooledStorePostgresqlDatabase(
            name, max_connections=max_connections, stale_timeout=POOL_STALE_SECONDS,
            timeout=POOL_WAIT_SECONDS, **params)
    raise ConfigError(
        f"[database] url {url!r}: unsupported scheme {parsed.scheme!r} (use sqlite or postgresql)"
    )


def bind_store(url: str, *, max_connections: int | None = None) -> Database:
    """Connect and bind the models to the database, leaving the schema as it is."""
    db = connect(url, max_connections=max_connections)
    database_proxy.initialize(db)
    return db


def open_store(url: str, *, max_connections: int | None = None) -> Database:
    """Connect, bind the models and bring the schema up to date: the daemon's and
    ``basecamp db upgrade``'s way in (they own the schema). ``max_connections``: as in
    :func:`connect`."""
    db = bind_store(url, max_connections=max_connections)
    migrations.upgrade(db)
    return db


def upgrade_store(url: str) -> tuple[list[int], int]:
    """``basecamp db upgrade``: apply the pending migrations; returns the versions applied
    and the schema version now."""
    db = bind_store(url)
    applied = migrations.upgrade(db)
    return applied, migrations.current_version(db)


def open_for_reading(url: str) -> Database:
    """Connect and bind the models without writing anything: the CLI's and the
    dashboard's way in. A store whose schema is not this basecamp's says what to run."""
    db = bind_store(url)
    version = migrations.current_version(db)
    if version == 0:
        raise UserError(
            f"The store at {url} has no schema yet: start the daemon (`basecamp daemon`, or "
            "`basecamp daemon --once`) or run `basecamp db upgrade`.")
    if version < migrations.LATEST_VERSION:
        raise UserError(
            f"The store at {url} is at schema version {version}, this basecamp needs "
            f"{migrations.LATEST_VERSION}: run `basecamp db upgrade`.")
    if version > migrations.LATEST_VERSION:
        raise UserError(
            f"The store at {url} is at schema version {version}, newer than this basecamp "
            f"knows ({migrations.LATEST_VERSION}): upgrade basecamp.")
    return db


def release_connection() -> None:
    """After a job on a worker thread: hand this thread's connection back to the daemon's
    pool (:class:`PooledStorePostgresqlDatabase`), for the next job on any thread. Other
    stores keep a connection per thread (on SQLite opening one costs the pragmas again and
    holds nothing on a server)."""
    db = database_proxy.obj
    if isinstance(db, PooledDatabase) and not db.is_closed() and not db.in_transaction():
        db.close()


def close_connection() -> None:
    """Close this thread's connection to the bound store (peewee keeps one per thread)."""
    if not database_proxy.is_closed():
        database_proxy.close()
