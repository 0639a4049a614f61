"""Reading and writing the spec sync's rows: spec files, workflows, next runs.

The writes are planned as bulk statements (``daemon.store.bulk``) before the write
transaction begins, so a cold sync of 10,000 specs holds the write lock for a fraction of
a second, not for the seconds peewee takes to build the rows one by one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from daemon.core.states import WorkflowStatus
from daemon.spec_sync.resolve import FileState, FileVerdict, WorkflowKey
from daemon.specs import next_run
from daemon.store import bulk
from daemon.store.models import SpecFile, Workflow


def load_file_states() -> tuple[dict[str, FileState], dict[str, FileVerdict]]:
    """Every stored spec file as the sync saw it last time, and the verdict it got."""
    states: dict[str, FileState] = {}
    verdicts: dict[str, FileVerdict] = {}
    for row in SpecFile.select().dicts().iterator():
        path = row["path"]
        states[path] = FileState(
            path=path,
            source_type=row["source_type"],
            version=row["version"],
            size=row["size"],
            last_modified=row["last_modified"],
            dataset_name=row["dataset_name"],
            parse_error=row["parse_error"],
            error_line=row["error_line"],
            warnings=row["warnings"] or [],
            content=row["content"],
            spec=row["spec"],
        )
        verdicts[path] = FileVerdict(row["state"], row["error"])
    return states, verdicts


def load_workflow_rows() -> dict[WorkflowKey, dict[str, Any]]:
    return {
        (row["dataset_name"], row["source_type"]): row
        for row in Workflow.select().dicts().iterator()
    }


def file_error_events(
    old: dict[str, FileVerdict], new: dict[str, FileVerdict]
) -> list[dict[str, Any]]:
    """An event for every new or changed file error and every error that went away."""
    events = []
    for path in sorted(set(old) | set(new)):
        old_error = old[path].error if path in old else None
        new_error = new[path].error if path in new else None
        if new_error and new_error != old_error:
            events.append(
                {"kind": "spec_error", "severity": "error", "subject": path, "message": new_error}
            )
        elif old_error and not new_error:
            outcome = "is valid again" if path in new else "was deleted"
            events.append(
                {
                    "kind": "spec_error_cleared",
                    "severity": "info",
                    "subject": path,
                    "message": f"{path} {outcome}; its error is cleared.",
                }
            )
    return events


def workflow_guard() -> list[tuple[Any, ...]]:
    """The workflow columns other writers change (the run sync and pause actions set
    ``is_paused``, ``status`` and ``next_run``): compared before the spec sync writes what
    it resolved outside its transaction, to know the rows it read are still current."""
    return list(Workflow.select(Workflow.id, Workflow.is_paused, Workflow.status,
                                Workflow.next_run).order_by(Workflow.id).tuples())


def plan_files(
    files: dict[str, FileState],
    verdicts: dict[str, FileVerdict],
    old_verdicts: dict[str, FileVerdict],
    fetched: dict[str, FileState],
    deleted: list[str],
    now: datetime,
) -> list[bulk.Statement]:
    """The statements that bring the spec_file rows to ``files`` with ``verdicts``."""
    inserts, changes = [], []
    for path, state in files.items():
        verdict = verdicts[path]
        if path in old_verdicts and path not in fetched:
            if old_verdicts[path] != verdict:
                changes.append((path, {"state": verdict.state, "error": verdict.error,
                                       "updated_at": now}))
            continue
        row = _file_row(state, verdict, now)
        if path in old_verdicts:
            changes.append((path, row))
        else:
            inserts.append(row)
    return [*bulk.deletes(SpecFile, "path", deleted), *bulk.updates(SpecFile, "path", changes),
            *bulk.inserts(SpecFile, inserts)]


def _file_row(state: FileState, verdict: FileVerdict, now: datetime) -> dict[str, Any]:
    return {
        "path": state.path,
        "source_type": state.source_type,
        "dataset_name": state.dataset_name,
        "state": verdict.state,
        "error": verdict.error,
        "error_line": state.error_line,
        "parse_error": state.parse_error,
        "warnings": state.warnings or None,
        "size": state.size,
        "version": state.version,
        "last_modified": state.last_modified,
        "content": state.content,
        "spec": state.spec,
        "fetched_at": now,
        "updated_at": now,
    }


def plan_workflows(
    new_rows: dict[WorkflowKey, dict[str, Any]],
    old_rows: dict[WorkflowKey, dict[str, Any]],
    now: datetime,
) -> tuple[list[bulk.Statement], int]:
    """Statements inserting new workflows and updating changed columns only, and the
    number of rows they write."""
    inserts, changes = [], []
    for key, row in new_rows.items():
        old = old_rows.get(key)
        if old is None:
            name, source = key
            inserts.append(
                {"dataset_name": name, "source_type": source, **row,
                 "created_at": now, "updated_at": now}
            )
            continue
        changed = {column: value for column, value in row.items() if old.get(column) != value}
        if changed:
            changes.append((old["id"], {**changed, "updated_at": now}))
    statements = [*bulk.updates(Workflow, "id", changes), *bulk.inserts(Workflow, inserts)]
    return statements, len(changes) + len(inserts)


def refresh_next_runs(now: datetime) -> int:
    """Move ``next_run`` forward for active workflows whose next run has passed."""
    due = Workflow.select(Workflow.id, Workflow.cron, Workflow.timezone).where(
        (Workflow.status == WorkflowStatus.ACTIVE)
        & (Workflow.next_run.is_null() | (Workflow.next_run <= now))
    )
    count = 0
    for row in due:
        Workflow.update(next_run=next_run(row.cron, row.timezone, now), updated_at=now).where(
            Workflow.id == row.id
        ).execute()
        count += 1
    return count
