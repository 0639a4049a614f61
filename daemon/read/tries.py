"""The tries of a run's task instances: the earlier ones the daemon stored (``TaskTry``,
from Airflow's history of a retried task) and the latest, the task instance itself.

While a retry waits to run, Airflow still shows the previous try's start and end (and,
until the retry is queued, its queued time) on the task instance. So the latest try's
times that lie before the end of the try before it belong to that try and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daemon.store.models import TaskInstance, TaskTry


@dataclass(frozen=True)
class TryView:
    """One try of a task instance."""

    try_number: int
    state: str | None
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None

    def as_json(self) -> dict[str, Any]:
        return {"try_number": self.try_number, "state": self.state,
                "queued_at": self.queued_at, "started_at": self.started_at,
                "ended_at": self.ended_at, "duration_seconds": self.duration_seconds}


TaskKey = tuple[str, int]
"""(task_id, map_index)"""


def earlier_tries(run_pk: int) -> dict[TaskKey, list[TryView]]:
    """The stored earlier tries of the run's task instances, oldest first (one query)."""
    query = (TaskTry.select().where(TaskTry.run_id == run_pk)
             .order_by(TaskTry.task_id, TaskTry.map_index, TaskTry.try_number))
    found: dict[TaskKey, list[TryView]] = {}
    for row in query:
        found.setdefault((row.task_id, row.map_index), []).append(TryView(
            row.try_number, row.state, row.queued_at, row.started_at, row.ended_at,
            row.duration_seconds))
    return found


def tries_of(task: TaskInstance, earlier: list[TryView]) -> tuple[TryView, ...]:
    """Every try of ``task``, oldest first, the task instance's own (latest) try last;
    stored tries at or above its try number (a run made again under the same id) are
    not its own."""
    before = [one for one in earlier if one.try_number < task.try_number]
    cutoff = None
    if before:
        previous = before[-1]
        cutoff = previous.ended_at or previous.started_at or previous.queued_at

    def own(value: datetime | None) -> datetime | None:
        return None if value is None or (cutoff is not None and value < cutoff) else value

    started = own(task.started_at)
    ended = own(task.ended_at)
    if started is None or (ended is not None and ended < started):
        ended = None
    duration = task.duration_seconds if started is not None and ended is not None else None
    latest = TryView(task.try_number, task.state, own(task.queued_at), started, ended,
                     duration)
    return (*before, latest)
