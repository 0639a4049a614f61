"""Airflow states → basecamp run status and task progress (SPEC §3, "Runs")."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Protocol

ACTIVE = ("PENDING", "RUNNING", "STOPPING")

_RUN_STATUS = {
    "queued": "PENDING",
    "running": "RUNNING",
    "restarting": "RUNNING",
    "up_for_retry": "RUNNING",
    "success": "SUCCESS",
    "failed": "FAILED",
    "upstream_failed": "FAILED",
    "skipped": "SKIPPED",
}

_TASK_BUCKET = {
    "success": "succeeded",
    "failed": "failed",
    "upstream_failed": "failed",
    "running": "running",
    "restarting": "running",
    "up_for_retry": "running",
    "skipped": "skipped",
    "removed": "skipped",
}


def run_status(airflow_state: str | None, previous: str | None) -> str:
    """A stop basecamp asked for shows as STOPPING until Airflow reports the run
    failed (then STOPPED); a run that finished some other way shows that outcome."""
    state = (airflow_state or "").lower()
    if previous in ("STOPPING", "STOPPED"):
        if state in ("failed", "upstream_failed"):
            return "STOPPED"
        if state in ("queued", "running", "restarting", "up_for_retry"):
            return "STOPPING"
    return _RUN_STATUS.get(state, "UNKNOWN")


class TaskLike(Protocol):
    task_id: str
    state: str | None


@dataclass(frozen=True)
class Progress:
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    running: int = 0
    queued: int = 0
    skipped: int = 0
    current_task: str | None = None

    def as_columns(self) -> dict[str, object]:
        """The ``Run`` columns this progress fills (the field names match)."""
        return asdict(self)


def progress(tasks: Iterable[TaskLike]) -> Progress:
    """Counts per bucket; tasks not yet started (no state, scheduled, queued, deferred…)
    count as queued. The current task is every running one."""
    counts = {"succeeded": 0, "failed": 0, "running": 0, "queued": 0, "skipped": 0}
    running: list[str] = []
    total = 0
    for task in tasks:
        total += 1
        bucket = _TASK_BUCKET.get((task.state or "").lower(), "queued")
        counts[bucket] += 1
        if bucket == "running":
            running.append(task.task_id)
    current = ", ".join(sorted(set(running))) or None
    return Progress(total=total, current_task=current, **counts)
