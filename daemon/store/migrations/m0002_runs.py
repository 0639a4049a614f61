"""Schema version 2: runs and their task instances (the run sync).

Like 0001, this creates the current declarations of its tables; the first migration
that changes one of them must first copy the version-2 declarations into this file.
"""

from peewee import Database

from daemon.store.models import SCHEMA_V2

DESCRIPTION = "runs and task instances"


def up(db: Database) -> None:
    with db.bind_ctx(SCHEMA_V2):
        db.create_tables(SCHEMA_V2, safe=False)
