"""On PostgreSQL the dashboard is woken by a commit (LISTEN/NOTIFY), not by its next poll:
a change shows long before the poll interval is up."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

from basecamp_tui.app import BasecampApp
from daemon.core.config import parse_config
from tests.daemon.read.test_wakeup import store_url
from tests.tui.conftest import cell, fixed_clock, loaded, seed
from tests.tui.test_live import CLICKS_RUN
from tests.waiting import pilot_until

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]
POLL = 2.0
"""The watcher's poll interval here: far longer than the change may take to show."""


async def test_a_commit_by_another_writer_shows_at_once_not_at_the_next_poll(postgres_store):
    seed()
    url = store_url(postgres_store)
    app = BasecampApp(parse_config(f'[database]\nurl = "{url}"\n', None), clock=fixed_clock,
                      poll_seconds=POLL)
    looked = threading.Event()
    poll = app.watcher.reader.poll

    def watched_poll():  # so the test can commit just after a look, a whole interval before the next
        changes = poll()
        looked.set()
        return changes

    app.watcher.reader.poll = watched_poll  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot_until(pilot, lambda: app.watcher.listener.listening)
        runs = app.main.tables["runs"]
        looked.clear()
        await pilot_until(pilot, looked.is_set, timeout=2 * POLL)
        with psycopg2.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute("UPDATE run SET status = 'FAILED', updated_at = now() AT TIME ZONE 'utc' "
                           "WHERE dag_run_id = %s", (CLICKS_RUN.split("/", 1)[1],))
        conn.close()
        committed = time.monotonic()
        await pilot_until(pilot, lambda: cell(runs, CLICKS_RUN, "status") == "FAILED")
        took = time.monotonic() - committed
        assert took < POLL / 2, f"the change showed after {took:.2f} s (the poll interval is {POLL} s)"
