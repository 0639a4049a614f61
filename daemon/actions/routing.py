"""Which cluster an action acts on, so that on a shared store the daemon that owns the
cluster carries it out (``daemon.runtime.ownership``)."""

from __future__ import annotations

from collections.abc import Mapping

from daemon.store.in_force import in_force_condition
from daemon.store.models import Run, Workflow

DATASET_KINDS = ("pause", "unpause", "run", "backfill", "unregister")
"""Kinds whose target is a dataset: they act on the cluster of its team."""
RUN_KINDS = ("stop", "fetch_log", "clear", "mark", "respond")
"""Kinds whose target is a run (``DATASET/DAG_RUN_ID`` or a bare dag_run_id)."""


def cluster_of(kind: str, target: str, cluster_by_team: Mapping[str, str]) -> str | None:
    """The cluster the action will talk to; None for store-wide actions (register,
    sync_specs, sync_runs) and for targets that do not resolve (the validation of
    whoever carries the action out then rejects it with the reason)."""
    if kind in DATASET_KINDS:
        rows = Workflow.select(Workflow.team).where(Workflow.dataset_name == target)
        row = rows.where(in_force_condition()).first() or rows.first()
        return None if row is None else cluster_by_team.get(str(row.team))
    if kind in RUN_KINDS:
        if "/" in target:
            dataset, dag_run_id = target.split("/", 1)
            runs = Run.select(Run.cluster).where((Run.dataset_name == dataset) & (Run.dag_run_id == dag_run_id))
        else:
            runs = Run.select(Run.cluster).where(Run.dag_run_id == target)
        clusters = {run.cluster for run in runs.limit(5)}
        return clusters.pop() if len(clusters) == 1 else None
    if kind == "sync_runs" and target in cluster_by_team.values():
        return target
    return None
