"""Action dispatch: which pending actions start now, and on which thread.

:class:`~daemon.actions.executor.ActionExecutor` claims one action and carries it out;
this module decides which actions go to the executor and when. The daemon's main loop
calls :meth:`ActionDispatcher.dispatch` every tick and never waits for an action: the
bodies run in a thread pool of ``[daemon] action_workers`` threads.

Order:

* oldest first (by action id);
* one action per *lane* at a time. The lane is the target workflow, so a pause queued
  after an unpause of the same workflow starts only once the unpause has finished. Long
  kinds (``LONG_KINDS``: backfills, minutes to hours) have a lane of their own per
  target, so a running backfill never holds up pausing its workflow;
* at most ``workers`` actions at once;
* only the actions ``accepts`` says are this daemon's (on a shared store: those of the
  clusters it owns).

Stopping (:meth:`ActionDispatcher.drain`): the executor context's stop event is set; a
long action notices it at its next poll and hands itself back to the queue with its
checkpoint (``Released``), short ones finish. One still running after the grace period
stays claimed; the next daemon's :meth:`ActionExecutor.recover` puts it back in the queue
and its handler repeats the same idempotent request.

Threads: ``dispatch``, ``drain``, ``use``, ``run_pending`` and ``close`` are called from one
thread (the daemon's main loop); :attr:`ActionDispatcher.running` may be read from any.
This module is used by ``daemon.runtime`` and imports nothing from it.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Callable

from daemon.actions.executor import LONG_KINDS, ActionExecutor
from daemon.store.db import release_connection

log = logging.getLogger(__name__)

CANDIDATES = 200
"""Pending actions looked at per dispatch, oldest first (on a shared store the oldest
ones may be other daemons')."""


def lane_of(kind: str, target: str) -> str:
    """Actions in the same lane run one after another, in queue order."""
    return f"{kind}:{target}" if kind in LONG_KINDS else target


class ActionDispatcher:
    """Hands pending actions to a pool of ``workers`` threads (see the module docstring)."""

    def __init__(self, executor: ActionExecutor, workers: int,
                 accepts: Callable[[int, str, str], bool] = lambda _id, _kind, _target: True) -> None:
        self.executor = executor
        self.workers = workers
        self.accepts = accepts
        """(id, kind, target) -> whether this daemon carries the action out."""
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="action")
        self._in_flight: dict[int, tuple[Future[None], str]] = {}
        """Action id -> (its future, its lane), from hand-over until seen finished."""

    @property
    def running(self) -> int:
        """Actions handed to the pool and not finished (for the heartbeat's status)."""
        return sum(1 for future, _ in list(self._in_flight.values()) if not future.done())

    def use(self, executor: ActionExecutor, workers: int) -> None:
        """After a config reload: new actions go to ``executor``. A changed ``workers``
        gets a new pool; an action still running on the old one finishes there."""
        self.executor = executor
        if workers != self.workers:
            old, self._pool = self._pool, ThreadPoolExecutor(workers, thread_name_prefix="action")
            old.shutdown(wait=False)
            self.workers = workers

    def dispatch(self) -> int:
        """Hand pending actions to free workers; returns how many were started."""
        self._forget_finished()
        free = self.workers - len(self._in_flight)
        if free <= 0:
            return 0
        busy = {lane for _, lane in self._in_flight.values()}
        started = 0
        for action_id, kind, target in self.executor.candidates(CANDIDATES):
            lane = lane_of(kind, target)
            if lane in busy or not self.accepts(action_id, kind, target):
                continue
            busy.add(lane)
            # The executor is bound now: an action keeps the context it started with
            # (and its stop event) even when a reload swaps in a new one.
            future = self._pool.submit(self._run, self.executor, action_id)
            self._in_flight[action_id] = (future, lane)
            started += 1
            if started >= free:
                break
        return started

    def run_pending(self) -> int:
        """``--once``: every pending action, oldest first, one after another in this
        thread; returns how many were tried."""
        tried: set[int] = set()
        while candidates := [c for c in self.executor.candidates(CANDIDATES) if self.accepts(*c)][:1]:
            action_id = candidates[0][0]
            if action_id in tried:
                # Still pending after its turn: the claim itself failed (logged by _run).
                log.error("action %s could not be claimed; leaving it in the queue", action_id)
                break
            tried.add(action_id)
            self._run(self.executor, action_id)
        return len(tried)

    def drain(self, grace: float) -> None:
        """Ask running actions to stop and wait up to ``grace`` seconds for them (long
        ones hand themselves back to the queue). Unfinished ones keep their lane."""
        deadline = time.monotonic() + grace
        self.executor.ctx.stop.set()
        for action_id, (future, _) in list(self._in_flight.items()):
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FuturesTimeout:
                log.warning("action %s did not finish in %.0f s; it will be retried", action_id, grace)
            except CancelledError:  # never started, so never claimed: still pending
                pass
        self._forget_finished()

    def close(self, *, wait: bool = True) -> None:
        """Shut the pool down; actions handed over but not started stay pending."""
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _forget_finished(self) -> None:
        for action_id in [i for i, (future, _) in self._in_flight.items() if future.done()]:
            del self._in_flight[action_id]

    @staticmethod
    def _run(executor: ActionExecutor, action_id: int) -> None:
        """Claim and carry out one action; never raises, so a bug in one action does not
        take a worker thread (or the ``--once`` loop) down."""
        try:
            action = executor.claim(action_id)
            if action is not None:
                executor.execute(action)
        except Exception:
            log.exception("action %s could not be carried out", action_id)
        finally:
            release_connection()
