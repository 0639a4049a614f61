"""Workflows and spec files: the CLI's ``workflow list`` and ``specs`` (SPEC §8 JSON) and
the dashboard's workflow detail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from daemon.core.errors import BasecampError
from daemon.core.naming import dag_id_for
from daemon.core.states import ACTIVE_RUN_STATUSES, SpecFileState, WorkflowStatus
from daemon.core.timefmt import utcnow
from daemon.read.actions import ActionRow, open_actions
from daemon.read.clusters import list_clusters, no_cluster_message
from daemon.read.runs import RunView, last_run_json, last_runs, recent_runs
from daemon.specs import DatasetSpec, next_fire_times, next_run
from daemon.store.in_force import source_in_force
from daemon.store.models import Run, SpecFile, Workflow

RECENT_RUNS = 30
FIRE_TIMES = 5


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


@dataclass(frozen=True)
class WorkflowView:
    """One workflow row (a dataset's code or manual spec) as the store has it."""

    dataset_name: str
    source_type: str
    status: str
    overridden_by: str | None
    spec_path: str | None
    spec: DatasetSpec | None
    """The last valid version of the spec (None when it was never valid)."""
    spec_yaml: str | None
    spec_error: str | None
    cron: str | None
    timezone: str | None
    team: str | None
    owner: str | None
    description: str | None
    next_run: datetime | None
    is_paused: bool | None

    @classmethod
    def of(cls, row: Workflow) -> WorkflowView:
        return cls(row.dataset_name, row.source_type, row.status, row.overridden_by,
                   row.spec_path, DatasetSpec.from_json(row.spec) if row.spec else None,
                   row.spec_yaml, row.spec_error, row.cron, row.timezone, row.team, row.owner,
                   row.description, row.next_run, row.is_paused)


@dataclass
class WorkflowDetail:
    """One consistent read of everything the workflow detail shows."""

    row: WorkflowView | None
    pair: dict[str, WorkflowView] = field(default_factory=dict)
    """The dataset's rows by source type (removed ones too)."""
    runs: list[RunView] = field(default_factory=list)
    pending: list[ActionRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """The spec file's warnings (unknown keys, parameters a scheduled run cannot supply)."""
    fire_times: list[datetime] = field(default_factory=list)
    fire_error: str | None = None

    @property
    def in_force(self) -> str | None:
        """The source whose spec is in force, if any."""
        return source_in_force(source for source, row in self.pair.items()
                               if row.spec is not None and row.status != WorkflowStatus.REMOVED)


def upcoming(cron: str | None, timezone: str | None, stored: datetime | None,
             now: datetime) -> datetime | None:
    """The next run: the stored one, or (when it has passed: the daemon was down) the next
    fire time after ``now``."""
    if stored is not None and stored <= now and cron:
        return next_run(cron, timezone or "UTC", now)
    return stored


def list_workflows(flt: WorkflowFilter, now: datetime | None = None) -> list[dict[str, Any]]:
    """``workflow list`` (SPEC §8 JSON, plus ``cluster_error`` when no cluster serves the
    workflow's team or the DAG factory fails to import there)."""
    now = now or utcnow()
    query = Workflow.select()
    if flt.source != "all":
        query = query.where(Workflow.source_type == flt.source)
    if flt.dataset:
        query = query.where(Workflow.dataset_name.contains(flt.dataset))
    if flt.status:
        query = query.where(Workflow.status == flt.status)
    elif not flt.include_removed:
        query = query.where(Workflow.status != WorkflowStatus.REMOVED)
    if flt.team:
        query = query.where(Workflow.team == flt.team)
    if flt.owner:
        query = query.where(Workflow.owner == flt.owner)
    if flt.enabled_only:
        query = query.where(Workflow.enabled == True)  # noqa: E712
    if flt.running:
        active = Run.select(Run.dataset_name).where(Run.status.in_(ACTIVE_RUN_STATUSES))
        query = query.where(Workflow.dataset_name.in_(active)
                            & (Workflow.status != WorkflowStatus.OVERRIDDEN))
    query = query.order_by(Workflow.dataset_name, Workflow.source_type)
    if flt.limit:
        query = query.limit(flt.limit)
    rows = list(query)
    clusters = {cluster.team: cluster for cluster in list_clusters()}
    latest = last_runs(row.dataset_name for row in rows)
    result = []
    for row in rows:
        cluster = clusters.get(row.team or "")
        last = latest.get(row.dataset_name)
        result.append({
            "dataset_name": row.dataset_name,
            "source_type": row.source_type,
            "status": row.status,
            "overridden_by": row.overridden_by,
            "cron": row.cron,
            "timezone": row.timezone,
            "next_run": upcoming(row.cron, row.timezone, row.next_run, now),
            "team": row.team,
            "cluster": cluster.name if cluster else None,
            "dag_id": dag_id_for(cluster.dag_name_prefix, row.dataset_name) if cluster else None,
            "owner": row.owner,
            "spec_path": row.spec_path,
            "spec_error": row.spec_error,
            "cluster_error": (cluster.factory_error if cluster else
                              None if row.team is None else no_cluster_message(row.team)),
            "last_run": None if row.status == WorkflowStatus.OVERRIDDEN or last is None
            else last_run_json(last),
        })
    return result


def workflow_detail(name: str, source_type: str, now: datetime) -> WorkflowDetail:
    """The workflow, its twin, recent runs, open actions, spec warnings and next fires."""
    pair = {row.source_type: WorkflowView.of(row)
            for row in Workflow.select().where(Workflow.dataset_name == name)}
    row = pair.get(source_type)
    detail = WorkflowDetail(row=row, pair=pair, runs=recent_runs(name, RECENT_RUNS),
                            pending=open_actions(name))
    if row is None:
        return detail
    if row.spec_path:
        spec_file = SpecFile.get_or_none(SpecFile.path == row.spec_path)
        detail.warnings = list(spec_file.warnings or []) if spec_file else []
    if row.cron:
        try:
            detail.fire_times = next_fire_times(row.cron, row.timezone or "UTC", now, FIRE_TIMES)
        except BasecampError as exc:
            detail.fire_error = str(exc)
    return detail


def list_spec_files(errors_only: bool = False) -> list[dict[str, Any]]:
    """``basecamp specs`` (SPEC §8 JSON, plus the warnings)."""
    query = SpecFile.select(
        SpecFile.path, SpecFile.source_type, SpecFile.dataset_name, SpecFile.state,
        SpecFile.error, SpecFile.warnings, SpecFile.size, SpecFile.last_modified,
    ).order_by(SpecFile.path)
    if errors_only:
        query = query.where(SpecFile.state != SpecFileState.VALID)
    return [
        {"path": row.path, "source_type": row.source_type, "dataset_name": row.dataset_name,
         "state": row.state, "error": row.error, "warnings": row.warnings or [],
         "size": row.size, "last_modified": row.last_modified}
        for row in query
    ]
