"""Cluster health: reachable, API and Airflow version, latency, last ok, last error, and
the DAG files that fail to import.

Healthy means basecamp can sync the cluster: the probe asks the version (no auth) and
then makes one authenticated request, the import errors, so a wrong password or a missing
permission shows as unhealthy with the reason, not as a green cluster whose data never
arrives.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from daemon.airflow import AirflowClient, ImportErrorInfo
from daemon.core.errors import BasecampError
from daemon.read.clusters import last_line
from daemon.store.events import record_events
from daemon.store.models import Cluster, ImportError_

log = logging.getLogger(__name__)


def check_cluster(name: str, client: AirflowClient, now: datetime) -> bool:
    """Probe one cluster and record the outcome on its row; an event when it goes
    from healthy to unreachable or back (not on every failed probe)."""
    started = time.monotonic()
    try:
        info = client.version(refresh=True)
        latency_ms = (time.monotonic() - started) * 1000
        import_errors = client.list_import_errors()
    except BasecampError as exc:
        _record(name, now, healthy=False, last_error=str(exc))
        return False
    write_import_errors(name, import_errors, now)
    _record(
        name, now, healthy=True, last_error=None, latency_ms=round(latency_ms, 1),
        detected_api_version=info.api_version, airflow_version=info.airflow_version,
        last_ok_at=now,
    )
    return True


def write_import_errors(cluster: str, errors: list[ImportErrorInfo], now: datetime) -> None:
    """The cluster's import errors as Airflow lists them now; an event for each file that
    newly fails, and one when a file imports again."""
    stored = {row.filename: row for row in
              ImportError_.select().where(ImportError_.cluster == cluster)}
    seen = {error.filename: error for error in errors}
    events, changed = [], False
    with ImportError_._meta.database.atomic():
        for filename, error in seen.items():
            row = stored.get(filename)
            if row is None:
                ImportError_.create(cluster=cluster, filename=filename,
                                    stack_trace=error.stack_trace, timestamp=error.timestamp,
                                    updated_at=now)
                events.append({"kind": "import_error", "severity": "error", "subject": cluster,
                               "message": f"{filename} fails to import on {cluster}: "
                                          f"{last_line(error.stack_trace)}"})
            elif (row.stack_trace, row.timestamp) != (error.stack_trace, error.timestamp):
                ImportError_.update(stack_trace=error.stack_trace, timestamp=error.timestamp,
                                    updated_at=now).where(ImportError_.id == row.id).execute()
                changed = True
        for filename, row in stored.items():
            if filename not in seen:
                row.delete_instance()
                events.append({"kind": "import_error_cleared", "severity": "info",
                               "subject": cluster,
                               "message": f"{filename} imports again on {cluster}."})
        if events or changed:  # what the dashboard's change query watches for clusters
            Cluster.update(updated_at=now).where(Cluster.name == cluster).execute()
        record_events(events, now)


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
