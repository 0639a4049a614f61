"""Column types of the models: how Python values are stored (naive UTC, JSON text).

The migrations do not import these: they declare the plain database types (a
``DateTimeField``, a ``TextField``) themselves, so a change here cannot change what an old
migration created; ``tests/daemon/store/test_migrations.py`` shows when a change here
needs a migration.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from peewee import DateTimeField, TextField


class UTCDateTimeField(DateTimeField):
    """Stores naive UTC on every backend; hands out timezone-aware UTC datetimes.

    SQLite keeps datetimes as text and PostgreSQL's ``timestamp`` has no zone, so one
    convention for both: aware in Python, naive UTC in the database.
    """

    def db_value(self, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value: Any) -> Any:
        # SQLite hands back the text it stored ("2024-05-02 09:00:00.123456"): parsing it
        # as UTC in one step is some 20 times faster than peewee's list of formats and a
        # ``replace``, which matters when the dashboard loads 10,000 workflows' runs.
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value + "+00:00")
            except ValueError:
                value = super().python_value(value)
        else:
            value = super().python_value(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class JSONField(TextField):
    """JSON document in a text column (portable across SQLite and PostgreSQL)."""

    def db_value(self, value: Any) -> Any:
        return None if value is None else json.dumps(value, sort_keys=True)

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)
