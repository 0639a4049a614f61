"""The log reads of the run detail on both backends: the log of a try (or the newest at
or before it), and whether a ``fetch_log`` of a task is still open (read from the
action's JSON params)."""

from __future__ import annotations

from datetime import datetime, timezone

from daemon.read.runs import log_fetch_open, task_log
from daemon.store.models import Action, TaskLog

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


def test_the_log_of_a_try_or_the_newest_before_it(db_store):
    TaskLog.create(run_id=1, task_id="t", map_index=-1, try_number=1, content="first",
                   fetched_at=T0)
    assert task_log(1, "t", -1, 2).try_number == 1  # try 2 not fetched: try 1 stands in
    assert task_log(1, "t", -1, 2, exact=True) is None
    assert task_log(1, "t", -1, 1, exact=True).content == "first"


def test_an_open_fetch_of_a_task(db_store):
    def action(state: str, **params: object) -> None:
        Action.create(kind="fetch_log", target="ds.a/r1", state=state, requested_by="x",
                      params={"task_id": "t", "try_number": 1, **params})

    action("done", map_index=-1)
    action("pending", map_index=2)
    Action.create(kind="stop", target="ds.a/r1", state="pending", requested_by="x", params={})
    assert log_fetch_open("ds.a/r1", "t", 2)
    assert not log_fetch_open("ds.a/r1", "t", -1)  # that one is carried out
    assert not log_fetch_open("ds.a/r2", "t", 2)
    action("running")  # no map_index: -1
    assert log_fetch_open("ds.a/r1", "t", -1)
