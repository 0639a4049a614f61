"""Keeping the store's cluster rows in step with the ``[[clusters]]`` config."""

from __future__ import annotations

from typing import Iterable

from daemon.core.config import ClusterConfig
from daemon.core.timefmt import utcnow
from daemon.store.models import Cluster


def upsert_clusters(configs: Iterable[ClusterConfig]) -> None:
    """Insert or update one row per configured cluster; rows no longer configured are
    kept (their history stays readable) but marked ``configured = False``."""
    now = utcnow()
    names = []
    for config in configs:
        names.append(config.name)
        values = {
            "team": config.team,
            "url": config.url,
            "environment": config.environment,
            "dag_name_prefix": config.dag_name_prefix,
            "api_version": config.api_version,
            "configured": True,
        }
        row = Cluster.get_or_none(Cluster.name == config.name)
        if row is None:  # daemons sharing a store may start together: the first one inserts
            Cluster.insert(name=config.name, updated_at=now, **values).on_conflict_ignore().execute()
        elif any(getattr(row, key) != value for key, value in values.items()):
            Cluster.update(updated_at=now, **values).where(Cluster.id == row.id).execute()
    Cluster.update(configured=False, updated_at=now).where(
        Cluster.name.not_in(names) & (Cluster.configured == True)  # noqa: E712
    ).execute()
