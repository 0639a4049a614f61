"""Cluster health: reachable, API and Airflow version, latency, last ok, last error.

Healthy means basecamp can sync the cluster: the probe asks the version (no auth) and
then makes one authenticated request, so a wrong password or a missing permission shows
as unhealthy with the reason, not as a green cluster whose data never arrives.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from daemon.airflow import AirflowClient
from daemon.core.errors import BasecampError
from daemon.store.events import record_events
from daemon.store.models import Cluster

log = logging.getLogger(__name__)


def check_cluster(name: str, client: AirflowClient, now: datetime) -> bool:
    """Probe one cluster and record the outcome on its row; an event when it goes
    from healthy to unreachable or back (not on every failed probe)."""
    started = time.monotonic()
    try:
        info = client.version(refresh=True)
        latency_ms = (time.monotonic() - started) * 1000
        client.check_access()
    except BasecampError as exc:
        _record(name, now, healthy=False, last_error=str(exc))
        return False
    _record(
        name, now, healthy=True, last_error=None, latency_ms=round(latency_ms, 1),
        detected_api_version=info.api_version, airflow_version=info.airflow_version,
        last_ok_at=now,
    )
    return True


def _record(name: str, now: datetime, *, healthy: bool, **values: object) -> None:
    row = Cluster.get(Cluster.name == name)
    first_probe_ok = healthy and row.healthy is None
    if row.healthy is not healthy and not first_probe_ok:
        if healthy:
            kind, severity, message = "cluster_recovered", "info", f"Cluster {name} is reachable again."
        else:
            kind, severity, message = "cluster_unreachable", "error", str(values["last_error"])
        record_events([{"kind": kind, "severity": severity, "subject": name, "message": message}], now)
        log.log(logging.INFO if healthy else logging.WARNING, "%s", message)
    Cluster.update(healthy=healthy, checked_at=now, updated_at=now, **values).where(
        Cluster.id == row.id
    ).execute()
