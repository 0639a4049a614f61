"""The dashboard's read side: a first load, then "what changed since my last look".

No Textual here: :class:`StoreReader` runs in the watcher thread (``live.py``) and returns
plain dataclasses. Each poll first asks one cheap question per table (``MAX(updated_at)``
on an indexed column, ``MAX(id)`` for events), all in one statement built once, with the
daemon's lease row, and only loads rows of the tables whose answer moved, so an idle
store costs one statement of index look-ups per poll (~25 µs).

Rows are re-read from a little before the last seen ``updated_at`` (``OVERLAP``): a writer
stamps ``updated_at`` before it commits, so a row may become visible slightly after a
newer one. Reading a row twice is harmless (rows are applied by key).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from peewee import Select, fn

from daemon.core.states import ACTIVE_RUN_STATUSES, WorkflowStatus
from daemon.read.actions import ActionRow, load_actions
from daemon.read.clusters import ClusterRow, list_clusters
from daemon.read.events import EventRow, list_events
from daemon.read.hitl import waiting_run_keys
from daemon.read.runs import (
    RUN_TIME,
    LastRun,
    RecentRun,
    last_runs,
    recent_history,
    stored_time,
)
from daemon.read.status import DaemonStatus, daemon_status
from daemon.read.workflows import upcoming
from daemon.store.lease import LEASE_KEY
from daemon.store.models import (
    Action,
    Cluster,
    DaemonLease,
    Event,
    Run,
    SyncState,
    Workflow,
)

OVERLAP = timedelta(seconds=2)
HISTORY_CHUNK = 200
"""Datasets per piece of the history load (~20 ms of reading: a keystroke that lands
during one waits at most that long)."""
RECENT_RUNS = 500


@dataclass(frozen=True)
class WorkflowRow:
    dataset_name: str
    source_type: str
    status: str
    overridden_by: str | None
    cron: str | None
    timezone: str | None
    next_run: datetime | None
    team: str | None
    owner: str | None
    spec_error: str | None
    is_paused: bool | None

    @property
    def key(self) -> str:
        return f"{self.dataset_name}\x00{self.source_type}"


@dataclass(frozen=True)
class RunRow:
    id: int
    run_id: str
    dataset_name: str
    cluster: str
    status: str
    run_type: str | None
    triggered_by: str | None
    started_at: datetime | None
    ended_at: datetime | None
    at: datetime | None
    """When the run started (or was queued / is due): its place in "recent"."""
    total: int
    succeeded: int
    failed: int
    running: int
    skipped: int
    current_task: str | None
    waiting_for_input: bool = False
    """A task of this active run waits for a person's answer (Airflow ≥ 3.1)."""
    slow: bool = False
    """Far slower than its workflow's usual duration (flagged by the daemon)."""

    @property
    def key(self) -> str:
        return self.run_id

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES


@dataclass
class Changes:
    """What one look at the store found; ``first`` means everything (the first load)."""

    first: bool = False
    workflows: list[WorkflowRow] = field(default_factory=list)
    runs: list[RunRow] = field(default_factory=list)
    last_runs: dict[str, LastRun] = field(default_factory=dict)
    history: dict[str, tuple[RecentRun, ...]] = field(default_factory=dict)
    """The recent runs of datasets (the Workflows tab's strip and sparkline): all of them
    on the look after the first (deferred: it reads every run), then those that changed."""
    clusters: list[ClusterRow] | None = None
    """The whole (small) cluster list when anything about clusters changed."""
    events: list[EventRow] = field(default_factory=list)
    actions: list[ActionRow] = field(default_factory=list)
    daemon: DaemonStatus | None = None
    at: datetime | None = None
    """The clock when the look was taken (for "store change to screen" timing)."""

    @property
    def tables(self) -> frozenset[str]:
        names = {
            "workflows": bool(self.workflows or self.last_runs or self.history),
            "runs": bool(self.runs),
            "clusters": self.clusters is not None,
            "events": bool(self.events),
            "actions": bool(self.actions),
            "daemon": self.daemon is not None,
        }
        return frozenset(name for name, changed in names.items() if changed)

    def __bool__(self) -> bool:
        return self.first or bool(self.tables)


# --- row loaders ------------------------------------------------------------------------

_WORKFLOW_COLUMNS = (
    Workflow.dataset_name, Workflow.source_type, Workflow.status, Workflow.overridden_by,
    Workflow.cron, Workflow.timezone, Workflow.next_run, Workflow.team, Workflow.owner,
    Workflow.spec_error, Workflow.is_paused,
)


def _workflow_rows(query: Any, now: datetime) -> list[WorkflowRow]:
    rows = []
    upcoming_by_schedule: dict[tuple[str, str | None], datetime | None] = {}
    """Next runs after ``now`` by (cron, timezone): thousands of workflows share a few
    schedules, and a store whose daemon was down has every ``next_run`` in the past."""
    for values in query.tuples():
        row = WorkflowRow(*values)
        if row.next_run is not None and row.next_run <= now and row.cron \
                and row.status == WorkflowStatus.ACTIVE:
            schedule = (row.cron, row.timezone)
            if schedule not in upcoming_by_schedule:
                try:
                    upcoming_by_schedule[schedule] = upcoming(*schedule, row.next_run, now)
                except ValueError:
                    upcoming_by_schedule[schedule] = None
            row = replace(row, next_run=upcoming_by_schedule[schedule])
        rows.append(row)
    return rows


def load_workflows(now: datetime, since: datetime | None = None) -> list[WorkflowRow]:
    """Workflows (removed ones too: the tab hides them), or those changed since ``since``."""
    query = Workflow.select(*_WORKFLOW_COLUMNS)
    if since is not None:
        query = query.where(Workflow.updated_at >= since)
    return _workflow_rows(query.order_by(Workflow.dataset_name, Workflow.source_type), now)


_RUN_COLUMNS = (
    Run.id, Run.dataset_name, Run.dag_run_id, Run.cluster, Run.status, Run.run_type,
    Run.triggered_by, Run.started_at, Run.ended_at, RUN_TIME.alias("at"), Run.total,
    Run.succeeded, Run.failed, Run.running, Run.skipped, Run.current_task, Run.dag_id,
    Run.slow,
)


def _run_rows(query: Any) -> list[RunRow]:
    rows = []
    values = list(query.tuples())
    waiting = (waiting_run_keys()
               if any(v[4] in ACTIVE_RUN_STATUSES for v in values) else set())
    for (id_, name, dag_run_id, cluster, status, run_type, triggered_by, started, ended, at,
         total, succeeded, failed, running, skipped, current, dag_id, slow) in values:
        asks = status in ACTIVE_RUN_STATUSES and (cluster, dag_id, dag_run_id) in waiting
        rows.append(RunRow(id_, f"{name}/{dag_run_id}", name, cluster, status, run_type,
                           triggered_by, started, ended, stored_time(at), total, succeeded,
                           failed, running, skipped, current, asks, slow=bool(slow)))
    return rows


def load_runs(since: datetime | None = None, recent: int = RECENT_RUNS) -> list[RunRow]:
    """Every active run plus the ``recent`` latest started ones; or the runs changed since."""
    if since is not None:
        return _run_rows(Run.select(*_RUN_COLUMNS).where(Run.updated_at >= since))
    active = _run_rows(Run.select(*_RUN_COLUMNS).where(Run.status.in_(ACTIVE_RUN_STATUSES)))
    # ORDER BY started_at uses its index; runs that never started are mostly active ones.
    latest = _run_rows(Run.select(*_RUN_COLUMNS)
                       .where(Run.status.not_in(ACTIVE_RUN_STATUSES) & Run.started_at.is_null(False))
                       .order_by(Run.started_at.desc(), Run.id.desc()).limit(recent))
    return active + latest


# --- the reader -------------------------------------------------------------------------


_LEASE_COLUMNS = (DaemonLease.holder, DaemonLease.started_at, DaemonLease.heartbeat_at,
                  DaemonLease.status, DaemonLease.stopped_at)
_STAMP_COLUMNS = (Workflow.updated_at, Run.updated_at, Cluster.updated_at, SyncState.updated_at,
                  Event.id, Action.updated_at)


def _stamps_query() -> Any:
    """One statement for every "did it change" question of a poll (one round trip instead
    of seven): each table's MAX(updated_at) (MAX(id) for events) and the daemon's lease."""
    return Select(columns=[
        *(column.model.select(fn.MAX(column)) for column in _STAMP_COLUMNS),
        *(DaemonLease.select(column).where(DaemonLease.key == LEASE_KEY) for column in _LEASE_COLUMNS),
    ]).bind(Workflow._meta.database)


class StoreReader:
    """Remembers where the last look ended; call from one thread only."""

    def __init__(self, clock: Callable[[], datetime], stale_after: float,
                 recent_runs: int = RECENT_RUNS) -> None:
        self.clock = clock
        self.stale_after = stale_after
        self.recent_runs = recent_runs
        self._stamps: dict[str, Any] = {}
        self._event_id = 0
        self._daemon: tuple[Any, ...] | None = None
        self._lease: tuple[Any, ...] | None = None
        self._stamps_sql: tuple[str, Any] | None = None
        self._last_status: DaemonStatus | None = None
        self._history_loaded = False

    def _stamps_now(self) -> dict[str, Any]:
        if self._stamps_sql is None:  # built once: building it costs 40 times running it
            self._stamps_sql = _stamps_query().sql()
        values = list(Workflow._meta.database.execute_sql(*self._stamps_sql).fetchone())
        for index, column in enumerate(_STAMP_COLUMNS):
            if isinstance(values[index], str):
                values[index] = column.python_value(values[index])
        workflows, runs, clusters, sync_states, events, actions, *lease = values
        return {
            "workflows": workflows,
            "runs": runs,
            "clusters": (clusters, sync_states),
            "events": events or 0,
            "actions": actions,
            "lease": tuple(lease),
        }

    def first_load(self) -> Changes:
        now = self.clock()
        self._stamps = self._stamps_now()
        events = list_events()
        self._event_id = self._stamps["events"]
        return Changes(first=True, workflows=load_workflows(now), runs=load_runs(recent=self.recent_runs),
                       last_runs=last_runs(), clusters=list_clusters(), events=events,
                       actions=load_actions(), daemon=self._daemon_status(force=True, lease=self._stamps["lease"]),
                       at=now)

    def load_history(self, chunk: int = HISTORY_CHUNK,
                     wanted: Callable[[int], Iterable[str]] = lambda limit: ()) -> Iterator[Changes]:
        """Every dataset's recent runs (the Workflows tab's strip and sparkline), a chunk
        of datasets at a time: together it reads every run (~1 s on 100,000), so the
        watcher asks for it after the first paint, in pieces that leave the screen
        responsive. Each piece takes the datasets ``wanted(chunk)`` names first (the rows
        on screen), then the next ones by name; a dataset without runs comes as ``()``.
        From the first piece on, each poll brings the history of the datasets whose runs
        changed."""
        self._history_loaded = True
        pending = dict.fromkeys(sorted(
            {name for (name,) in Workflow.select(Workflow.dataset_name).tuples()}))
        while pending:
            piece = list(dict.fromkeys(name for name in wanted(chunk) if name in pending))
            piece += islice((name for name in pending if name not in piece), chunk - len(piece))
            for name in piece:
                del pending[name]
            history = recent_history(piece)
            yield Changes(history={name: history.get(name, ()) for name in piece}, at=self.clock())

    def poll(self) -> Changes:
        """What changed since the previous look (falsy when nothing did)."""
        now = self.clock()
        stamps = self._stamps_now()
        old, self._stamps = self._stamps, stamps
        changes = Changes(at=now)
        if stamps["workflows"] != old.get("workflows"):
            changes.workflows = load_workflows(now, self._since(old.get("workflows")))
        if stamps["runs"] != old.get("runs"):
            changes.runs = load_runs(self._since(old.get("runs")))
            changed = {run.dataset_name for run in changes.runs}
            changes.last_runs = last_runs(changed)
            if self._history_loaded and changed:
                changes.history = recent_history(changed)
        if stamps["clusters"] != old.get("clusters"):
            changes.clusters = list_clusters()
        if stamps["events"] != self._event_id:
            changes.events = list_events(after_id=self._event_id)
            self._event_id = stamps["events"]
        if stamps["actions"] != old.get("actions"):
            changes.actions = load_actions(self._since(old.get("actions")))
        changes.daemon = self._daemon_status(lease=stamps["lease"])
        return changes

    @staticmethod
    def _since(stamp: datetime | None) -> datetime | None:
        return None if stamp is None else stamp - OVERLAP

    def _daemon_status(self, force: bool = False, lease: tuple[Any, ...] | None = None) -> DaemonStatus | None:
        """The heartbeat, when it or its freshness changed. ``lease`` is the lease row as
        this poll's stamps saw it: while it stays the same, only the clock can make a
        running daemon's heartbeat stale, so the row is not read again until then."""
        last = self._last_status
        if not force and lease is not None and lease == self._lease and last is not None and not (
                last.running and last.heartbeat_at is not None
                and (self.clock() - last.heartbeat_at).total_seconds() > self.stale_after):
            return None
        self._lease = lease
        status = self._last_status = daemon_status(self.stale_after, now=self.clock())
        seen = (status.running, status.heartbeat_at, status.stopped)
        if seen == self._daemon and not force:
            return None
        self._daemon = seen
        return status
