"""The parsed Dataset Spec: immutable values built only by ``parse_spec``.

``DatasetSpec.to_json`` / ``from_json`` are the storage format in the database; they
round-trip exactly, so a stored spec compares equal to the one that was parsed.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from daemon.core.errors import UserError

PARAMETER_TYPES = ("string", "int", "float", "bool", "date")
NOTIFICATION_EVENTS = ("on_failure", "on_source_change")

_DATASET_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")
DATASET_NAME_RULE = 'use only letters, digits, "_", "." and "-", 1 to 200 characters'


def dataset_name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid dataset name, or None when it is."""
    if not isinstance(name, str) or not _DATASET_NAME.fullmatch(name):
        return f"{DATASET_NAME_RULE} (e.g. iceberg.analytics.daily_clicks)"
    return None


def check_dataset_name(name: str) -> None:
    """Raise ``UserError`` unless ``name`` is a valid dataset name."""
    problem = dataset_name_problem(name)
    if problem:
        raise UserError(f"Invalid dataset name {_shorten(name)!r}: {problem}")


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class SpecIssue:
    """One problem found in a spec file; ``line`` is 1-based, None when unknown."""

    message: str
    line: int | None = None


@dataclass(frozen=True)
class Parameter:
    """A run parameter; ``default`` already has the parameter's type (dates as text)."""

    name: str
    type: str = "string"
    required: bool = False
    default: object | None = None
    description: str = ""

    @property
    def takes_logical_date(self) -> bool:
        """Scheduled runs and backfills fill this parameter with the run's logical date
        (YYYY-MM-DD in the workflow's timezone): it is required, has no default, and is a
        date or carries one of the seeds' names for it. The DAG factory has the same rule."""
        return (self.required and self.default is None
                and (self.type == "date" or self.name in LOGICAL_DATE_NAMES))

    @property
    def unschedulable(self) -> bool:
        """Required, no default, and not a logical date: a scheduled run cannot supply it."""
        return self.required and self.default is None and not self.takes_logical_date


LOGICAL_DATE_NAMES = ("execution_date", "logical_date", "ds")


@dataclass(frozen=True)
class Schedule:
    """The ``schedule`` section, with ``retry`` flattened into two fields.

    ``notifications`` maps an event (see ``NOTIFICATION_EVENTS``) to its targets, each
    ``{"type": "slack", "channel": ...}`` or ``{"type": "webhook", "url": ...}``.
    """

    enabled: bool
    cron: str
    timezone: str = "UTC"
    max_attempts: int = 1
    delay_seconds: int = 300
    sla_minutes: int | None = None
    notifications: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


APPROVAL_BEFORE = ("run_query", "publish")
"""The DAG factory's tasks an approval can gate."""


@dataclass(frozen=True)
class Approval:
    """A person approves before the task ``before`` runs (Airflow ≥ 3.1's human-in-the-loop
    approval; the DAG factory leaves it out, with a warning, on older Airflow)."""

    before: str
    subject: str
    body: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """A valid Dataset Spec. ``extra`` keeps unknown top-level keys as they were."""

    name: str
    type: str
    owner: str
    team: str
    description: str
    query_file: str
    connection_id: str
    parameters: tuple[Parameter, ...]
    schedule: Schedule
    extra: dict[str, Any] = field(default_factory=dict)
    approval: Approval | None = None

    def parameter(self, name: str) -> Parameter | None:
        """The declared parameter called ``name``, if any."""
        return next((p for p in self.parameters if p.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (fresh containers: mutating it never touches the spec)."""
        s = self.schedule
        return {
            "name": self.name,
            "type": self.type,
            "owner": self.owner,
            "team": self.team,
            "description": self.description,
            "query_file": self.query_file,
            "connection_id": self.connection_id,
            "parameters": [
                {
                    "name": p.name,
                    "type": p.type,
                    "required": p.required,
                    "default": p.default,
                    "description": p.description,
                }
                for p in self.parameters
            ],
            "schedule": {
                "enabled": s.enabled,
                "cron": s.cron,
                "timezone": s.timezone,
                "max_attempts": s.max_attempts,
                "delay_seconds": s.delay_seconds,
                "sla_minutes": s.sla_minutes,
                "notifications": copy.deepcopy(s.notifications),
            },
            "extra": copy.deepcopy(self.extra),
            "approval": None if self.approval is None else {
                "before": self.approval.before, "subject": self.approval.subject,
                "body": self.approval.body},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetSpec:
        """Rebuild a spec stored with ``to_json`` (trusted input: no validation)."""
        s = data["schedule"]
        return cls(
            name=data["name"],
            type=data["type"],
            owner=data["owner"],
            team=data["team"],
            description=data["description"],
            query_file=data["query_file"],
            connection_id=data["connection_id"],
            parameters=tuple(
                Parameter(
                    name=p["name"],
                    type=p["type"],
                    required=p["required"],
                    default=p["default"],
                    description=p["description"],
                )
                for p in data["parameters"]
            ),
            schedule=Schedule(
                enabled=s["enabled"],
                cron=s["cron"],
                timezone=s["timezone"],
                max_attempts=s["max_attempts"],
                delay_seconds=s["delay_seconds"],
                sla_minutes=s["sla_minutes"],
                notifications=copy.deepcopy(s["notifications"]),
            ),
            extra=copy.deepcopy(data["extra"]),
            approval=Approval(**data["approval"]) if data.get("approval") else None,
        )


@dataclass(frozen=True)
class ParsedSpec:
    """A valid spec plus the warnings (unknown keys and the like) found on the way."""

    spec: DatasetSpec
    warnings: tuple[SpecIssue, ...] = ()
