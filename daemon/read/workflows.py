"""Read-side queries shared by the CLI and the dashboard: rows shaped as SPEC §8's JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daemon.core.naming import dag_id_for
from daemon.specs import next_run
from daemon.read.runs import last_runs
from daemon.run_sync.status import ACTIVE
from daemon.store.models import Cluster, Event, Run, SpecFile, Workflow, utcnow


@dataclass(frozen=True)
class WorkflowFilter:
    source: str = "all"  # code | manual | all
    dataset: str | None = None  # substring of the dataset name
    status: str | None = None
    team: str | None = None
    owner: str | None = None
    enabled_only: bool = False
    running: bool = False
    include_removed: bool = False
    limit: int | None = None


def clusters_by_team() -> dict[str, Cluster]:
    return {row.team: row for row in Cluster.select().where(Cluster.configured == True)}  # noqa: E712


def list_workflows(flt: WorkflowFilter, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or utcnow()
    query = Workflow.select()
    if flt.source != "all":
        query = query.where(Workflow.source_type == flt.source)
    if flt.dataset:
        query = query.where(Workflow.dataset_name.contains(flt.dataset))
    if flt.status:
        query = query.where(Workflow.status == flt.status)
    elif not flt.include_removed:
        query = query.where(Workflow.status != "removed")
    if flt.team:
        query = query.where(Workflow.team == flt.team)
    if flt.owner:
        query = query.where(Workflow.owner == flt.owner)
    if flt.enabled_only:
        query = query.where(Workflow.enabled == True)  # noqa: E712
    if flt.running:
        query = query.where(
            Workflow.dataset_name.in_(Run.select(Run.dataset_name).where(Run.status.in_(ACTIVE)))
            & (Workflow.status != "overridden")
        )
    query = query.order_by(Workflow.dataset_name, Workflow.source_type)
    if flt.limit:
        query = query.limit(flt.limit)
    rows = list(query)
    clusters = clusters_by_team()
    latest = last_runs(sorted({row.dataset_name for row in rows}))
    return [workflow_json(row, clusters, latest, now) for row in rows]


def workflow_json(
    row: Workflow, clusters: dict[str, Cluster], latest: dict[str, dict[str, Any]], now: datetime
) -> dict[str, Any]:
    cluster = clusters.get(row.team or "")
    upcoming = row.next_run
    if upcoming is not None and upcoming <= now and row.cron:
        upcoming = next_run(row.cron, row.timezone or "UTC", now)
    return {
        "dataset_name": row.dataset_name,
        "source_type": row.source_type,
        "status": row.status,
        "overridden_by": row.overridden_by,
        "cron": row.cron,
        "timezone": row.timezone,
        "next_run": upcoming,
        "team": row.team,
        "cluster": cluster.name if cluster else None,
        "dag_id": dag_id_for(cluster.dag_name_prefix, row.dataset_name) if cluster else None,
        "owner": row.owner,
        "spec_path": row.spec_path,
        "spec_error": row.spec_error,
        "cluster_error": None if cluster or row.team is None else (
            f"No cluster serves team {row.team}: add a [[clusters]] entry with "
            f'team = "{row.team}" to the config.'
        ),
        "last_run": None if row.status == "overridden" else latest.get(row.dataset_name),
    }


def list_spec_files(errors_only: bool = False) -> list[dict[str, Any]]:
    query = SpecFile.select(
        SpecFile.path,
        SpecFile.source_type,
        SpecFile.dataset_name,
        SpecFile.state,
        SpecFile.error,
        SpecFile.warnings,
        SpecFile.size,
        SpecFile.last_modified,
    ).order_by(SpecFile.path)
    if errors_only:
        query = query.where(SpecFile.state != "valid")
    return [
        {
            "path": row.path,
            "source_type": row.source_type,
            "dataset_name": row.dataset_name,
            "state": row.state,
            "error": row.error,
            "warnings": row.warnings or [],
            "size": row.size,
            "last_modified": row.last_modified,
        }
        for row in query
    ]


def list_events(
    kind: str | None = None, since: datetime | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest ``limit`` events matching, oldest first (read like a log)."""
    query = Event.select()
    if kind:
        query = query.where(Event.kind == kind)
    if since:
        query = query.where(Event.at >= since)
    newest = list(query.order_by(Event.id.desc()).limit(limit))
    return [
        {
            "id": row.id,
            "at": row.at,
            "kind": row.kind,
            "severity": row.severity,
            "subject": row.subject,
            "message": row.message,
        }
        for row in reversed(newest)
    ]
