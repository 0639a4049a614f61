"""A workflow's grid: its recent runs × its tasks, like Airflow's grid view.

One query for the runs (newest first, a page at a time) and one for their task
instances. Mapped task instances are folded into one cell per task: the cell shows the
state that needs attention most, and how many instances there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from daemon.read.runs import RunFilter, RunView, list_runs
from daemon.store.models import TaskInstance

# The state a folded (mapped) cell shows: the first of these its instances have.
_ATTENTION = ("failed", "upstream_failed", "awaiting_input", "running", "up_for_retry",
              "restarting", "deferred", "queued", "scheduled", "up_for_reschedule",
              "success", "skipped", "removed")


@dataclass(frozen=True)
class GridCell:
    state: str | None
    try_number: int
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    instances: int = 1
    """Mapped tasks: how many instances the cell stands for."""


@dataclass(frozen=True)
class Grid:
    dataset_name: str
    runs: list[RunView]
    """Oldest first, as the grid draws them left to right."""
    tasks: list[str]
    """In the order they run (by their start within the newest runs)."""
    cells: dict[tuple[int, str], GridCell]
    """By (run id, task id)."""
    older: bool
    """There are runs older than the first one shown."""

    def cell(self, run: RunView, task_id: str) -> GridCell | None:
        return self.cells.get((run.id, task_id))

    @property
    def longest_seconds(self) -> float:
        return max((r.duration_seconds or 0.0 for r in self.runs), default=0.0)


def workflow_grid(dataset: str, columns: int, offset: int = 0) -> Grid:
    """The ``columns`` runs of ``dataset`` before the ``offset`` newest, and their tasks."""
    page = list_runs(RunFilter(dataset=dataset, limit=offset + columns + 1))[offset:]
    older = len(page) > columns
    runs = list(reversed(page[:columns]))
    by_run: dict[int, list[TaskInstance]] = {run.id: [] for run in runs}
    if runs:
        query = TaskInstance.select(
            TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index,
            TaskInstance.state, TaskInstance.try_number, TaskInstance.started_at,
            TaskInstance.ended_at, TaskInstance.duration_seconds,
        ).where(TaskInstance.run_id.in_(list(by_run)))
        for row in query:
            by_run[row.run_id].append(row)
    cells = {(run_id, task_id): _fold(rows)
             for run_id, instances in by_run.items()
             for task_id, rows in _by_task(instances).items()}
    return Grid(dataset, runs, _task_order(runs, by_run), cells, older)


def _by_task(instances: list[TaskInstance]) -> dict[str, list[TaskInstance]]:
    grouped: dict[str, list[TaskInstance]] = {}
    for row in instances:
        grouped.setdefault(row.task_id, []).append(row)
    return grouped


def _fold(rows: list[TaskInstance]) -> GridCell:
    if len(rows) == 1:
        row = rows[0]
        return GridCell(row.state, row.try_number, row.started_at, row.ended_at,
                        row.duration_seconds)
    states = {row.state for row in rows}
    state = next((s for s in _ATTENTION if s in states), rows[0].state)
    starts = [row.started_at for row in rows if row.started_at]
    ends = [row.ended_at for row in rows if row.ended_at]
    unfinished = any(row.ended_at is None for row in rows)
    start = min(starts) if starts else None
    end = None if unfinished or not ends else max(ends)
    took = (end - start).total_seconds() if start and end else None
    return GridCell(state, max(row.try_number for row in rows), start, end, took, len(rows))


def _task_order(runs: list[RunView], by_run: dict[int, list[TaskInstance]]) -> list[str]:
    """Tasks as they run: in the order they started in the newest run, then those that
    had not started there in the order of the runs before it, then the rest by name."""
    order: list[str] = []
    for run in reversed(runs):
        started = sorted((row.started_at, row.task_id) for row in by_run[run.id]
                         if row.started_at is not None)
        for _, task in started:
            if task not in order:
                order.append(task)
    names = {row.task_id for rows in by_run.values() for row in rows}
    return order + sorted(names - set(order))
