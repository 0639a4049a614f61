"""The action dispatcher's rules (``daemon.actions.dispatch``) against a stand-in
executor: oldest first, one action per lane, at most ``workers`` at once, and a drain
that asks long actions to hand themselves back."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from daemon.actions.dispatch import ActionDispatcher, lane_of
from tests.waiting import wait_until


class StandInExecutor:
    """Pending actions as (id, kind, target); ``execute`` waits for ``release``."""

    def __init__(self, *pending: tuple[int, str, str]) -> None:
        self.pending = list(pending)
        self.ctx = SimpleNamespace(stop=threading.Event())
        self.release = threading.Event()
        self.started: list[int] = []
        self.finished: list[int] = []

    def candidates(self, limit: int = 20) -> list[tuple[int, str, str]]:
        return self.pending[:limit]

    def claim(self, action_id: int) -> int | None:
        self.pending = [p for p in self.pending if p[0] != action_id]
        self.started.append(action_id)
        return action_id

    def execute(self, action_id: int) -> None:
        self.release.wait(10)
        self.finished.append(action_id)



@pytest.fixture
def executor() -> Iterator[StandInExecutor]:
    executor = StandInExecutor((1, "unpause", "ds.a"), (2, "pause", "ds.a"),
                               (3, "backfill", "ds.a"), (4, "pause", "ds.b"), (5, "run", "ds.c"))
    yield executor
    executor.release.set()


def test_one_action_per_lane_and_a_backfill_has_a_lane_of_its_own(executor):
    dispatcher = ActionDispatcher(executor, workers=4)  # type: ignore[arg-type]
    try:
        assert dispatcher.dispatch() == 4
        wait_until(lambda: sorted(executor.started) == [1, 3, 4, 5])
        assert dispatcher.running == 4
        assert dispatcher.dispatch() == 0  # the pause of ds.a waits for its unpause
        executor.release.set()
        wait_until(lambda: dispatcher.running == 0)
        assert dispatcher.dispatch() == 1
        wait_until(lambda: executor.finished[-1:] == [2])
    finally:
        dispatcher.close()


def test_at_most_workers_actions_at_once(executor):
    dispatcher = ActionDispatcher(executor, workers=2)  # type: ignore[arg-type]
    try:
        assert dispatcher.dispatch() == 2
        assert dispatcher.dispatch() == 0
        wait_until(lambda: sorted(executor.started) == [1, 3])
    finally:
        executor.release.set()
        dispatcher.close()


def test_drain_asks_actions_to_stop_and_keeps_the_lane_of_one_that_does_not(executor, caplog):
    dispatcher = ActionDispatcher(executor, workers=1)  # type: ignore[arg-type]
    try:
        assert dispatcher.dispatch() == 1
        dispatcher.drain(0.05)
        assert executor.ctx.stop.is_set()
        assert "action 1 did not finish in 0 s; it will be retried" in caplog.text
        assert dispatcher.running == 1 and dispatcher.dispatch() == 0
    finally:
        executor.release.set()
        dispatcher.close()


def test_run_pending_gives_up_on_an_action_it_cannot_claim(caplog):
    executor = StandInExecutor((7, "pause", "ds.a"))

    def broken_claim(action_id: int) -> None:
        raise OSError("database is locked")

    executor.claim = broken_claim  # type: ignore[method-assign]
    dispatcher = ActionDispatcher(executor, workers=1)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR):
        assert dispatcher.run_pending() == 1  # and returns instead of spinning
    dispatcher.close()
    assert "action 7 could not be claimed; leaving it in the queue" in caplog.text


def test_lanes():
    assert lane_of("pause", "ds.a") == lane_of("trigger", "ds.a") == "ds.a"
    assert lane_of("backfill", "ds.a") == "backfill:ds.a"
