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
    queued_when: datetime | None = None
    """When the try was queued for an executor; both dialects send it."""


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
    """One ``TaskInstanceResponse`` (v2) or ``TaskInstance`` (v1) → TaskInstanceInfo; a
    try of the tries listing (``TaskInstanceHistoryResponse`` / ``TaskInstanceHistory``)
    has the same fields."""
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
        queued_when=parse_datetime(data.get("queued_when")),
    )


@dataclass(frozen=True)
class HitlRequest:
    """A human-in-the-loop task waiting for (or given) a person's answer: Airflow ≥ 3.1's
    ``HITLDetail``, on ``/api/v2`` only."""

    dag_id: str
    dag_run_id: str
    task_id: str
    map_index: int
    subject: str
    body: str | None
    options: tuple[str, ...]
    multiple: bool
    defaults: tuple[str, ...] | None
    params: dict[str, Any]
    """Per name ``{"value", "description", "schema"}``, as Airflow serializes a Param."""
    created_at: datetime | None
    response_received: bool
    chosen_options: tuple[str, ...] | None
    responded_by: str | None
    """The responder's name; None before an answer, and for the timeout default."""
    responded_at: datetime | None
    params_input: dict[str, Any] = field(default_factory=dict)
    """The values of ``params`` given with the answer."""
    task_state: str | None = None
    """The waiting task instance's state (``awaiting_input`` on 3.3, ``deferred`` on
    3.1/3.2) when Airflow sent it."""


@dataclass(frozen=True)
class ImportErrorInfo:
    """A DAG file the scheduler failed to import (``GET /importErrors``)."""

    filename: str
    """Airflow 3: relative to its DAG bundle (``broken_dag.py``); Airflow 2: the absolute
    path (``/opt/airflow/dags/broken_dag.py``)."""
    stack_trace: str
    timestamp: datetime | None
    bundle_name: str | None = None
    """Airflow 3's DAG bundle of the file (``dags-folder``); None on Airflow 2."""


def _str_tuple(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(str(item) for item in value)


def hitl_request_from_json(data: Mapping[str, Any]) -> HitlRequest:
    """One ``HITLDetail`` (v2, with its ``task_instance``) → :class:`HitlRequest`."""
    ti = data.get("task_instance")
    if not isinstance(ti, Mapping):
        raise ValueError("missing 'task_instance'")
    map_index = ti.get("map_index")
    responder = data.get("responded_by_user") or data.get("responded_by")
    params, params_input = data.get("params"), data.get("params_input")
    return HitlRequest(
        dag_id=_required_str(ti, "dag_id"),
        dag_run_id=_required_str(ti, "dag_run_id"),
        task_id=_required_str(ti, "task_id"),
        map_index=map_index if isinstance(map_index, int) else -1,
        subject=str(data.get("subject") or ""),
        body=_opt_str(data.get("body")),
        options=_str_tuple(data.get("options")) or (),
        multiple=data.get("multiple") is True,
        defaults=_str_tuple(data.get("defaults")),
        params=dict(params) if isinstance(params, Mapping) else {},
        created_at=parse_datetime(data.get("created_at")),
        response_received=data.get("response_received") is True,
        chosen_options=_str_tuple(data.get("chosen_options")),
        responded_by=_opt_str(responder.get("name")) if isinstance(responder, Mapping) else None,
        responded_at=parse_datetime(data.get("responded_at")),
        params_input=dict(params_input) if isinstance(params_input, Mapping) else {},
        task_state=_opt_str(ti.get("state")),
    )


def import_error_from_json(data: Mapping[str, Any]) -> ImportErrorInfo:
    """One ``ImportErrorResponse`` (v2) or ``ImportError`` (v1) → ImportErrorInfo."""
    trace = data.get("stack_trace")
    return ImportErrorInfo(
        filename=_required_str(data, "filename"),
        stack_trace=trace if isinstance(trace, str) else "",
        timestamp=parse_datetime(data.get("timestamp")),
        bundle_name=_opt_str(data.get("bundle_name")),
    )
