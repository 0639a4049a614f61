"""Validate a Dataset Spec file (untrusted) into a ``DatasetSpec``.

``parse_spec`` raises ``SpecInvalid`` and nothing else. All problems are collected,
sorted by line, each with a message saying how to fix it. Unknown keys are warnings:
at the top level they are kept in ``DatasetSpec.extra``, elsewhere dropped.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from daemon.specs.errors import SpecInvalid
from daemon.specs.loader import Document, Path, load_document
from daemon.specs.model import (
    APPROVAL_BEFORE,
    NOTIFICATION_EVENTS,
    PARAMETER_TYPES,
    Approval,
    DatasetSpec,
    Parameter,
    ParsedSpec,
    Schedule,
    SpecIssue,
    dataset_name_problem,
)
from daemon.specs.schedule import CRON_EXAMPLE, cron_problem, timezone_problem

MAX_SPEC_BYTES = 1_048_576

_TOP_KEYS = ("name", "type", "owner", "team", "description", "query_file",
             "connection_id", "parameters", "schedule", "approval")
_APPROVAL_KEYS = ("before", "subject", "body")
_PARAMETER_KEYS = ("name", "type", "required", "default", "description")
_SCHEDULE_KEYS = ("enabled", "cron", "timezone", "retry", "sla_minutes", "notifications")
_RETRY_KEYS = ("max_attempts", "delay_seconds")
_TARGET_KEYS = {"slack": ("type", "channel"), "webhook": ("type", "url")}
_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_UNKNOWN_KEY_WARNINGS = 10


def parse_spec(data: bytes, path: str, max_bytes: int = MAX_SPEC_BYTES) -> ParsedSpec:
    """Parse and validate one spec file; ``path`` is only used in messages."""
    doc = load_document(data, path, max_bytes)
    check = _Checker(doc)
    spec = check.spec()
    if spec is None:
        name = doc.data.get("name")
        valid_name = name if dataset_name_problem(name) is None else None
        raise SpecInvalid(path, tuple(sorted(check.errors, key=_by_line)), valid_name)
    return ParsedSpec(spec, tuple(sorted(check.warnings, key=_by_line)))


def parse_date(text: str) -> date | None:
    """A strict ``YYYY-MM-DD`` date, or None."""
    if not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


class _Checker:
    """Reads the document's fields, recording an issue (with its line) per problem.

    Readers return the value, or None when it is missing or wrong (already recorded).
    """

    def __init__(self, doc: Document):
        self.doc = doc
        self.errors: list[SpecIssue] = []
        self.warnings: list[SpecIssue] = []

    def error(self, path: Path, message: str) -> None:
        self.errors.append(SpecIssue(message, self.doc.line(path)))

    def warn(self, path: Path, message: str) -> None:
        self.warnings.append(SpecIssue(message, self.doc.line(path)))

    def spec(self) -> DatasetSpec | None:
        top = self.doc.data
        self.unknown_keys(top, (), _TOP_KEYS, kept=True)
        name = self.text(top, (), "name", required='"name: <dataset name>"')
        if name is not None and dataset_name_problem(name):
            self.error(("name",), f"name {_show(name)} is not valid: "
                       f"{dataset_name_problem(name)}")
        kind = self.text(top, (), "type", default="Dataset")
        if kind is not None and kind != "Dataset":
            self.error(("type",), f'type must be "Dataset" (or left out), got {_show(kind)}')
        owner = self.text(top, (), "owner", required='"owner: <email>"')
        team = self.text(top, (), "team", required='"team: <team>", e.g. "@data-engineering"')
        fields = [self.text(top, (), key, default="")
                  for key in ("description", "query_file", "connection_id")]
        parameters = self.parameters(top.get("parameters"))
        schedule = self.schedule(top)
        approval = self.approval(top.get("approval"))
        if self.errors:
            return None
        assert parameters is not None and schedule is not None
        if schedule.enabled:
            for index, parameter in enumerate(parameters):
                if parameter.unschedulable:
                    self.warn(("parameters", index), unschedulable_warning(parameter.name))
        assert name and owner and team and parameters is not None and schedule
        return DatasetSpec(
            name=name, type="Dataset", owner=owner, team=team, description=fields[0] or "",
            query_file=fields[1] or "", connection_id=fields[2] or "", parameters=parameters,
            schedule=schedule, extra={k: v for k, v in top.items() if k not in _TOP_KEYS},
            approval=approval,
        )

    # -- approval --------------------------------------------------------------------

    def approval(self, value: object) -> Approval | None:
        path: Path = ("approval",)
        if value is None:
            return None
        example = 'approval: {before: publish, subject: "Publish daily clicks?"}'
        if not isinstance(value, dict):
            self.error(path, f"approval must be a mapping, got {_show(value)}; write e.g. {example}")
            return None
        self.unknown_keys(value, path, _APPROVAL_KEYS)
        before = self.text(value, path, "before", required="before: publish")
        if before is not None and before not in APPROVAL_BEFORE:
            self.error(path + ("before",), f"approval.before must be one of "
                       f"{', '.join(APPROVAL_BEFORE)} (the task a person approves), got "
                       f"{_show(before)}")
            return None
        subject = self.text(value, path, "subject", required='subject: "Publish daily clicks?"')
        body = self.text(value, path, "body", default="")
        if before is None or subject is None or body is None:
            return None
        return Approval(before, subject, body)

    # -- parameters ------------------------------------------------------------------

    def parameters(self, value: object) -> tuple[Parameter, ...] | None:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(("parameters",), f"parameters must be a list, got {_show(value)}; "
                       "write one '- {name: ..., type: ...}' entry per parameter")
            return None
        errors_before = len(self.errors)
        parameters = [self.parameter(item, ("parameters", i)) for i, item in enumerate(value)]
        first_seen: dict[str, int] = {}
        for index, item in enumerate(value):
            name = item.get("name") if isinstance(item, dict) else None
            if not isinstance(name, str):
                continue
            if name in first_seen:
                self.error(("parameters", index, "name"),
                           f"parameter {_show(name)} is declared twice (first as "
                           f"parameters[{first_seen[name]}]); rename or remove one")
            first_seen.setdefault(name, index)
        if len(self.errors) > errors_before:
            return None
        return tuple(p for p in parameters if p is not None)

    def parameter(self, item: object, path: Path) -> Parameter | None:
        errors_before = len(self.errors)
        if not isinstance(item, dict):
            self.error(path, f"{_label(path)} must be a mapping like "
                       "{name: limit, type: int}, got " + _show(item))
            return None
        self.unknown_keys(item, path, _PARAMETER_KEYS)
        name = self.text(item, path, "name", required='"name: <parameter name>"')
        if name is not None and not _PARAMETER_NAME.fullmatch(name):
            self.error(path + ("name",), f"{_label(path + ('name',))} {_show(name)} is not "
                       'valid: start with a letter or "_", then letters, digits or "_"')
            name = None
        kind = self.text(item, path, "type", default="string")
        if kind is not None and kind not in PARAMETER_TYPES:
            self.error(path + ("type",), f"{_label(path + ('type',))} {_show(kind)} is not "
                       f"supported; use one of {', '.join(PARAMETER_TYPES)}")
            kind = None
        required = self.boolean(item, path, "required", default=False)
        description = self.text(item, path, "description", default="")
        default = item.get("default")
        if default is not None and kind is not None:
            default = _DEFAULT_COERCIONS[kind](item["default"])
            if default is None:
                self.error(path + ("default",), f"{_label(path + ('default',))} "
                           f"{_show(item['default'])} is not a valid {kind}; "
                           f"{_TYPE_HINTS[kind]}")
        if len(self.errors) > errors_before:
            return None
        assert name and kind and required is not None
        if required and default is not None:
            self.warn(path, f'parameter "{name}" is required, so its default is never '
                      "used; remove the default or set required: false")
        return Parameter(name, kind, required, default, description or "")

    # -- schedule --------------------------------------------------------------------

    def schedule(self, top: dict[Any, Any]) -> Schedule | None:
        path: Path = ("schedule",)
        errors_before = len(self.errors)
        value = top.get("schedule")
        if not isinstance(value, dict):
            where = path if "schedule" in top else ()
            got = "" if value is None else f", got {_show(value)}"
            self.error(where, f"schedule is required and must be a mapping{got}; add e.g. "
                       f'schedule: {{cron: "{CRON_EXAMPLE}", timezone: "UTC"}}')
            return None
        self.unknown_keys(value, path, _SCHEDULE_KEYS)
        enabled = self.boolean(value, path, "enabled", default=True)
        cron = self.text(value, path, "cron", required=f'"cron: \\"{CRON_EXAMPLE}\\""')
        if cron is not None and (problem := cron_problem(cron)):
            self.error(path + ("cron",), f"schedule.cron {_show(cron)} {problem}")
            cron = None
        zone = self.text(value, path, "timezone", default="UTC")
        if zone is not None and (problem := timezone_problem(zone)):
            self.error(path + ("timezone",), f"schedule.timezone {_show(zone)} {problem}")
            zone = None
        retry = self.retry(value.get("retry"), path + ("retry",))
        sla = self.integer(value, path, "sla_minutes", minimum=1, default=None)
        notifications = self.notifications(value.get("notifications"))
        if len(self.errors) > errors_before:
            return None
        assert enabled is not None and cron and zone and retry and notifications is not None
        return Schedule(enabled, cron, zone, retry[0], retry[1], sla, notifications)

    def retry(self, value: object, path: Path) -> tuple[int, int] | None:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.error(path, f"schedule.retry must be a mapping, got {_show(value)}; "
                       "write e.g. retry: {max_attempts: 3, delay_seconds: 300}")
            return None
        self.unknown_keys(value, path, _RETRY_KEYS)
        attempts = self.integer(value, path, "max_attempts", minimum=1, default=1)
        delay = self.integer(value, path, "delay_seconds", minimum=0, default=300)
        if attempts is None or delay is None:
            return None
        return attempts, delay

    def notifications(self, value: object) -> dict[str, list[dict[str, Any]]] | None:
        path: Path = ("schedule", "notifications")
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"schedule.notifications must be a mapping, got {_show(value)}; "
                       "write e.g. notifications: {on_failure: [{type: slack, channel: "
                       '"#alerts"}]}')
            return None
        self.unknown_keys(value, path, NOTIFICATION_EVENTS)
        errors_before = len(self.errors)
        result: dict[str, list[dict[str, Any]]] = {}
        for event in NOTIFICATION_EVENTS:
            targets = value.get(event)
            if targets is None:
                continue
            if not isinstance(targets, list):
                self.error(path + (event,), f"{_label(path + (event,))} must be a list of "
                           "targets, e.g. [{type: slack, channel: \"#alerts\"}]")
                continue
            checked = [self.target(t, path + (event, i)) for i, t in enumerate(targets)]
            result[event] = [t for t in checked if t is not None]
        return None if len(self.errors) > errors_before else result

    def target(self, value: object, path: Path) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(path, f"{_label(path)} must be a mapping like "
                       '{type: slack, channel: "#alerts"}, got ' + _show(value))
            return None
        kind = self.text(value, path, "type", required='"type: slack" or "type: webhook"')
        if kind is None:
            return None
        if kind not in _TARGET_KEYS:
            self.error(path + ("type",), f"{_label(path + ('type',))} {_show(kind)} is not "
                       "supported; use slack or webhook")
            return None
        self.unknown_keys(value, path, _TARGET_KEYS[kind])
        if kind == "slack":
            channel = self.text(value, path, "channel", required='"channel: \\"#alerts\\""')
            return None if channel is None else {"type": kind, "channel": channel}
        url = self.text(value, path, "url", required='"url: https://..."')
        if url is not None and not url.startswith(("https://", "http://")):
            self.error(path + ("url",), f"{_label(path + ('url',))} {_show(url)} must "
                       "start with https:// or http://")
            return None
        return None if url is None else {"type": kind, "url": url}

    # -- typed readers ---------------------------------------------------------------

    def text(self, mapping: dict[Any, Any], path: Path, key: str, *,
             required: str | None = None, default: str | None = None) -> str | None:
        """A text field; ``required`` is the example shown when it is missing."""
        value = mapping.get(key)
        where = path + (key,)
        if value is None:
            if required is not None:
                self.error(where if key in mapping else path,
                           f"{_label(where)} is required: add {required}")
            return default
        if not isinstance(value, str):
            hint = "quote it" if not isinstance(value, (list, dict)) else "write one text value"
            self.error(where, f"{_label(where)} must be text, got {_show(value)}; {hint}")
            return None
        if required is not None and not value.strip():
            self.error(where, f"{_label(where)} must not be empty: write {required}")
            return None
        return value

    def boolean(self, mapping: dict[Any, Any], path: Path, key: str, *,
                default: bool) -> bool | None:
        value = mapping.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            where = path + (key,)
            self.error(where, f"{_label(where)} must be true or false, got {_show(value)}")
            return None
        return value

    def integer(self, mapping: dict[Any, Any], path: Path, key: str, *,
                minimum: int, default: int | None) -> int | None:
        value = mapping.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            where = path + (key,)
            self.error(where, f"{_label(where)} must be a whole number >= {minimum}, "
                       f"got {_show(value)}")
            return None
        return value

    def unknown_keys(self, mapping: dict[Any, Any], path: Path, known: tuple[str, ...],
                     *, kept: bool = False) -> None:
        """Warn per unknown key, up to a few: a file full of them needs one summary."""
        unknown = [key for key in mapping if key not in known]
        fate = "kept but not used" if kept else "ignored"
        for key in unknown[:_MAX_UNKNOWN_KEY_WARNINGS]:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f'did you mean "{close[0]}"?' if close else f"known keys: {', '.join(known)}"
            self.warn(path + (key,), f'unknown key "{_label(path + (key,))}" is {fate}; {hint}')
        if len(unknown) > _MAX_UNKNOWN_KEY_WARNINGS:
            rest = unknown[_MAX_UNKNOWN_KEY_WARNINGS:]
            self.warn(path + (rest[0],), f"{len(rest)} more unknown keys "
                      f"{'at the top level' if not path else 'in ' + _label(path)} are {fate}")


def _as_string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _as_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _as_date(value: object) -> str | None:
    return value if isinstance(value, str) and parse_date(value) else None


_DEFAULT_COERCIONS: dict[str, Callable[[object], object | None]] = {
    "string": _as_string, "int": _as_int, "float": _as_float, "bool": _as_bool,
    "date": _as_date,
}
_TYPE_HINTS = {
    "string": "quote it to make it text",
    "int": "use a whole number such as 100",
    "float": "use a number such as 0.5",
    "bool": "use true or false",
    "date": "use a date written YYYY-MM-DD, such as 2024-01-31",
}


def _label(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = part if len(part) <= 40 else part[:37] + "..."
            out += f".{part}" if out else part
    return out


def _show(value: object) -> str:
    if isinstance(value, str):
        return '"' + (value if len(value) <= 60 else value[:57] + "...") + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if value is None:
        return "nothing"
    return "a list" if isinstance(value, list) else "a mapping"


def _by_line(issue: SpecIssue) -> tuple[bool, int]:
    return issue.line is None, issue.line or 0


def unschedulable_warning(name: str) -> str:
    """The warning on a required parameter that a scheduled run cannot supply (the DAG
    factory logs the same words)."""
    return (f"parameter {name} is required but a scheduled run cannot supply it: give it a "
            "default or make it optional")
