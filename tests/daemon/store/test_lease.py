"""The daemon lease on SQLite and PostgreSQL: one holder per store, take-over of a stale or
stopped lease by compare-and-set, and the losers of a race told so.

The races are made certain, not likely: every contender reads the lease row before any of
them writes (a barrier after the read), so all of them act on the same stale snapshot.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from peewee import Database

from daemon.core.timefmt import utcnow
from daemon.read.status import DaemonStatus, daemon_status
from daemon.store.db import close_connection
from daemon.store.lease import LEASE_KEY, Lease, SharedLease, StoreHeld
from daemon.store.models import DaemonLease

STALE_AFTER = 30.0


def lease() -> Lease:
    return Lease(stale_after=STALE_AFTER, version="test")


def row() -> DaemonLease:
    return DaemonLease.get(DaemonLease.key == LEASE_KEY)


def age_heartbeat(seconds: float) -> None:
    DaemonLease.update(heartbeat_at=utcnow() - timedelta(seconds=seconds)).execute()


def race(contenders: list[Lease], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``acquire`` on every contender at once, each in its own thread (own connection),
    all of them reading the lease row before any writes; returns None (won) or the
    exception, per contender."""
    barrier = threading.Barrier(len(contenders), timeout=10)
    waited = threading.local()
    read = DaemonLease.get_or_none

    def read_then_wait(*args: Any, **kwargs: Any) -> DaemonLease | None:
        found = read(*args, **kwargs)
        if not getattr(waited, "done", False):  # only the first read of each contender
            waited.done = True
            barrier.wait()
        return found

    outcomes: list[Any] = [None] * len(contenders)

    def run(index: int, contender: Lease) -> None:
        try:
            contender.acquire()
        except Exception as exc:  # noqa: BLE001 (reported to the test below)
            outcomes[index] = exc
        finally:
            close_connection()  # this thread's own

    with monkeypatch.context() as patched:
        patched.setattr(DaemonLease, "get_or_none", read_then_wait)
        threads = [threading.Thread(target=run, args=pair) for pair in enumerate(contenders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    return outcomes


def winners(contenders: list[Lease], outcomes: list[Any]) -> list[Lease]:
    for outcome in outcomes:
        assert outcome is None or isinstance(outcome, StoreHeld), repr(outcome)
    return [c for c, outcome in zip(contenders, outcomes) if outcome is None]


def test_the_first_daemon_takes_the_lease_and_a_second_is_refused(db_store: Database) -> None:
    first = lease()
    first.acquire()
    assert (row().holder, row().status, row().stopped_at) == (first.holder, "starting", None)
    assert daemon_status(STALE_AFTER).running
    with pytest.raises(StoreHeld, match=f"pid {first.pid}"):
        lease().acquire()
    assert row().holder == first.holder
    assert first.heartbeat("idle") and row().status == "idle"


@pytest.mark.parametrize("left", ["stale", "stopped"])
def test_a_stale_or_stopped_lease_is_taken_over_and_its_holder_loses_the_store(
    db_store: Database, left: str
) -> None:
    old, new = lease(), lease()
    old.acquire()
    if left == "stale":
        age_heartbeat(STALE_AFTER + 5)
    else:
        old.release()
        assert daemon_status(STALE_AFTER).stopped
    assert not daemon_status(STALE_AFTER).running
    new.acquire()
    assert (row().holder, row().stopped_at) == (new.holder, None)
    assert daemon_status(STALE_AFTER).running
    assert old.heartbeat("still here?") is False  # the old daemon must stop
    old.release()  # and its release leaves the new holder alone
    assert (row().holder, row().stopped_at) == (new.holder, None)


def test_a_heartbeat_keeps_the_lease_fresh(db_store: Database) -> None:
    holder = lease()
    holder.acquire()
    age_heartbeat(STALE_AFTER + 5)
    assert not daemon_status(STALE_AFTER).running
    assert holder.heartbeat("syncing")
    assert daemon_status(STALE_AFTER).running
    with pytest.raises(StoreHeld):
        lease().acquire()


@pytest.mark.parametrize("before", ["empty store", "stale lease"], ids=["empty", "stale"])
def test_daemons_starting_at_once_leave_exactly_one_holder(
    db_store: Database, monkeypatch: pytest.MonkeyPatch, before: str
) -> None:
    """On an empty store all contenders INSERT (the unique key refuses all but one); on a
    stale lease all UPDATE where (holder, heartbeat_at) is what they read."""
    if before == "stale lease":
        lease().acquire()
        age_heartbeat(STALE_AFTER + 5)
    contenders = [lease() for _ in range(4)]
    won = winners(contenders, race(contenders, monkeypatch))
    assert len(won) == 1
    assert DaemonLease.select().count() == 1
    assert row().holder == won[0].holder
    for loser in contenders:
        assert loser.heartbeat("idle") is (loser is won[0])


def test_status_reads_the_heartbeat_against_the_clock(db_store: Database) -> None:
    assert daemon_status(STALE_AFTER) == DaemonStatus(running=False)  # never started
    lease().acquire()
    beat = row().heartbeat_at

    def running_after(seconds: float) -> bool:
        return daemon_status(STALE_AFTER, now=beat + timedelta(seconds=seconds)).running

    assert running_after(0) and running_after(STALE_AFTER)
    assert not running_after(STALE_AFTER + 0.001)


def shared() -> SharedLease:
    return SharedLease(stale_after=STALE_AFTER, version="test")


def test_on_a_shared_store_each_daemon_has_a_row_and_the_store_runs_while_one_beats(
        db_store: Database) -> None:
    one, two = shared(), shared()
    one.acquire()
    two.acquire()  # never refused: the ownership locks split the work
    keys = {r.key for r in DaemonLease.select()}
    assert keys == {LEASE_KEY, f"daemon:{one.holder}", f"daemon:{two.holder}"}
    assert two.heartbeat("1 of 2 cluster(s)") and row().holder == two.holder
    one.release()
    assert daemon_status(STALE_AFTER).running  # two still beats
    two.release()
    status = daemon_status(STALE_AFTER)
    assert not status.running and status.stopped


def test_a_shared_store_forgets_daemons_silent_for_a_day(db_store: Database) -> None:
    gone = shared()
    gone.acquire()
    DaemonLease.update(heartbeat_at=utcnow() - timedelta(days=2)).where(
        DaemonLease.key == f"daemon:{gone.holder}").execute()
    shared().acquire()
    assert not DaemonLease.select().where(DaemonLease.key == f"daemon:{gone.holder}").exists()
