"""The numbered migrations, on SQLite and on a real PostgreSQL server.

The main check: a store built by running every migration has exactly the schema that
``create_tables`` makes from the live models (tables, columns with their type, nullability,
default and primary key, indexes with their columns and uniqueness, foreign keys). A model
change without a migration fails it, naming the table and column and asking for the
migration; so does a migration that was edited after its release, since the stores made
by the original would then differ from fresh ones.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from peewee import Database, PostgresqlDatabase

from daemon.core.errors import UserError
from daemon.store import migrations
from daemon.store.db import bind_store, connect, open_for_reading, open_store
from daemon.store.models import ALL_MODELS, database_proxy
from tests.pgserver import STORE_BACKENDS, create_database

MIGRATIONS_DIR = Path(migrations.__file__).parent
BOOKKEEPING = "schema_migrations"


# --- introspection ----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    type: str
    nullable: bool
    default: str | None
    primary_key: bool

    def __str__(self) -> str:
        null = "NULL" if self.nullable else "NOT NULL"
        default = f" DEFAULT {self.default}" if self.default is not None else ""
        return f"{self.type} {null}{default}{' PRIMARY KEY' if self.primary_key else ''}"


@dataclass(frozen=True)
class Index:
    columns: tuple[str, ...]
    unique: bool

    def __str__(self) -> str:
        return f"{'UNIQUE ' if self.unique else ''}({', '.join(self.columns)})"


@dataclass
class Table:
    columns: dict[str, Column]
    indexes: dict[str, Index]
    constraints: set[str]
    """Foreign keys (both backends) and CHECK constraints (PostgreSQL), as text."""


Schema = dict[str, Table]


def introspect(db: Database) -> Schema:
    if isinstance(db, PostgresqlDatabase):
        return _postgres_schema(db)
    return _sqlite_schema(db)


def _rows(db: Database, sql: str, *params: object) -> list[tuple]:
    return list(db.execute_sql(sql, params).fetchall())


def _sqlite_schema(db: Database) -> Schema:
    schema: Schema = {}
    tables = _rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' "
                       "AND name NOT LIKE 'sqlite_%'")
    for (name,) in tables:
        columns = {
            column: Column(type_.upper(), not notnull, default, pk > 0)
            for _, column, type_, notnull, default, pk in _rows(db, f"PRAGMA table_info('{name}')")
        }
        indexes = {}
        for _, index, unique, _origin, _partial in _rows(db, f"PRAGMA index_list('{name}')"):
            info = sorted(_rows(db, f"PRAGMA index_info('{index}')"))
            indexes[index] = Index(tuple(column for _, _, column in info), bool(unique))
        constraints = {
            f"FOREIGN KEY ({column}) REFERENCES {other}({to}) ON UPDATE {on_update} "
            f"ON DELETE {on_delete}"
            for _, _, other, column, to, on_update, on_delete, _ in
            _rows(db, f"PRAGMA foreign_key_list('{name}')")
        }
        schema[name] = Table(columns, indexes, constraints)
    return schema


def _postgres_schema(db: Database) -> Schema:
    schema: Schema = {}
    for (name,) in _rows(db, "SELECT table_name FROM information_schema.tables "
                             "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"):
        schema[name] = Table({}, {}, set())
    primary = set(_rows(db, """
        SELECT kcu.table_name, kcu.column_name
        FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage kcu
          ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema
        WHERE tc.table_schema = current_schema() AND tc.constraint_type = 'PRIMARY KEY'"""))
    for table, column, type_, length, nullable, default in _rows(db, """
            SELECT table_name, column_name, data_type, character_maximum_length, is_nullable,
                   column_default
            FROM information_schema.columns WHERE table_schema = current_schema()"""):
        if default is not None and re.fullmatch(r"nextval\('[^']+'::regclass\)", default):
            default = "<sequence>"  # the sequence's name is not part of the table's meaning
        schema[table].columns[column] = Column(
            f"{type_}({length})" if length else type_, nullable == "YES", default,
            (table, column) in primary)
    for table, index, unique, columns in _rows(db, """
            SELECT t.relname, i.relname, x.indisunique,
                   array_agg(a.attname ORDER BY k.ordinality)
            FROM pg_index x
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ordinality)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE n.nspname = current_schema()
            GROUP BY t.relname, i.relname, x.indisunique"""):
        schema[table].indexes[index] = Index(tuple(columns), unique)
    for table, definition in _rows(db, """
            SELECT c.conrelid::regclass::text, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.connamespace = current_schema()::regnamespace AND c.contype IN ('f', 'c')"""):
        schema[table.strip('"')].constraints.add(definition)
    return schema


def differences(models: Schema, migrated: Schema) -> list[str]:
    """What the migrated store lacks or has beyond the models, one line each."""
    lines = []
    for table in sorted(models.keys() - migrated.keys()):
        lines.append(f"table {table!r} is in the models but no migration creates it")
    for table in sorted(migrated.keys() - models.keys()):
        lines.append(f"table {table!r} is created by the migrations but is not in the models")
    for table in sorted(models.keys() & migrated.keys()):
        want, have = models[table], migrated[table]
        for kind, wanted, got in (("column", want.columns, have.columns),
                                  ("index", want.indexes, have.indexes)):
            for name in sorted(wanted.keys() | got.keys()):
                if name not in got:
                    lines.append(f"table {table!r}, {kind} {name!r}: in the models "
                                 f"({wanted[name]}) but no migration creates it")
                elif name not in wanted:
                    lines.append(f"table {table!r}, {kind} {name!r}: created by the "
                                 f"migrations ({got[name]}) but not in the models")
                elif wanted[name] != got[name]:
                    lines.append(f"table {table!r}, {kind} {name!r}: the models say "
                                 f"{wanted[name]}, the migrations make {got[name]}")
        for constraint in sorted(want.constraints - have.constraints):
            lines.append(f"table {table!r}: constraint {constraint!r} is in the models only")
        for constraint in sorted(have.constraints - want.constraints):
            lines.append(f"table {table!r}: constraint {constraint!r} is in the migrations only")
    return lines


def assert_same_schema(models_db: Database, migrated_db: Database) -> None:
    migrated = introspect(migrated_db)
    assert BOOKKEEPING in migrated
    del migrated[BOOKKEEPING]
    found = differences(introspect(models_db), migrated)
    if found:
        backend = "PostgreSQL" if isinstance(models_db, PostgresqlDatabase) else "SQLite"
        pytest.fail(
            f"The schema the migrations build differs from the models' on {backend}:\n"
            + "".join(f"  - {line}\n" for line in found)
            + "A migration is missing: add daemon/store/migrations/"
            f"m{migrations.LATEST_VERSION + 1:04d}_<what>.py making these changes and list "
            "it in MIGRATIONS (released migrations are frozen: never edit one).",
            pytrace=False,
        )


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(params=STORE_BACKENDS)
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Database]]:
    """Makes empty databases on one backend (not bound to the models)."""
    opened: list[Database] = []

    def make() -> Database:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'db{len(opened)}.sqlite'}"
        else:
            url = create_database(request.getfixturevalue("postgres_url"))
        opened.append(connect(url))
        return opened[-1]

    yield make
    for db in opened:
        db.close()


def models_schema(db: Database) -> Database:
    with db.bind_ctx(ALL_MODELS):
        db.create_tables(ALL_MODELS)
    return db


# --- the migrated schema is the models' schema -------------------------------------------


def test_migrating_an_empty_store_gives_exactly_the_models_schema(new_database) -> None:
    migrated = new_database()
    migrations.upgrade(migrated)
    assert_same_schema(models_schema(new_database()), migrated)


@pytest.mark.parametrize("version", range(1, migrations.LATEST_VERSION))
def test_upgrading_a_store_of_every_older_version_gives_the_models_schema(
    new_database, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    migrated = new_database()
    with monkeypatch.context() as released_then:  # the store as that release left it
        released_then.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:version])
        released_then.setattr(migrations, "LATEST_VERSION", version)
        assert migrations.upgrade(migrated) == list(range(1, version + 1))
    assert migrations.upgrade(migrated) == list(range(version + 1, migrations.LATEST_VERSION + 1))
    assert_same_schema(models_schema(new_database()), migrated)


def test_schema_comparison_names_a_column_without_a_migration() -> None:
    """The check itself: what an added field, index or table looks like in its report."""
    table = Table({"id": Column("INTEGER", False, None, True)}, {}, set())
    models = {"run": Table({**table.columns, "note": Column("TEXT", True, None, False)},
                           {"run_note": Index(("note",), False)}, set()),
              "extra": table}
    assert differences(models, {"run": table}) == [
        "table 'extra' is in the models but no migration creates it",
        "table 'run', column 'note': in the models (TEXT NULL) but no migration creates it",
        "table 'run', index 'run_note': in the models ((note)) but no migration creates it",
    ]


def test_migrations_are_frozen_declarations() -> None:
    """A migration that imports the live models or field types would change with them."""
    for path in sorted(MIGRATIONS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                # relative: "." is this package, ".." is daemon.store
                names = [("daemon.store." if node.level > 1 else "") + (node.module or "")]
            else:
                continue
            for name in names:
                assert not name.startswith("daemon.store") or name.startswith(
                    "daemon.store.migrations"), f"{path.name} imports {name}"


def test_every_migration_module_is_listed_in_order() -> None:
    files = sorted(path.stem for path in MIGRATIONS_DIR.glob("m[0-9][0-9][0-9][0-9]_*.py"))
    assert [m.__name__.rsplit(".", 1)[1] for m in migrations.MIGRATIONS] == files
    assert [int(name[1:5]) for name in files] == list(range(1, len(files) + 1))


# --- upgrade and current_version ----------------------------------------------------------


def test_migrations_apply_from_empty_and_are_idempotent(empty_store_url: str) -> None:
    database = bind_store(empty_store_url)
    try:
        assert migrations.current_version(database) == 0
        assert migrations.upgrade(database) == list(range(1, migrations.LATEST_VERSION + 1))
        assert migrations.upgrade(database) == []
        assert migrations.current_version(database) == migrations.LATEST_VERSION
    finally:
        database.close()


def refused_to_read(url: str, match: str) -> None:
    try:
        with pytest.raises(UserError, match=match):
            open_for_reading(url)
    finally:
        database_proxy.obj.close()


def test_schema_newer_than_the_code_is_refused(empty_store_url: str) -> None:
    database = open_store(empty_store_url)
    try:
        with database.bind_ctx([migrations.SchemaMigration]):
            migrations.SchemaMigration.create(version=migrations.LATEST_VERSION + 1)
        with pytest.raises(UserError, match="newer"):
            migrations.upgrade(database)
    finally:
        database.close()
    refused_to_read(empty_store_url, "newer than this basecamp knows")


def test_a_reader_of_an_empty_or_older_store_is_told_to_upgrade(
    empty_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused_to_read(empty_store_url, "no schema yet.*basecamp db upgrade")
    database = connect(empty_store_url)
    with monkeypatch.context() as released_then:
        released_then.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
        released_then.setattr(migrations, "LATEST_VERSION", 1)
        migrations.upgrade(database)
    database.close()
    refused_to_read(empty_store_url, "at schema version 1, .* run `basecamp db upgrade`")
