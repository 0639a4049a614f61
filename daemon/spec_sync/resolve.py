"""The override policy as a pure function: spec files + current workflow rows → new rows.

No IO here, so the whole policy (duplicates, last-good retention, code-over-manual,
fallback, statuses, events) is tested on plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from daemon.core.states import SourceType, SpecFileState, WorkflowStatus
from daemon.specs import DatasetSpec, next_run
from daemon.store.in_force import source_in_force

CODE = SourceType.CODE
MANUAL = SourceType.MANUAL

# The workflow columns that the spec sync owns (run sync owns ``is_paused``).
SPEC_COLUMNS = (
    "status",
    "overridden_by",
    "spec_path",
    "spec",
    "spec_yaml",
    "spec_error",
    "cron",
    "timezone",
    "enabled",
    "team",
    "owner",
    "description",
    "next_run",
    "valid_at",
    "removed_at",
)

WorkflowKey = tuple[str, str]  # (dataset_name, source_type)


@dataclass
class FileState:
    """What the spec sync knows of one file: its listing entry and the parse of its content."""

    path: str
    source_type: str
    version: str
    size: int
    last_modified: datetime | None
    dataset_name: str | None
    parse_error: str | None
    error_line: int | None = None
    warnings: list[str] = field(default_factory=list)
    content: str | None = None
    spec: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return self.parse_error is None and self.spec is not None


@dataclass(frozen=True)
class FileVerdict:
    state: str  # valid | invalid | duplicate
    error: str | None


@dataclass
class Resolution:
    files: dict[str, FileVerdict]
    workflows: dict[WorkflowKey, dict[str, Any]]
    newly_removed: list[WorkflowKey]
    events: list[dict[str, Any]]


def source_of(path: str) -> str | None:
    """``code`` or ``manual`` for a spec file key, None for anything else in the store."""
    if not path.endswith((".yaml", ".yml")):
        return None
    top = path.split("/", 1)[0]
    return top if top in (CODE, MANUAL) and "/" in path else None


def workflow_status(
    *,
    source_type: str,
    has_spec: bool,
    enabled: bool,
    is_paused: bool | None,
    removed: bool,
    overridden: bool,
) -> str:
    """The one place that turns a workflow's facts into its status."""
    if removed:
        return WorkflowStatus.REMOVED
    if not has_spec:
        return WorkflowStatus.INVALID
    if source_type == MANUAL and overridden:
        return WorkflowStatus.OVERRIDDEN
    if not enabled:
        return WorkflowStatus.DISABLED
    if is_paused:
        return WorkflowStatus.PAUSED
    return WorkflowStatus.ACTIVE


def effective_sources(rows: dict[WorkflowKey, dict[str, Any]]) -> dict[str, str]:
    """Per dataset name, the source whose spec is in force (``source_in_force``) among
    the rows that are not removed and have a valid version (current or last good);
    names with neither are absent."""
    candidates: dict[str, list[str]] = {}
    for (name, source), row in rows.items():
        if row.get("removed_at") is None and row.get("spec") is not None:
            candidates.setdefault(name, []).append(source)
    effective: dict[str, str] = {}
    for name, sources in candidates.items():
        source = source_in_force(sources)
        if source is not None:
            effective[name] = source
    return effective


def resolve(
    files: list[FileState],
    rows: dict[WorkflowKey, dict[str, Any]],
    now: datetime,
) -> Resolution:
    """Apply the override policy to the complete set of spec files."""
    verdicts, winners = _pick_winners(files)
    events: list[dict[str, Any]] = []
    new_rows: dict[WorkflowKey, dict[str, Any]] = {}
    newly_removed: list[WorkflowKey] = []

    for key in sorted(set(rows) | set(winners)):
        old = rows.get(key, {})
        winner = winners.get(key)
        if winner is None:
            if old.get("removed_at") is None:
                newly_removed.append(key)
            new_rows[key] = {**_spec_columns(old), "removed_at": old.get("removed_at") or now}
            continue
        row = _spec_columns(old)
        row["spec_path"] = winner.path
        row["removed_at"] = None
        if winner.valid:
            if row.get("spec") != winner.spec or row.get("spec_yaml") != winner.content:
                row["valid_at"] = now
            row["spec"], row["spec_yaml"], row["spec_error"] = winner.spec, winner.content, None
        else:
            row["spec_error"] = _winner_error(verdicts[winner.path], bool(row.get("spec")))
        new_rows[key] = row

    before, after = effective_sources(rows), effective_sources(new_rows)
    for key, row in new_rows.items():
        _finish_row(key, row, rows.get(key, {}), after, new_rows, now)
    events.extend(_source_change_events(before, after, new_rows))
    events.extend(_removal_events(newly_removed, rows))
    return Resolution(verdicts, new_rows, newly_removed, events)


def _pick_winners(
    files: list[FileState],
) -> tuple[dict[str, FileVerdict], dict[WorkflowKey, FileState]]:
    """Per (name, source), the first file in key order wins; later ones are duplicates."""
    verdicts: dict[str, FileVerdict] = {}
    winners: dict[WorkflowKey, FileState] = {}
    for file in sorted(files, key=lambda f: f.path):
        if file.dataset_name is None:
            verdicts[file.path] = FileVerdict(SpecFileState.INVALID, file.parse_error)
            continue
        key = (file.dataset_name, file.source_type)
        first = winners.get(key)
        if first is not None:
            verdicts[file.path] = FileVerdict(
                SpecFileState.DUPLICATE,
                f"Duplicate dataset name '{file.dataset_name}': {first.path} already declares "
                f"it and wins (first in key order). Rename or delete one of the two files.",
            )
            continue
        winners[key] = file
        verdicts[file.path] = FileVerdict(
            SpecFileState.VALID if file.valid else SpecFileState.INVALID, None if file.valid else file.parse_error
        )
    return verdicts, winners


def _winner_error(verdict: FileVerdict, has_last_good: bool) -> str:
    message = verdict.error or "invalid spec"
    if has_last_good:
        return f"{message} (the last valid version stays in force)"
    return message


def _spec_columns(row: dict[str, Any]) -> dict[str, Any]:
    return {column: row.get(column) for column in SPEC_COLUMNS}


def _finish_row(
    key: WorkflowKey,
    row: dict[str, Any],
    old: dict[str, Any],
    effective: dict[str, str],
    new_rows: dict[WorkflowKey, dict[str, Any]],
    now: datetime,
) -> None:
    """Fill the columns derived from the spec, the override state and the schedule."""
    name, source = key
    spec = DatasetSpec.from_json(row["spec"]) if row.get("spec") else None
    if spec is not None:
        row.update(
            cron=spec.schedule.cron,
            timezone=spec.schedule.timezone,
            enabled=spec.schedule.enabled,
            team=spec.team,
            owner=spec.owner,
            description=spec.description,
        )
    elif row.get("enabled") is None:
        row["enabled"] = True
    overridden = source == MANUAL and effective.get(name) == CODE
    row["overridden_by"] = CODE if overridden and spec is not None else None
    row["status"] = workflow_status(
        source_type=source,
        has_spec=spec is not None,
        enabled=bool(row["enabled"]),
        is_paused=old.get("is_paused"),
        removed=row["removed_at"] is not None,
        overridden=overridden,
    )
    if source == MANUAL and row["removed_at"] is None:
        _note_invalid_code_counterpart(row, new_rows.get((name, CODE)), effective.get(name))
    row["next_run"] = _next_run(row, old, now)


def _note_invalid_code_counterpart(
    row: dict[str, Any], code_row: dict[str, Any] | None, effective: str | None
) -> None:
    """A code spec that was never valid does not override: say so on the manual row too."""
    if code_row is None or code_row.get("spec") is not None or code_row["removed_at"] is not None:
        return
    if effective != MANUAL:
        return
    note = (
        f"The code spec {code_row['spec_path']} has never been valid, so this manual spec "
        f"stays in force: {code_row['spec_error']}"
    )
    row["spec_error"] = f"{row['spec_error']}; {note}" if row.get("spec_error") else note


def _next_run(row: dict[str, Any], old: dict[str, Any], now: datetime) -> datetime | None:
    if row["status"] != WorkflowStatus.ACTIVE:
        return None
    previous = old.get("next_run")
    unchanged = old.get("cron") == row["cron"] and old.get("timezone") == row["timezone"]
    if unchanged and old.get("status") == WorkflowStatus.ACTIVE and previous is not None and previous > now:
        return previous
    return next_run(row["cron"], row["timezone"], now)


def _source_change_events(
    before: dict[str, str], after: dict[str, str], rows: dict[WorkflowKey, dict[str, Any]]
) -> list[dict[str, Any]]:
    events = []
    for name in sorted(set(before) & set(after)):
        old_source, new_source = before[name], after[name]
        if old_source == new_source:
            continue
        path = rows[(name, new_source)]["spec_path"]
        if new_source == CODE:
            message = f"The code spec {path} is now in force; the manual spec is overridden."
        else:
            message = f"The code spec is gone; the manual spec {path} is in force again."
        events.append(
            {
                "kind": "source_change",
                "severity": "warning",
                "subject": name,
                "message": message,
                "data": {"dataset_name": name, "from": old_source, "to": new_source},
            }
        )
    return events


def _removal_events(
    removed: list[WorkflowKey], rows: dict[WorkflowKey, dict[str, Any]]
) -> list[dict[str, Any]]:
    return [
        {
            "kind": "workflow_removed",
            "severity": "warning",
            "subject": name,
            "message": f"The {source} spec {rows[(name, source)].get('spec_path')} is gone; "
            f"the {source} workflow is marked removed (kept for history).",
            "data": {"dataset_name": name, "source_type": source},
        }
        for name, source in removed
    ]
