"""Clusters: health, versions, latency, the age of each cluster's synced data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Callable

from daemon.store.lease import LEASE_KEY, SHARED_KEY_PREFIX
from daemon.store.models import Cluster, DaemonLease, ImportError_, SyncState

FACTORY_FILE = "basecamp_dag_factory.py"


@dataclass(frozen=True)
class ImportErrorView:
    filename: str
    summary: str
    """The line of the traceback that says what went wrong."""
    stack_trace: str
    timestamp: datetime | None


@dataclass(frozen=True)
class ClusterRow:
    name: str
    team: str
    url: str
    environment: str | None
    api_version: str | None
    """The detected API dialect (``v2`` / ``v1``), else the configured one."""
    airflow_version: str | None
    healthy: bool | None
    """None until the first probe."""
    last_ok_at: datetime | None
    last_error: str | None
    latency_ms: float | None
    runs_synced_at: datetime | None
    """When the run sync last succeeded: how old this cluster's data is."""
    dag_name_prefix: str | None = None
    import_errors: tuple[ImportErrorView, ...] = ()
    """DAG files that fail to import, as the last health check saw them."""
    owner: str | None = None
    """The daemon that syncs this cluster (``host:pid``): on a shared store the one that
    owns it, on a one-daemon store its daemon; None while no daemon runs it."""

    @property
    def key(self) -> str:
        return self.name

    @property
    def factory_error(self) -> str | None:
        """When basecamp's DAG factory itself fails to import, no DAG of this cluster's
        team is built: what to tell on every one of its workflows."""
        for error in self.import_errors:
            if error.filename.endswith(FACTORY_FILE):
                return (f"{FACTORY_FILE} fails to import on {self.name} ({error.summary}): "
                        "none of this team's DAGs is built; see `basecamp clusters`.")
        return None

    def as_json(self) -> dict[str, Any]:
        """``basecamp clusters`` (SPEC §8)."""
        return asdict(self)


def no_cluster_message(team: str) -> str:
    return (f"No cluster serves team {team}: add a [[clusters]] entry with "
            f'team = "{team}" to the config and reload the daemon.')


def list_clusters() -> list[ClusterRow]:
    """The configured clusters, by name."""
    synced = {state.key.split(":", 1)[1]: state.last_ok_at
              for state in SyncState.select().where(SyncState.key.startswith("runs:"))}
    errors: dict[str, list[ImportErrorView]] = {}
    for row in ImportError_.select().order_by(ImportError_.filename):
        errors.setdefault(row.cluster, []).append(ImportErrorView(
            row.filename, last_line(row.stack_trace), row.stack_trace, row.timestamp))
    owner_of = _owners()
    return [
        ClusterRow(row.name, row.team, row.url, row.environment,
                   row.detected_api_version or row.api_version, row.airflow_version,
                   row.healthy, row.last_ok_at, row.last_error, row.latency_ms,
                   synced.get(row.name), row.dag_name_prefix,
                   tuple(errors.get(row.name, ())), owner_of(row.owner))
        for row in Cluster.select().where(Cluster.configured == True).order_by(Cluster.name)  # noqa: E712
    ]


def _owners() -> Callable[[str | None], str | None]:
    """``host:pid`` of the daemon syncing a cluster, from its ``cluster.owner``. A store
    with one daemon (SQLite) names no owner per cluster: its running daemon has them all."""
    rows = list(DaemonLease.select().where(DaemonLease.stopped_at.is_null()))
    shared = {row.holder: f"{row.hostname}:{row.pid}" for row in rows
              if row.key.startswith(SHARED_KEY_PREFIX)}
    if shared:
        return lambda owner: shared.get(owner or "")
    sole = next((f"{row.hostname}:{row.pid}" for row in rows if row.key == LEASE_KEY), None)
    return lambda _owner: sole


def last_line(stack_trace: str) -> str:
    """The line of a Python traceback that says what went wrong (its last)."""
    lines = [line.strip() for line in stack_trace.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
