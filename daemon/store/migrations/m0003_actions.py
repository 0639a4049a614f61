"""Schema version 3: the action queue, the daemon lease, task log tails and the notification outbox.

Like 0001, this creates the current declarations of its tables; the first migration
that changes one of them must first copy the version-3 declarations into this file.
"""

from peewee import Database

from daemon.store.models import SCHEMA_V3

DESCRIPTION = "actions, daemon lease, task logs, notification outbox"


def up(db: Database) -> None:
    with db.bind_ctx(SCHEMA_V3):
        db.create_tables(SCHEMA_V3, safe=False)
