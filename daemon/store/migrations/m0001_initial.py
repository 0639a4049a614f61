"""Schema version 1: clusters, workflows, spec files, events, sync state.

While the models are still at version 1 this creates their tables directly. The first
migration that changes one of these tables must first copy the version-1 declarations
into this file (``tests/daemon/test_store.py`` fails until it does, because a fresh
upgrade would then create the new column twice).
"""

from peewee import Database

from daemon.store.models import ALL_MODELS

DESCRIPTION = "clusters, workflows, spec files, events, sync state"


def up(db: Database) -> None:
    with db.bind_ctx(ALL_MODELS):
        db.create_tables(ALL_MODELS)
