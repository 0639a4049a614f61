"""The action queue's store side on SQLite and PostgreSQL: enqueueing, the claim (a
conditional UPDATE, so an action is carried out by one worker only), recovery of actions
claimed by a daemon that died. What the actions do: ``tests/daemon/actions``."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from peewee import Database

from daemon.actions.executor import ActionExecutor
from daemon.actions.queue import enqueue_checked, get_action, touch
from daemon.actions.validate import Validated
from daemon.core.errors import NotFoundError
from daemon.store.db import close_connection
from daemon.store.models import Action

NOW = datetime(2026, 11, 23, 8, 0, 0, 250000, tzinfo=timezone.utc)


def executor(holder: str, now: datetime = NOW) -> ActionExecutor:
    return ActionExecutor(SimpleNamespace(clock=lambda: now), holder)  # only the clock is used


def queued(count: int = 1, **values: Any) -> list[int]:
    rows = [{"kind": "pause", "target": f"ds.{i}", "requested_by": "alice",
             "updated_at": NOW - timedelta(hours=1), **values} for i in range(count)]
    Action.insert_many(rows).execute()
    return [row.id for row in Action.select(Action.id).order_by(Action.id)]


def test_an_enqueued_action_keeps_its_parameters(db_store: Database) -> None:
    params = {"conf": {"limit": 100, "date": "2026-11-23", "tags": ["a", "ü"]}, "dry_run": False}
    action = enqueue_checked(Validated(kind="run", target="ds.sales", params=params),
                             source_type="manual", reason="rerun", requested_by="alice")
    stored = get_action(action.id)
    assert (stored.state, stored.params, stored.attempts, stored.claimed_by) == (
        "pending", params, 0, None)
    with pytest.raises(NotFoundError):
        get_action(action.id + 1)


def test_a_pending_action_is_claimed_once(db_store: Database) -> None:
    [action_id] = queued()
    first, second = executor("daemon-a"), executor("daemon-b")
    claimed = first.claim(action_id)
    assert claimed is not None
    assert (claimed.state, claimed.claimed_by, claimed.claimed_at, claimed.attempts,
            claimed.updated_at) == ("running", "daemon-a", NOW, 1, NOW)
    assert second.claim(action_id) is None
    assert first.claim(action_id) is None
    assert get_action(action_id).claimed_by == "daemon-a"


def test_candidates_are_the_pending_actions_oldest_first(db_store: Database) -> None:
    ids = queued(5)
    Action.update(state="done").where(Action.id == ids[1]).execute()
    executor("daemon-a").claim(ids[2])
    assert [c[0] for c in executor("daemon-a").candidates()] == [ids[0], ids[3], ids[4]]
    assert executor("daemon-a").candidates(limit=2) == [(ids[0], "pause", "ds.0"),
                                                       (ids[3], "pause", "ds.3")]


def test_workers_claiming_at_once_carry_out_each_action_once(db_store: Database) -> None:
    ids = queued(12)
    workers = [executor(f"worker-{i}") for i in range(4)]
    barrier = threading.Barrier(len(workers), timeout=10)
    claims: dict[str, list[int]] = {w.holder: [] for w in workers}
    errors: list[BaseException] = []

    def work(worker: ActionExecutor) -> None:
        try:
            candidates = worker.candidates(limit=100)
            barrier.wait()  # every worker saw every action pending
            for action_id, _, _ in candidates:
                if worker.claim(action_id) is not None:
                    claims[worker.holder].append(action_id)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            close_connection()

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(i for got in claims.values() for i in got) == ids
    for holder, got in claims.items():
        for action_id in got:
            action = get_action(action_id)
            assert (action.claimed_by, action.attempts) == (holder, 1)


def test_actions_of_a_dead_daemon_go_back_to_the_queue_with_their_checkpoint(
    db_store: Database,
) -> None:
    ours, theirs, done = queued(3)
    dead, alive = executor("dead-daemon", NOW - timedelta(minutes=5)), executor("daemon-b")
    dead.claim(theirs)
    touch(get_action(theirs), checkpoint={"dag_run_id": "manual__2026-11-23T08:00:00"})
    alive.claim(ours)
    dead.claim(done)
    touch(get_action(done), state="done")
    assert alive.recover() == 1
    back = get_action(theirs)
    assert (back.state, back.claimed_by, back.updated_at) == ("pending", None, NOW)
    assert back.checkpoint == {"dag_run_id": "manual__2026-11-23T08:00:00"}
    assert (get_action(ours).state, get_action(done).state) == ("running", "done")
    again = alive.claim(theirs)
    assert again is not None and (again.attempts, again.checkpoint) == (2, back.checkpoint)


def test_touch_moves_updated_at_which_the_dashboard_follows(db_store: Database) -> None:
    [action_id] = queued()
    before = get_action(action_id).updated_at
    touch(get_action(action_id), progress_done=3, progress_total=10, message="3 of 10")
    after = get_action(action_id)
    assert (after.progress_done, after.progress_total, after.message) == (3, 10, "3 of 10")
    assert after.updated_at > before
    assert Action.select().where(Action.updated_at > before).count() == 1
