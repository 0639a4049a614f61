"""Clusters: health, versions, latency, the age of each cluster's synced data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from daemon.store.models import Cluster, SyncState


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

    @property
    def key(self) -> str:
        return self.name

    def as_json(self) -> dict[str, Any]:
        """``basecamp clusters`` (SPEC §8)."""
        return asdict(self)


def no_cluster_message(team: str) -> str:
    return (f"No cluster serves team {team}: add a [[clusters]] entry with "
            f'team = "{team}" to the config and reload the daemon.')


def clusters_by_team() -> dict[str, Cluster]:
    """The configured clusters by the team they serve."""
    return {row.team: row for row in Cluster.select().where(Cluster.configured == True)}  # noqa: E712


def list_clusters() -> list[ClusterRow]:
    """The configured clusters, by name."""
    synced = {state.key.split(":", 1)[1]: state.last_ok_at
              for state in SyncState.select().where(SyncState.key.startswith("runs:"))}
    return [
        ClusterRow(row.name, row.team, row.url, row.environment,
                   row.detected_api_version or row.api_version, row.airflow_version,
                   row.healthy, row.last_ok_at, row.last_error, row.latency_ms,
                   synced.get(row.name))
        for row in Cluster.select().where(Cluster.configured == True).order_by(Cluster.name)  # noqa: E712
    ]
