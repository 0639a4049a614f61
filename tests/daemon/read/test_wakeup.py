"""The dashboard's wake-up on a committed change (``daemon.read.wakeup``): PostgreSQL
LISTEN/NOTIFY through migration 10's triggers, a lost connection falling back to polling
and coming back, a least-privilege reader listening; on SQLite a plain sleep."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
from peewee import Database

from daemon.read.wakeup import CONNECT_OPTIONS, ChangeListener
from tests.waiting import wait_until

READERS_SQL = Path(__file__).resolve().parents[3] / "contrib" / "postgres" / "readers.sql"
QUICK = 0.5
"""Seconds within which a commit must wake the listener (it takes about a millisecond)."""


def store_url(db: Database, user: str | None = None) -> str:
    params = db.connect_params
    return (f"postgresql://{user or params['user']}@{params['host']}:{params['port']}/"
            f"{db.database}")


def execute(url: str, *statements: str) -> None:
    """Run ``statements`` in one transaction on a connection of their own, and commit."""
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    conn.close()


def woken_by(listener: ChangeListener, commit: Callable[[], None], timeout: float = 5.0) -> float | None:
    """Wait on ``listener`` while another thread commits; the seconds from that commit to
    the listener waking, or None when ``timeout`` passed without a wake."""
    committed: list[float] = []

    def write() -> None:
        time.sleep(0.05)  # the listener is inside select() by then
        commit()
        committed.append(time.monotonic())

    writer = threading.Thread(target=write)
    writer.start()
    woke = listener.wait(timeout)
    woke_at = time.monotonic()
    writer.join()
    return woke_at - committed[0] if woke else None


@pytest.fixture
def listen(postgres_store: Database) -> Iterator[Callable[..., ChangeListener]]:
    made: list[ChangeListener] = []

    def make(url: str | None = None, **options: float) -> ChangeListener:
        made.append(ChangeListener(url or store_url(postgres_store), **options))
        assert made[-1].wait(0) is False  # connects and LISTENs
        assert made[-1].listening
        return made[-1]

    yield make
    for listener in made:
        listener.close()


EVENT = "INSERT INTO event (at, kind, severity, subject, message) VALUES (now(), 'x', 'info', 's', 'm')"
ACTION = ("INSERT INTO action (kind, target, requested_by, requested_at, state, attempts, updated_at) "
          "VALUES ('pause', 'ds.a', 'me', now(), 'pending', 0, now())")
CHANGES = {  # a statement-level trigger fires whether or not the statement matched rows
    "workflow": "UPDATE workflow SET status = status",
    "run": "UPDATE run SET status = status",
    "cluster": "DELETE FROM cluster",
    "sync_state": "UPDATE sync_state SET updated_at = now()",
    "event": EVENT,
    "action": ACTION,
    "daemon_lease": "DELETE FROM daemon_lease",
}


@pytest.mark.postgres
def test_a_commit_on_a_watched_table_wakes_the_listener_at_once(postgres_store, listen) -> None:
    listener = listen()
    url = store_url(postgres_store)
    for what, statement in CHANGES.items():
        took = woken_by(listener, lambda statement=statement: execute(url, statement))
        assert took is not None and took < QUICK, f"{what}: woke after {took}"


@pytest.mark.postgres
def test_only_a_committed_change_to_a_watched_table_wakes_it_and_once_per_transaction(
        postgres_store, listen) -> None:
    listener = listen()
    url = store_url(postgres_store)

    def rolled_back() -> None:
        with psycopg2.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute(EVENT)
            conn.rollback()
        conn.close()

    assert woken_by(listener, rolled_back, timeout=0.3) is None
    assert woken_by(listener, lambda: execute(url, "DELETE FROM task_log"), timeout=0.3) is None
    # a thousand statements in one transaction: one notification per table, at commit
    assert woken_by(listener, lambda: execute(url, *[EVENT] * 1000)) is not None
    assert listener.wait(0.3) is False


@pytest.mark.postgres
def test_a_killed_listener_connection_falls_back_to_polling_and_comes_back(
        postgres_store, listen, caplog) -> None:
    listener = listen(reconnect_after=1.0)
    url = store_url(postgres_store)
    caplog.set_level(logging.INFO, logger="daemon.read.wakeup")
    execute(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 f"WHERE application_name = '{CONNECT_OPTIONS['application_name']}'")

    def lost() -> bool:
        started = time.monotonic()
        assert listener.wait(0.2) is False  # the wait that notices the loss lasts its time
        assert time.monotonic() - started >= 0.2
        return not listener.listening

    wait_until(lost, timeout=5, what="the listener to notice its connection is gone")
    # until the retry, a commit does not wake it (the watcher polls at its interval)
    assert woken_by(listener, lambda: execute(url, EVENT), timeout=0.1) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "polls" in warnings[0].getMessage()
    wait_until(lambda: listener.wait(0.05) is False and listener.listening, timeout=5,
               what="the listener to LISTEN again")
    assert any("listening for store changes again" in r.getMessage() for r in caplog.records)
    took = woken_by(listener, lambda: execute(url, EVENT))
    assert took is not None and took < QUICK


@pytest.mark.postgres
def test_a_listener_whose_server_is_unreachable_only_sleeps_and_says_so_once(caplog) -> None:
    from tests.s3server import free_port

    caplog.set_level(logging.WARNING, logger="daemon.read.wakeup")
    listener = ChangeListener(f"postgresql://nobody@127.0.0.1:{free_port()}/none", reconnect_after=0)
    try:
        for _ in range(3):
            started = time.monotonic()
            assert listener.wait(0.05) is False
            assert 0.05 <= time.monotonic() - started < 2
        assert len(caplog.records) == 1
    finally:
        listener.close()


@pytest.mark.postgres
def test_a_least_privilege_reader_can_listen_and_its_action_notifies(postgres_store, listen) -> None:
    owner = store_url(postgres_store)
    execute(owner, READERS_SQL.read_text(), "DROP ROLE IF EXISTS carol",
            "CREATE ROLE carol LOGIN IN ROLE basecamp_reader")
    reader = listen(store_url(postgres_store, user="carol"))
    took = woken_by(reader, lambda: execute(owner, EVENT))
    assert took is not None and took < QUICK
    queued = woken_by(reader, lambda: execute(store_url(postgres_store, user="carol"), ACTION))
    assert queued is not None and queued < QUICK


def test_without_notifications_a_wait_is_a_sleep_that_wake_cuts_short(tmp_path) -> None:
    listener = ChangeListener(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        started = time.monotonic()
        assert listener.wait(0.1) is False
        assert time.monotonic() - started >= 0.1 and not listener.listening
        threading.Timer(0.05, listener.wake).start()
        started = time.monotonic()
        assert listener.wait(5) is True
        assert time.monotonic() - started < 1
        listener.wake()  # a wake before the wait is kept, not lost
        assert listener.wait(5) is True
        assert listener.wait(0) is False
    finally:
        listener.close()
    listener.wake()  # after close: harmless (the watcher's stop() may come late)
