"""One spec sync: list the spec store, fetch what changed, resolve, write the store.

Incremental: a file whose listing entry (version and size) matches the stored row is not
fetched or parsed again, and a cycle in which no file changed touches no workflow row.
Deletions are concluded only from a complete listing, and a sync that would remove more
than ``max_delete_fraction`` of the workflows is refused unless forced.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from peewee import Database

from daemon.core.errors import SpecStoreError
from daemon.core.timefmt import utcnow
from daemon.spec_store import SpecObjectMissing, SpecStore, StoredObject
from daemon.spec_sync.fetch import fetch_and_parse
from daemon.spec_sync.persist import (
    file_error_events,
    load_file_states,
    load_workflow_rows,
    plan_files,
    plan_workflows,
    refresh_next_runs,
    workflow_guard,
)
from daemon.spec_sync.resolve import resolve, source_of
from daemon.store.bulk import Statement
from daemon.store.events import record_events, record_sync_outcome
from daemon.store.models import SpecFile

log = logging.getLogger(__name__)

SYNC_KEY = "specs"


@dataclass
class SpecSyncReport:
    ok: bool = True
    error: str | None = None
    listed: int = 0
    fetched: int = 0
    unchanged: int = 0
    deleted_files: int = 0
    read_failures: int = 0
    workflows_written: int = 0
    removed: int = 0
    refused_removals: int = 0
    events: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    """What one spec sync writes: prepared statements and the events to record."""

    statements: list[Statement]
    events: list[dict[str, Any]]
    now: datetime

    def write(self) -> None:
        for statement in self.statements:
            statement.execute()
        record_events(self.events, self.now)


class SpecSync:
    """Spec sync of one spec store into the bound store."""

    def __init__(
        self,
        db: Database,
        source: SpecStore,
        *,
        max_spec_bytes: int,
        max_delete_fraction: float,
        fetch_workers: int = 16,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.source = source
        self.max_spec_bytes = max_spec_bytes
        self.max_delete_fraction = max_delete_fraction
        self.fetch_workers = fetch_workers
        self.clock = clock

    def run(self, *, allow_mass_removal: bool = False) -> SpecSyncReport:
        started = self.clock()
        report = SpecSyncReport()
        try:
            listing = [o for o in self.source.list() if source_of(o.key) is not None]
        except SpecStoreError as exc:
            report.ok, report.error = False, f"Cannot list the spec store {self.source.description}: {exc}"
            with self.db.atomic():
                record_sync_outcome(SYNC_KEY, started=started, now=self.clock(), error=report.error)
            log.error("%s", report.error)
            return report
        report.listed = len(listing)

        known = {
            path: (version, size)
            for path, version, size in SpecFile.select(
                SpecFile.path, SpecFile.version, SpecFile.size
            ).tuples()
        }
        listed_keys = {o.key for o in listing}
        changed = [o for o in listing if known.get(o.key) != (o.version, o.size)]
        missing = sorted(set(known) - listed_keys)
        report.unchanged = len(listing) - len(changed)

        fetched, failures = self._fetch(changed)
        report.fetched = len(fetched)
        report.read_failures = len(failures)
        error = self._failure_message(failures)

        if not fetched and not missing:
            with self.db.atomic():
                refresh_next_runs(self.clock())
                record_sync_outcome(
                    SYNC_KEY, started=started, now=self.clock(), error=error, data=self._data(report)
                )
            report.ok = error is None
            report.error = error
            return report

        self._apply(report, fetched, missing, allow_mass_removal)
        report.ok = error is None and report.refused_removals == 0
        report.error = error or (report.notes[-1] if report.refused_removals else None)
        with self.db.atomic():
            record_sync_outcome(
                SYNC_KEY, started=started, now=self.clock(), error=report.error, data=self._data(report)
            )
        return report

    def _fetch(self, changed: list[StoredObject]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Fetch and parse changed files; vanished files are skipped, read errors returned."""
        fetched: dict[str, Any] = {}
        failures: list[tuple[str, str]] = []
        if not changed:
            return fetched, failures

        def one(obj: StoredObject) -> tuple[StoredObject, Any, str | None]:
            try:
                return obj, fetch_and_parse(self.source, obj, self.max_spec_bytes), None
            except SpecObjectMissing:
                return obj, None, None
            except SpecStoreError as exc:
                return obj, None, str(exc)

        workers = min(self.fetch_workers, len(changed))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for obj, state, failure in pool.map(one, changed):
                if state is not None:
                    fetched[obj.key] = state
                elif failure is not None:
                    failures.append((obj.key, failure))
        return fetched, failures

    def _apply(
        self,
        report: SpecSyncReport,
        fetched: dict[str, Any],
        missing: list[str],
        allow_mass_removal: bool,
    ) -> None:
        """Resolve and plan the writes outside the write transaction (seconds of Python
        for a cold sync of 10,000 specs), then write them in one transaction: all or
        nothing, with the write lock held only for the statements. Spec syncs run one
        at a time; if another writer changed the workflow rows meanwhile, the plan is
        made again inside the transaction."""
        guard = workflow_guard()
        plan = self._plan(report, fetched, missing, allow_mass_removal)
        with self.db.atomic():
            if workflow_guard() != guard:
                plan = self._plan(report, fetched, missing, allow_mass_removal)
            plan.write()

    def _plan(
        self,
        report: SpecSyncReport,
        fetched: dict[str, Any],
        missing: list[str],
        allow_mass_removal: bool,
    ) -> _Plan:
        now = self.clock()
        old_files, old_verdicts = load_file_states()
        rows = load_workflow_rows()
        files = {**old_files, **fetched}
        for path in missing:
            files.pop(path, None)
        resolution = resolve(list(files.values()), rows, now)
        report.notes.clear()
        report.refused_removals = 0

        live = sum(1 for row in rows.values() if row.get("removed_at") is None)
        removing = len(resolution.newly_removed)
        if not allow_mass_removal and removing > 1 and removing > self.max_delete_fraction * live:
            note = (
                f"Refused to remove {removing} of {live} workflows: more than "
                f"max_delete_fraction={self.max_delete_fraction} of them. Check the spec "
                f"store ({self.source.description}); if the removal is intended, run "
                f"`basecamp daemon --once --allow-mass-removal`."
            )
            report.notes.append(note)
            report.refused_removals = removing
            for path in missing:
                files[path] = old_files[path]
            missing = []
            resolution = resolve(list(files.values()), rows, now)
            resolution.events.append(
                {"kind": "mass_removal_refused", "severity": "error",
                 "subject": SYNC_KEY, "message": note}
            )

        events = file_error_events(old_verdicts, resolution.files)
        events.extend(resolution.events)
        workflow_statements, report.workflows_written = plan_workflows(
            resolution.workflows, rows, now)
        report.removed = len(resolution.newly_removed)
        report.deleted_files = len(missing)
        report.events = len(events)
        statements = plan_files(files, resolution.files, old_verdicts, fetched, missing, now)
        return _Plan([*statements, *workflow_statements], events, now)

    @staticmethod
    def _failure_message(failures: list[tuple[str, str]]) -> str | None:
        if not failures:
            return None
        path, message = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        return f"Could not read {path}: {message}{more}. Its last fetched version stays in force."

    @staticmethod
    def _data(report: SpecSyncReport) -> dict[str, Any]:
        return {
            "listed": report.listed,
            "fetched": report.fetched,
            "unchanged": report.unchanged,
            "deleted_files": report.deleted_files,
            "refused_removals": report.refused_removals,
        }
