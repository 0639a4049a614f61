"""Column types shared by the models and the frozen migration tables."""

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
