"""Runs far slower than their workflow's usual duration (SPEC §7, seed 004's "slow
response" alert).

A workflow's usual duration (``Workflow.usual_seconds``) is a high percentile of the
durations of its latest successful runs; below a minimum sample it has none and nothing
of it is slow. It is recomputed only for the datasets that gained a successful run in a
run-sync cycle (one query each).

Each cycle then judges, in one query, the cluster's running runs (by the time since they
started: a run that hangs is flagged while it still runs) and the runs that succeeded in
this cycle. A run past ``factor`` × usual gets ``slow`` set, once, and one ``run_slow``
event, routed to the workflow's ``on_failure`` notifications. A run is judged against the
usual duration as it was before the run ended, so a slow run does not excuse itself. A
failed run is not judged when it ends (``run_failed`` already speaks for it), only while
it runs. Everything here is written inside the cycle's transaction.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from daemon.core.config import NotificationsConfig
from daemon.core.states import RunStatus
from daemon.core.timefmt import duration
from daemon.store.models import Run, Workflow

RUN_SLOW = "run_slow"
_RUNNING = (RunStatus.PENDING, RunStatus.RUNNING)


@dataclass(frozen=True)
class SlowRule:
    """When a run is slow: ``factor`` × the ``percentile`` of the durations of the latest
    ``sample_runs`` successful runs, known once there are ``min_runs`` of them."""

    factor: float = 1.5
    percentile: int = 90
    sample_runs: int = 20
    min_runs: int = 5

    @classmethod
    def from_config(cls, config: NotificationsConfig) -> SlowRule:
        return cls(config.slow_factor, config.slow_percentile, config.slow_sample_runs,
                   config.slow_min_runs)


@dataclass
class Finished:
    """The runs a write of runs saw succeed (row ids, to judge) and their datasets (whose
    usual duration moves)."""

    datasets: set[str] = field(default_factory=set)
    succeeded: set[int] = field(default_factory=set)


def percentile(values: Iterable[float], pct: float) -> float:
    """Nearest rank: the smallest value with at least ``pct`` % of the values at or below
    it (a duration that happened, not an interpolation)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def usual_seconds(dataset: str, rule: SlowRule) -> float | None:
    """The usual duration of ``dataset``'s latest successful runs; None below the sample."""
    rows = (Run.select(Run.started_at, Run.ended_at)
            .where((Run.dataset_name == dataset) & (Run.status == RunStatus.SUCCESS)
                   & Run.started_at.is_null(False) & Run.ended_at.is_null(False))
            .order_by(Run.started_at.desc()).limit(rule.sample_runs).tuples())
    durations = [(ended - started).total_seconds() for started, ended in rows]
    if len(durations) < rule.min_runs:
        return None
    return round(percentile(durations, rule.percentile), 3)


def refresh_usual(datasets: Iterable[str], rule: SlowRule, now: datetime) -> int:
    """Recompute the usual duration of ``datasets``; returns the workflow rows changed."""
    changed = 0
    for dataset in sorted(set(datasets)):
        usual = usual_seconds(dataset, rule)
        differs = (Workflow.usual_seconds.is_null(False) if usual is None else
                   Workflow.usual_seconds.is_null() | (Workflow.usual_seconds != usual))
        changed += Workflow.update(usual_seconds=usual, updated_at=now).where(
            (Workflow.dataset_name == dataset) & differs).execute()
    return changed


def flag_slow_runs(cluster: str, succeeded: Collection[int], rule: SlowRule,
                   now: datetime) -> list[dict[str, Any]]:
    """Set ``slow`` on the cluster's running runs and on the ``succeeded`` ones (row ids)
    that are past ``factor`` × usual; returns their events."""
    query = (Run.select(Run, Workflow.usual_seconds.alias("usual"))
             .join(Workflow, on=(Workflow.dataset_name == Run.dataset_name))
             .where((Run.slow == False)  # noqa: E712
                    & Run.started_at.is_null(False) & (Workflow.usual_seconds > 0)
                    & (((Run.cluster == cluster) & Run.status.in_(_RUNNING))
                       | Run.id.in_(list(succeeded))))
             .objects())
    judged: dict[int, tuple[Run, float]] = {}
    for row in query:  # a code and a manual workflow of one dataset: one usual duration
        judged[row.id] = (row, row.usual)
    events, flagged = [], []
    for row, usual in judged.values():
        took = ((row.ended_at or now) - row.started_at).total_seconds()
        if took > rule.factor * usual:
            flagged.append(row.id)
            events.append(_slow_event(row, took, usual, rule))
    if flagged:
        Run.update(slow=True, updated_at=now).where(Run.id.in_(flagged)).execute()
    return events


def _slow_event(run: Run, took: float, usual: float, rule: SlowRule) -> dict[str, Any]:
    verb = "has been running for" if run.status in _RUNNING else "took"
    return {
        "kind": RUN_SLOW,
        "severity": "warning",
        "subject": run.public_id,
        "message": f"Run {run.dag_run_id} of {run.dataset_name} {verb} {duration(took)} on "
                   f"{run.cluster}, {took / usual:.1f}× longer than usual "
                   f"(p{rule.percentile} {duration(usual)}).",
        "data": {
            "dataset_name": run.dataset_name, "dag_id": run.dag_id,
            "dag_run_id": run.dag_run_id, "cluster": run.cluster, "status": run.status,
            "duration_seconds": round(took, 3), "usual_seconds": usual,
            "slow_factor": rule.factor, "percentile": rule.percentile,
        },
    }
