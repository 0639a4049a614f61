"""Airflow states → basecamp run status and task progress (SPEC §3, "Runs")."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Protocol

from daemon.core.states import RunStatus

# Airflow's own state names (run and task-instance states) are Airflow's vocabulary, kept
# as the strings Airflow sends; basecamp's run status is ``RunStatus``.
_RUN_STATUS = {
    "queued": RunStatus.PENDING,
    "running": RunStatus.RUNNING,
    "restarting": RunStatus.RUNNING,
    "up_for_retry": RunStatus.RUNNING,
    "success": RunStatus.SUCCESS,
    "failed": RunStatus.FAILED,
    "upstream_failed": RunStatus.FAILED,
    "skipped": RunStatus.SKIPPED,
}
AIRFLOW_ACTIVE_STATES = ("queued", "running", "restarting", "up_for_retry")
AIRFLOW_FAILED_STATES = ("failed", "upstream_failed")

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


def run_status(airflow_state: str | None, previous: str | None) -> RunStatus:
    """A stop basecamp asked for shows as STOPPING until Airflow reports the run
    failed (then STOPPED); a run that finished some other way shows that outcome."""
    state = (airflow_state or "").lower()
    if previous in (RunStatus.STOPPING, RunStatus.STOPPED):
        if state in AIRFLOW_FAILED_STATES:
            return RunStatus.STOPPED
        if state in AIRFLOW_ACTIVE_STATES:
            return RunStatus.STOPPING
    return _RUN_STATUS.get(state, RunStatus.UNKNOWN)


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
