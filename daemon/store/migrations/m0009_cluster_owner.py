"""Schema version 9: which daemon owns each cluster.

On a shared PostgreSQL store several daemons split the clusters between them (see
``daemon.runtime.ownership``); the owner of a cluster writes itself here when it takes
the cluster and clears it when it hands the cluster over, so ``basecamp clusters`` and
the dashboard can say who syncs what.

- ``cluster.owner``: the owning daemon's holder id (``host:pid:nonce``), NULL when none.
- ``cluster.owned_since``: when that daemon took the cluster.

Frozen: plain columns, independent of ``daemon.store.models``.
"""

from peewee import CharField, Database, DateTimeField
from playhouse.migrate import SchemaMigrator, migrate

DESCRIPTION = "cluster owner (shared stores)"


def up(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(
        migrator.add_column("cluster", "owner", CharField(max_length=200, null=True)),
        migrator.add_column("cluster", "owned_since", DateTimeField(null=True)),
    )
