"""Store helpers shared by the notifier's steps."""

from __future__ import annotations

from typing import Any, Iterable

from daemon.store.in_force import source_in_force
from daemon.store.models import Workflow


def effective_specs(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Per dataset name, the spec JSON in force (SPEC §2, ``source_in_force``)."""
    wanted = sorted(set(names))
    candidates: dict[str, dict[str, dict[str, Any]]] = {}
    for start in range(0, len(wanted), 500):
        rows = Workflow.select(Workflow.dataset_name, Workflow.source_type, Workflow.spec).where(
            Workflow.dataset_name.in_(wanted[start : start + 500])
            & Workflow.removed_at.is_null() & Workflow.spec.is_null(False))
        for row in rows:
            candidates.setdefault(row.dataset_name, {})[row.source_type] = row.spec
    specs = {}
    for name, by_source in candidates.items():
        source = source_in_force(by_source)
        if source is not None:
            specs[name] = by_source[source]
    return specs


def spec_targets(spec: dict[str, Any] | None, event: str) -> list[dict[str, Any]]:
    """The targets a spec lists for ``event`` (``on_failure`` / ``on_source_change``)."""
    if not spec:
        return []
    notifications = (spec.get("schedule") or {}).get("notifications") or {}
    return list(notifications.get(event) or [])


def sla_minutes(spec: dict[str, Any] | None) -> int | None:
    if not spec:
        return None
    return (spec.get("schedule") or {}).get("sla_minutes")
