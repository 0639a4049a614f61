"""Bulk writes prepared outside a transaction and run inside it with ``executemany``.

Peewee builds and converts each row in Python at query time, which costs about 0.1 ms a
row: a 10,000-spec cold sync would hold SQLite's single write lock for seconds, and every
action claim queued behind it would wait. Here the rows are converted (``Field.db_value``)
before the transaction begins, and the transaction runs one prepared statement per shape
of row, so the lock is held only while the database itself works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from peewee import Field, Model, PostgresqlDatabase


@dataclass(frozen=True)
class Statement:
    """One SQL statement and the parameter rows it runs for."""

    model: type[Model]
    sql: str
    rows: list[tuple[Any, ...]]

    def execute(self) -> None:
        if not self.rows:
            return
        database = self.model._meta.database
        cursor = database.cursor()
        if isinstance(getattr(database, "obj", database), PostgresqlDatabase):
            # psycopg2's executemany is one round trip a row; pages of statements are few
            from psycopg2.extras import execute_batch  # there whenever PostgreSQL is

            execute_batch(cursor, self.sql, self.rows, page_size=PAGE_ROWS)
        else:
            cursor.executemany(self.sql, self.rows)


PAGE_ROWS = 500
"""Rows per round trip to PostgreSQL."""


def _fields(model: type[Model], names: Iterable[str]) -> list[Field]:
    return [model._meta.fields[name] for name in names]


def _sql_names(model: type[Model]) -> tuple[str, str]:
    """The quoted table name and the driver's parameter placeholder."""
    return f'"{model._meta.table_name}"', model._meta.database.param


def _converted(fields: list[Field], row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(field.db_value(row[field.name]) for field in fields)


def _by_shape(rows: Iterable[tuple[Any, dict[str, Any]]]) -> dict[tuple[str, ...], list[Any]]:
    groups: dict[tuple[str, ...], list[Any]] = {}
    for key, row in rows:
        groups.setdefault(tuple(row), []).append((key, row))
    return groups


def inserts(model: type[Model], rows: list[dict[str, Any]]) -> list[Statement]:
    """INSERT statements for ``rows`` (dicts of field name → Python value); fields a row
    leaves out get the model's defaults, as peewee's own inserts do."""
    statements = []
    for shape, group in _by_shape((None, row) for row in rows).items():
        defaults = {name: field.default() if callable(field.default) else field.default
                    for name, field in model._meta.fields.items()
                    if name not in shape and field.default is not None}
        group = [(None, {**row, **defaults}) for _, row in group]
        fields = _fields(model, [*shape, *defaults])
        table, param = _sql_names(model)
        columns = ", ".join(f'"{field.column_name}"' for field in fields)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join([param] * len(fields))})"
        statements.append(Statement(model, sql, [_converted(fields, row) for _, row in group]))
    return statements


def updates(model: type[Model], key: str, changes: list[tuple[Any, dict[str, Any]]]) -> list[Statement]:
    """UPDATE statements setting each ``(key value, {field: value})`` on the row whose
    ``key`` field has that value; rows that change the same fields share a statement."""
    key_field = model._meta.fields[key]
    statements = []
    for shape, group in _by_shape(changes).items():
        fields = _fields(model, shape)
        table, param = _sql_names(model)
        assignments = ", ".join(f'"{field.column_name}" = {param}' for field in fields)
        sql = f'UPDATE {table} SET {assignments} WHERE "{key_field.column_name}" = {param}'
        rows = [(*_converted(fields, row), key_field.db_value(value)) for value, row in group]
        statements.append(Statement(model, sql, rows))
    return statements


def deletes(model: type[Model], key: str, values: list[Any]) -> list[Statement]:
    """A DELETE of the rows whose ``key`` field has one of ``values``."""
    key_field = model._meta.fields[key]
    table, param = _sql_names(model)
    sql = f'DELETE FROM {table} WHERE "{key_field.column_name}" = {param}'
    return [Statement(model, sql, [(key_field.db_value(value),) for value in values])]
