"""The event log: spec errors, sync errors, source changes, actions, health changes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from daemon.store.models import Event

RECENT_EVENTS = 500


@dataclass(frozen=True)
class EventRow:
    id: int
    at: datetime
    kind: str
    severity: str
    subject: str
    message: str

    @property
    def key(self) -> str:
        return str(self.id)

    def as_json(self) -> dict[str, Any]:
        """``basecamp events`` (SPEC §8)."""
        return asdict(self)


_COLUMNS = (Event.id, Event.at, Event.kind, Event.severity, Event.subject, Event.message)


def list_events(kind: str | None = None, since: datetime | None = None,
                after_id: int = 0, limit: int = RECENT_EVENTS) -> list[EventRow]:
    """The newest ``limit`` events matching, oldest first (read like a log)."""
    query = Event.select(*_COLUMNS).where(Event.id > after_id)
    if kind:
        query = query.where(Event.kind == kind)
    if since:
        query = query.where(Event.at >= since)
    newest = list(query.order_by(Event.id.desc()).limit(limit).tuples())
    return [EventRow(*values) for values in reversed(newest)]
