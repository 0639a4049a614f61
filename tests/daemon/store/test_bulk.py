"""Bulk statements on SQLite and PostgreSQL (pages of statements there): every row
inserted, updated and deleted, more rows than a page."""

from __future__ import annotations

from peewee import Database

from daemon.core.timefmt import utcnow
from daemon.store.bulk import PAGE_ROWS, deletes, inserts, updates
from daemon.store.models import Event

ROWS = PAGE_ROWS * 2 + 7


def test_inserts_updates_and_deletes_reach_every_row(db_store: Database) -> None:
    now = utcnow()
    rows = [{"kind": "test", "severity": "info", "subject": f"s{i}", "message": "new", "at": now}
            for i in range(ROWS)]
    with db_store.atomic():
        for statement in inserts(Event, rows):
            statement.execute()
    assert Event.select().count() == ROWS
    ids = [event.id for event in Event.select(Event.id).order_by(Event.id)]
    with db_store.atomic():
        for statement in updates(Event, "id", [(i, {"message": "changed"}) for i in ids]):
            statement.execute()
    assert Event.select().where(Event.message == "changed").count() == ROWS
    with db_store.atomic():
        for statement in deletes(Event, "id", ids[1:]):
            statement.execute()
    assert [event.id for event in Event.select()] == ids[:1]
