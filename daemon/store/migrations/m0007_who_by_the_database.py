"""Schema version 7: on PostgreSQL, who queued an action is the database's word.

A trigger sets ``action.requested_by`` to the role that inserts the row
(``current_user``): with one role per engineer on a shared store, nobody can queue an
action in someone else's name. What the client said (its OS user) is kept in the new
column ``requested_by_os``, as a second, informative field. SQLite has one user: there
the client's word is all there is, and both columns hold it.

Frozen: independent of ``daemon.store.models``.
"""

from peewee import CharField, Database, PostgresqlDatabase
from playhouse.migrate import SchemaMigrator, migrate

DESCRIPTION = "who queued an action: the database role (PostgreSQL)"

_FUNCTION = """
CREATE OR REPLACE FUNCTION basecamp_action_requested_by() RETURNS trigger AS $$
BEGIN
    NEW.requested_by_os := COALESCE(NEW.requested_by_os, NEW.requested_by);
    NEW.requested_by := current_user;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
_TRIGGER = """
CREATE TRIGGER action_requested_by BEFORE INSERT ON action
FOR EACH ROW EXECUTE FUNCTION basecamp_action_requested_by()
"""


def up(db: Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.add_column("action", "requested_by_os", CharField(max_length=100, null=True)))
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql(_FUNCTION)
        db.execute_sql("DROP TRIGGER IF EXISTS action_requested_by ON action")
        db.execute_sql(_TRIGGER)
