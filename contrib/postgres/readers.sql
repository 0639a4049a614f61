-- Least privilege for the people who only look and queue actions: dashboards and CLIs on
-- their own machines with nothing but [database] url in their config. Run as the role
-- that owns basecamp's tables (the daemon's), in basecamp's database. The daemon keeps
-- its own role; it alone writes everything else.
--
--   psql "$BASECAMP_DATABASE_URL" -f contrib/postgres/readers.sql
--   CREATE ROLE alice LOGIN PASSWORD '…' IN ROLE basecamp_reader;   -- one role per person
--
-- Who queued an action is then the person's role (a trigger sets it: nobody can queue in
-- someone else's name).

DO $$ BEGIN
    CREATE ROLE basecamp_reader NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

GRANT USAGE ON SCHEMA public TO basecamp_reader;
-- read everything
GRANT SELECT ON ALL TABLES IN SCHEMA public TO basecamp_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO basecamp_reader;
-- insert actions, and nothing else
GRANT INSERT ON action TO basecamp_reader;
GRANT USAGE ON SEQUENCE action_id_seq TO basecamp_reader;
