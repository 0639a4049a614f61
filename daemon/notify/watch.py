"""Events the notifier derives from the store itself: SLA misses and long cluster outages.

``sla_exceeded``: a PENDING/RUNNING run older (since started_at, else queued_at) than its
effective spec's ``schedule.sla_minutes``; once per run ever, deduplicated against the
event log by subject (the public run id), in the transaction that records it.

``cluster_outage``: a configured cluster unhealthy for longer than the threshold; once per
outage. health.py already records ``cluster_unreachable`` at the moment a probe first
fails; this is the later, threshold-crossing event, the one that notifies. An outage is
identified by the cluster's ``last_ok_at`` at the time it went down, kept in the
SyncState ``notify:clusters``: a recovery (even one between two of our cycles) changes
``last_ok_at`` and so re-arms the alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from daemon.core.states import RunStatus
from daemon.notify.store import effective_specs, sla_minutes
from daemon.store.events import record_events, sync_state
from daemon.store.models import Cluster, Event, Run, database_proxy

SLA_EXCEEDED = "sla_exceeded"
CLUSTER_OUTAGE = "cluster_outage"
OUTAGES_KEY = "notify:clusters"


def check_slas(now: datetime) -> int:
    """Record ``sla_exceeded`` for late runs not reported yet; returns events recorded."""
    runs = list(Run.select().where(Run.status.in_((RunStatus.PENDING, RunStatus.RUNNING))))
    if not runs:
        return 0
    specs = effective_specs(run.dataset_name for run in runs)
    late = []
    for run in runs:
        sla, since = sla_minutes(specs.get(run.dataset_name)), run.started_at or run.queued_at
        if sla and since and now - since > timedelta(minutes=sla):
            late.append((run, sla, since))
    if not late:
        return 0
    with database_proxy.atomic():
        subjects = [run.public_id for run, _, _ in late]
        reported = {
            subject
            for (subject,) in Event.select(Event.subject)
            .where((Event.kind == SLA_EXCEEDED) & Event.subject.in_(subjects))
            .tuples()
        }
        events = [_sla_event(run, sla, since, now) for run, sla, since in late
                  if run.public_id not in reported]
        return record_events(events, now)


def _sla_event(run: Run, sla: int, since: datetime, now: datetime) -> dict[str, Any]:
    minutes = int((now - since).total_seconds() // 60)
    return {
        "kind": SLA_EXCEEDED,
        "severity": "warning",
        "subject": run.public_id,
        "message": f"Run {run.dag_run_id} of {run.dataset_name} has been {run.status} for "
        f"{minutes} min on {run.cluster}, longer than its SLA of {sla} min.",
        "data": {
            "dataset_name": run.dataset_name, "dag_id": run.dag_id,
            "dag_run_id": run.dag_run_id, "cluster": run.cluster, "run_id": run.id,
            "status": run.status, "sla_minutes": sla, "since": since.isoformat(),
        },
    }


def check_clusters(threshold_minutes: float, now: datetime) -> int:
    """Record ``cluster_outage`` for clusters down longer than the threshold; returns the
    number recorded. Writes only when an outage starts, alerts or ends."""
    down = list(Cluster.select().where((Cluster.healthy == False) & Cluster.configured))  # noqa: E712
    if not down and not sync_state(OUTAGES_KEY).data:
        return 0
    threshold = timedelta(minutes=threshold_minutes)
    with database_proxy.atomic():
        state = sync_state(OUTAGES_KEY)
        known: dict[str, dict[str, Any]] = state.data or {}
        outages, events = {}, []
        for cluster in down:
            ok_at = cluster.last_ok_at.isoformat() if cluster.last_ok_at else None
            outage = known.get(cluster.name)
            if outage is None or outage["last_ok_at"] != ok_at:
                outage = {"last_ok_at": ok_at, "since": ok_at or now.isoformat(), "alerted": False}
            since = datetime.fromisoformat(outage["since"])
            if not outage["alerted"] and now - since >= threshold:
                events.append(_outage_event(cluster, since, threshold_minutes, now))
                outage = {**outage, "alerted": True}
            outages[cluster.name] = outage
        if outages != known:
            state.data, state.updated_at = outages, now
            state.save()
        return record_events(events, now)


def _outage_event(cluster: Cluster, since: datetime, threshold: float, now: datetime) -> dict[str, Any]:
    minutes = int((now - since).total_seconds() // 60)
    return {
        "kind": CLUSTER_OUTAGE,
        "severity": "error",
        "subject": cluster.name,
        "message": f"Cluster {cluster.name} has been unreachable for {minutes} min "
        f"(since {since:%Y-%m-%d %H:%M} UTC): {cluster.last_error or 'no error recorded'}",
        "data": {
            "cluster": cluster.name, "team": cluster.team, "since": since.isoformat(),
            "last_ok_at": cluster.last_ok_at.isoformat() if cluster.last_ok_at else None,
            "threshold_minutes": threshold,
        },
    }
