"""Writing what a run sync fetched: runs, their task instances, DAG pause states."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

from peewee import IntegrityError

from daemon.airflow import DagRunInfo, TaskInstanceInfo
from daemon.core.states import RunStatus, WorkflowStatus
from daemon.run_sync.slow import Finished
from daemon.run_sync.status import progress, run_status
from daemon.spec_sync.resolve import workflow_status
from daemon.specs import next_run
from daemon.store.models import Run, TaskInstance, Workflow

# A run that is already FAILED (or SUCCESS and slow) when first seen is reported only if it
# ended this recently, so the initial import of the lookback window does not flood the
# event log.
FRESH_FAILURE = timedelta(minutes=10)

RunKey = tuple[str, str]


def write_runs(
    cluster: str,
    infos: list[DagRunInfo],
    tasks: dict[RunKey, list[TaskInstanceInfo]],
    vanished: list[Run],
    known: set[str],
    dataset_of: Callable[[str, set[str]], str | None],
    now: datetime,
    *,
    seen_at: datetime,
    finished: Finished | None = None,
    fetched_from: datetime | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Upsert runs (and the tasks fetched for them); returns rows written and events.

    ``seen_at`` is the server's time when this cycle's listing began: a run's
    ``last_seen_at`` is in the server's clock, so it can bound the next task query.
    ``finished`` (when given) collects the runs that succeeded here, for the slow check.
    ``fetched_from`` (our clock when the fetch began): a run written after it by someone
    else (an action Airflow just confirmed, e.g. a stop) is newer than what this cycle
    read, and is left for the next cycle instead of being set back."""
    existing = {
        (row.dag_id, row.dag_run_id): row
        for row in Run.select().where(
            (Run.cluster == cluster) & Run.dag_run_id.in_(list({i.dag_run_id for i in infos}) or [""])
        )
    }
    written, events = 0, []
    for info in infos:
        dataset = dataset_of(info.dag_id, known)
        if dataset is None:
            continue
        key = (info.dag_id, info.dag_run_id)
        previous = existing.get(key)
        if _written_since(previous, fetched_from):
            continue
        values = _run_values(info, dataset, previous.status if previous else None)
        if previous is None:
            row = Run.create(cluster=cluster, dag_id=info.dag_id, dag_run_id=info.dag_run_id,
                             last_seen_at=seen_at, created_at=now, updated_at=now, **values)
        else:
            row = previous
        if key in tasks:
            values.update(_write_tasks(row.id, tasks[key], now))
        changes = {k: v for k, v in values.items() if getattr(row, k) != v}
        if previous is None or changes:
            written += 1
        stamp = {"updated_at": now} if changes else {}
        Run.update(last_seen_at=seen_at, **changes, **stamp).where(Run.id == row.id).execute()
        if _newly_failed(values, previous, now):
            events.append(_failure_event(dataset, cluster, info))
        if finished is not None and _newly_succeeded(values, previous):
            finished.datasets.add(dataset)
            if previous is not None or _fresh(values, now):
                finished.succeeded.add(row.id)
    for row in vanished:
        Run.update(status=RunStatus.UNKNOWN, updated_at=now).where(Run.id == row.id).execute()
        written += 1
    return written, events


def write_task_changes(
    cluster: str, tasks: dict[RunKey, list[TaskInstanceInfo]], now: datetime,
    fetched_from: datetime | None = None,
) -> int:
    """Write changed task instances of stored runs whose run row did not change (Airflow 2
    does not move a run when a task starts), with the progress they imply; returns the
    runs written. ``fetched_from`` as in :func:`write_runs`."""
    written = 0
    for (dag_id, dag_run_id), changed in tasks.items():
        row = Run.get_or_none((Run.cluster == cluster) & (Run.dag_id == dag_id)
                              & (Run.dag_run_id == dag_run_id))
        if row is None or _written_since(row, fetched_from):
            continue
        values = _write_tasks(row.id, changed, now)
        changes = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changes:
            Run.update(**changes, updated_at=now).where(Run.id == row.id).execute()
            written += 1
    return written


def write_confirmed_run(now: datetime, cluster: str, dataset: str, info: DagRunInfo) -> None:
    """Write a run Airflow just confirmed to an action (triggered, stopped), without
    waiting for the next run sync. Its ``last_seen_at`` is set a little in the past: it
    bounds the next task query, and earlier only costs rows."""
    seen = min(now, info.queued_at or now) - timedelta(minutes=2)
    for attempt in range(2):
        try:
            with Run._meta.database.atomic():
                write_runs(cluster, [info], {}, [], {dataset}, lambda _dag, _known: dataset,
                           now, seen_at=seen)
            return
        except IntegrityError:  # the run sync inserted it meanwhile: now it is an update
            if attempt:
                raise


def _written_since(row: Run | None, fetched_from: datetime | None) -> bool:
    return row is not None and fetched_from is not None and row.updated_at > fetched_from


def _run_values(info: DagRunInfo, dataset: str, previous_status: str | None) -> dict[str, Any]:
    return {
        "dataset_name": dataset,
        "status": run_status(info.state, previous_status),
        "airflow_state": info.state,
        "run_type": info.run_type,
        "triggered_by": info.triggered_by,
        "logical_date": info.logical_date,
        "queued_at": info.queued_at,
        "started_at": info.start_date,
        "ended_at": info.end_date,
        "conf": info.conf or None,
        "note": info.note,
    }


def _newly_failed(values: dict[str, Any], previous: Run | None, now: datetime) -> bool:
    if values["status"] != RunStatus.FAILED:
        return False
    if previous is not None:
        return previous.status != RunStatus.FAILED
    return _fresh(values, now)


def _fresh(values: dict[str, Any], now: datetime) -> bool:
    """A run first seen finished ended recently (not one of the lookback's old runs)."""
    ended = values["ended_at"]
    return ended is None or ended >= now - FRESH_FAILURE


def _newly_succeeded(values: dict[str, Any], previous: Run | None) -> bool:
    return values["status"] == RunStatus.SUCCESS and (
        previous is None or previous.status != RunStatus.SUCCESS)


def _failure_event(dataset: str, cluster: str, info: DagRunInfo) -> dict[str, Any]:
    return {
        "kind": "run_failed",
        "severity": "error",
        "subject": f"{dataset}/{info.dag_run_id}",
        "message": f"Run {info.dag_run_id} of {dataset} failed on {cluster}.",
        "data": {"dataset_name": dataset, "dag_id": info.dag_id,
                 "dag_run_id": info.dag_run_id, "cluster": cluster},
    }


def _write_tasks(run_id: int, tasks: list[TaskInstanceInfo], now: datetime) -> dict[str, object]:
    """Upsert one run's task instances; returns the run's progress columns after it."""
    stored = {(t.task_id, t.map_index): t for t in TaskInstance.select().where(TaskInstance.run_id == run_id)}
    for task in tasks:
        values = {
            "state": task.state,
            "try_number": task.try_number,
            "queued_at": task.queued_when,
            "started_at": task.start_date,
            "ended_at": task.end_date,
            "duration_seconds": task.duration,
        }
        row = stored.get((task.task_id, task.map_index))
        if row is None:
            TaskInstance.create(run_id=run_id, task_id=task.task_id, map_index=task.map_index,
                                updated_at=now, **values)
        elif any(getattr(row, k) != v for k, v in values.items()):
            TaskInstance.update(updated_at=now, **values).where(TaskInstance.id == row.id).execute()
    task_rows = TaskInstance.select(TaskInstance.task_id, TaskInstance.state).where(
        TaskInstance.run_id == run_id
    )
    return progress(task_rows).as_columns()


def write_pause_states(team: str, dag_ids: dict[str, str], paused: set[str], now: datetime,
                       unchanged_since: dict[int, datetime] | None = None) -> int:
    """Set ``is_paused`` (and the status it implies) on the team's workflows. With
    ``unchanged_since`` (id → updated_at when Airflow was asked), a row written since
    then is left alone: a pause the daemon carried out meanwhile is newer than the list."""
    dag_of = {name: dag_id for dag_id, name in dag_ids.items()}
    rows = Workflow.select(*_PAUSE_COLUMNS).where(
        (Workflow.team == team) & (Workflow.status != WorkflowStatus.REMOVED) & Workflow.spec.is_null(False)
    )
    return sum(_set_paused(row, dag_of.get(row.dataset_name) in paused, now) for row in rows
               if unchanged_since is None or unchanged_since.get(row.id) == row.updated_at)


def write_dataset_paused(dataset: str, is_paused: bool, now: datetime) -> int:
    """Set the pause state Airflow just confirmed on a dataset's workflows."""
    rows = Workflow.select(*_PAUSE_COLUMNS).where(
        (Workflow.dataset_name == dataset) & (Workflow.status != WorkflowStatus.REMOVED)
        & Workflow.spec.is_null(False)
    )
    return sum(_set_paused(row, is_paused, now) for row in rows)


_PAUSE_COLUMNS = (Workflow.id, Workflow.dataset_name, Workflow.source_type, Workflow.enabled,
                  Workflow.status, Workflow.is_paused, Workflow.next_run, Workflow.cron,
                  Workflow.timezone, Workflow.updated_at)
"""What a pause state needs of a workflow: every cycle reads the team's rows, and their
specs (JSON and YAML) would cost more than all the rest of an idle cycle."""


def _set_paused(row: Workflow, is_paused: bool, now: datetime) -> bool:
    """Update one workflow row's pause state and status; False when nothing changed."""
    status = workflow_status(
        source_type=row.source_type, has_spec=True, enabled=bool(row.enabled),
        is_paused=is_paused, removed=False, overridden=row.status == WorkflowStatus.OVERRIDDEN,
    )
    if is_paused == row.is_paused and status == row.status:
        return False
    upcoming = row.next_run if status == WorkflowStatus.ACTIVE and row.status == WorkflowStatus.ACTIVE else None
    if status == WorkflowStatus.ACTIVE and upcoming is None and row.cron:
        upcoming = next_run(row.cron, row.timezone or "UTC", now)
    Workflow.update(is_paused=is_paused, status=status, next_run=upcoming, updated_at=now).where(
        Workflow.id == row.id
    ).execute()
    return True
