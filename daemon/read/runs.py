"""Read-side queries for runs and clusters, shaped as SPEC §8's JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import fn

from daemon.core.errors import NotFoundError, UserError
from daemon.run_sync.status import ACTIVE
from daemon.store.models import Cluster, Run, SyncState, TaskInstance, Workflow


@dataclass(frozen=True)
class RunFilter:
    dataset: str | None = None
    source: str = "all"
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 20


def _run_time() -> Any:
    return fn.COALESCE(Run.started_at, Run.queued_at, Run.logical_date, Run.created_at)


def run_json(row: Run) -> dict[str, Any]:
    duration = None
    if row.started_at is not None and row.ended_at is not None:
        duration = round((row.ended_at - row.started_at).total_seconds(), 3)
    return {
        "run_id": row.public_id,
        "dataset_name": row.dataset_name,
        "cluster": row.cluster,
        "dag_id": row.dag_id,
        "dag_run_id": row.dag_run_id,
        "status": row.status,
        "airflow_state": row.airflow_state,
        "run_type": row.run_type,
        "triggered_by": row.triggered_by,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "duration_seconds": duration,
        "progress": {
            "total": row.total,
            "succeeded": row.succeeded,
            "failed": row.failed,
            "running": row.running,
            "queued": row.queued,
            "skipped": row.skipped,
        },
        "current_task": row.current_task,
    }


def _effective_names(source: str) -> Any:
    """Dataset names whose spec in force comes from ``source``."""
    if source == "code":
        return Workflow.select(Workflow.dataset_name).where(
            (Workflow.source_type == "code") & (Workflow.status != "removed") & Workflow.spec.is_null(False)
        )
    return Workflow.select(Workflow.dataset_name).where(
        (Workflow.source_type == "manual") & Workflow.status.not_in(("removed", "overridden"))
    )


def list_runs(flt: RunFilter) -> list[dict[str, Any]]:
    query = Run.select()
    if flt.dataset:
        query = query.where(Run.dataset_name == flt.dataset)
    if flt.source != "all":
        query = query.where(Run.dataset_name.in_(_effective_names(flt.source)))
    if flt.status:
        query = query.where(Run.status == flt.status.upper())
    if flt.since:
        query = query.where(_run_time() >= flt.since)
    if flt.until:
        query = query.where(_run_time() < flt.until)
    query = query.order_by(_run_time().desc(), Run.id.desc()).limit(flt.limit)
    return [run_json(row) for row in query]


def find_run(run_id: str) -> Run:
    """``DATASET/DAG_RUN_ID``, or a bare dag_run_id when only one run has it."""
    if "/" in run_id:
        dataset, dag_run_id = run_id.split("/", 1)
        rows = list(Run.select().where((Run.dataset_name == dataset) & (Run.dag_run_id == dag_run_id)))
    else:
        rows = list(Run.select().where(Run.dag_run_id == run_id).limit(5))
    if not rows:
        raise NotFoundError(f"Run not found: {run_id}. List runs with: basecamp workflow history")
    if len(rows) > 1:
        choices = ", ".join(row.public_id for row in rows)
        raise UserError(f"Run id {run_id} is ambiguous; use one of: {choices}")
    return rows[0]


def run_detail(run_id: str) -> dict[str, Any]:
    row = find_run(run_id)
    tasks = TaskInstance.select().where(TaskInstance.run_id == row.id).order_by(
        fn.COALESCE(TaskInstance.started_at, TaskInstance.updated_at), TaskInstance.task_id
    )
    return {
        **run_json(row),
        "tasks": [
            {
                "task_id": t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]",
                "state": t.state,
                "try_number": t.try_number,
                "started_at": t.started_at,
                "ended_at": t.ended_at,
                "duration_seconds": t.duration_seconds,
            }
            for t in tasks
        ],
    }


def last_runs(names: list[str]) -> dict[str, dict[str, Any]]:
    """The latest run of each dataset in ``names``: run id, status, start and end."""
    latest: dict[str, dict[str, Any]] = {}
    if not names:
        return latest
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        newest = (
            Run.select(Run.dataset_name, fn.MAX(_run_time()).alias("at"))
            .where(Run.dataset_name.in_(chunk))
            .group_by(Run.dataset_name)
        )
        rows = Run.select().join(
            newest, on=((Run.dataset_name == newest.c.dataset_name) & (_run_time() == newest.c.at))
        )
        for row in rows:
            latest[row.dataset_name] = {
                "run_id": row.public_id,
                "status": row.status,
                "started_at": row.started_at,
                "ended_at": row.ended_at,
            }
    return latest


def running_datasets() -> set[str]:
    return {name for (name,) in Run.select(Run.dataset_name).where(Run.status.in_(ACTIVE)).distinct().tuples()}


def list_clusters() -> list[dict[str, Any]]:
    ages = {
        state.key.split(":", 1)[1]: state.last_ok_at
        for state in SyncState.select().where(SyncState.key.startswith("runs:"))
    }
    return [
        {
            "name": row.name,
            "team": row.team,
            "url": row.url,
            "environment": row.environment,
            "api_version": row.detected_api_version or row.api_version,
            "airflow_version": row.airflow_version,
            "healthy": row.healthy,
            "last_ok_at": row.last_ok_at,
            "last_error": row.last_error,
            "latency_ms": row.latency_ms,
            "runs_synced_at": ages.get(row.name),
        }
        for row in Cluster.select().where(Cluster.configured == True).order_by(Cluster.name)  # noqa: E712
    ]
