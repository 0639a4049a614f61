"""Schema version 10: on PostgreSQL, a committed change wakes the dashboards.

A statement-level trigger on each table the dashboard's change reader watches
(``daemon/read/changes.py``) calls ``pg_notify('basecamp_changes', '<table>')``. PostgreSQL
delivers a notification when its transaction commits and sends one per channel and
payload however many statements repeated it, so a sync cycle that writes a thousand runs
costs one notification per table. The dashboard LISTENs (``daemon/read/wakeup.py``) and
runs its change poll at once instead of at its next interval. The function runs as the
role whose statement fired it and NOTIFY needs no privilege, so an action queued by a
least-privilege reader role notifies too. SQLite has no notifications: a no-op there
(its dashboards poll).

Frozen: independent of ``daemon.store.models``.
"""

from peewee import Database, PostgresqlDatabase

DESCRIPTION = "a committed change notifies the dashboards (PostgreSQL LISTEN/NOTIFY)"

TABLES = ("workflow", "run", "cluster", "sync_state", "event", "action", "daemon_lease")
_FUNCTION = """
CREATE OR REPLACE FUNCTION basecamp_notify_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('basecamp_changes', TG_TABLE_NAME);
    RETURN NULL;
END
$$ LANGUAGE plpgsql
"""
_TRIGGER = """
CREATE TRIGGER {table}_notify_change AFTER INSERT OR UPDATE OR DELETE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION basecamp_notify_change()
"""


def up(db: Database) -> None:
    if not isinstance(db, PostgresqlDatabase):
        return
    db.execute_sql(_FUNCTION)
    for table in TABLES:
        db.execute_sql(f"DROP TRIGGER IF EXISTS {table}_notify_change ON {table}")
        db.execute_sql(_TRIGGER.format(table=table))
