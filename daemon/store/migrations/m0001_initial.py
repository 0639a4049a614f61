"""Schema version 1: clusters, workflows, spec files, events, sync state.

This creates the current declarations of the version-1 tables. The first migration that
changes one of them must first copy the version-1 declarations into this file
(``tests/daemon/test_store.py`` fails until it does, because a fresh upgrade would then
create the new column twice).
"""

from peewee import Database

from daemon.store.models import SCHEMA_V1

DESCRIPTION = "clusters, workflows, spec files, events, sync state"


def up(db: Database) -> None:
    with db.bind_ctx(SCHEMA_V1):
        db.create_tables(SCHEMA_V1, safe=False)
