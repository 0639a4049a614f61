"""What the client returns, parsed from either API dialect (v2 = Airflow 3, v1 = 2).

Parsing is lenient about fields a dialect lacks (v1 has no ``queued_at`` or
``triggered_by``; v1 calls ``logical_date`` ``execution_date`` before 2.2) and strict
about the identifiers every caller needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping


@dataclass(frozen=True)
class VersionInfo:
    api_version: str
    """``"v2"`` (Airflow 3) or ``"v1"`` (Airflow 2)."""
    airflow_version: str


@dataclass(frozen=True)
class DagRunInfo:
    dag_id: str
    dag_run_id: str
    state: str
    """The raw Airflow state (queued, running, success, failed)."""
    run_type: str | None = None
    triggered_by: str | None = None
    logical_date: datetime | None = None
    queued_at: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    conf: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


@dataclass(frozen=True)
class TaskInstanceInfo:
    dag_id: str
    dag_run_id: str
    task_id: str
    map_index: int = -1
    state: str | None = None
    try_number: int = 0
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None


def parse_datetime(value: object) -> datetime | None:
    """ISO-8601 with ``Z`` or an offset → aware UTC; naive values are taken as UTC
    (Airflow always means UTC); empty or unparsable → None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _required_str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing {key!r}")
    return value


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def dag_run_from_json(data: Mapping[str, Any]) -> DagRunInfo:
    """One ``DAGRunResponse`` (v2) or ``DAGRun`` (v1) → :class:`DagRunInfo`."""
    conf = data.get("conf")
    return DagRunInfo(
        dag_id=_required_str(data, "dag_id"),
        dag_run_id=_required_str(data, "dag_run_id"),
        state=str(data.get("state") or ""),
        run_type=_opt_str(data.get("run_type")),
        triggered_by=_opt_str(data.get("triggered_by")),
        logical_date=parse_datetime(data.get("logical_date") or data.get("execution_date")),
        queued_at=parse_datetime(data.get("queued_at")),
        start_date=parse_datetime(data.get("start_date")),
        end_date=parse_datetime(data.get("end_date")),
        conf=dict(conf) if isinstance(conf, dict) else {},
        note=_opt_str(data.get("note")),
    )


def task_instance_from_json(data: Mapping[str, Any]) -> TaskInstanceInfo:
    """One ``TaskInstanceResponse`` (v2) or ``TaskInstance`` (v1) → TaskInstanceInfo."""
    map_index = data.get("map_index")
    try_number = data.get("try_number")
    duration = data.get("duration")
    return TaskInstanceInfo(
        dag_id=_required_str(data, "dag_id"),
        dag_run_id=_required_str(data, "dag_run_id"),
        task_id=_required_str(data, "task_id"),
        map_index=map_index if isinstance(map_index, int) else -1,
        state=_opt_str(data.get("state")),
        try_number=try_number if isinstance(try_number, int) else 0,
        start_date=parse_datetime(data.get("start_date")),
        end_date=parse_datetime(data.get("end_date")),
        duration=float(duration) if isinstance(duration, (int, float)) else None,
    )
