"""One run sync of one cluster: what changed since the cursor, into the store.

Everything is fetched first and written in one transaction, so a cluster that fails
mid-cycle leaves the store and the cursor as they were (the next cycle asks again from
the same cursor: no gap, nothing lost). A cycle in which nothing changed costs two
requests: the changed-runs query (empty) and the paused-DAGs query.

Airflow does not move a run's ``updated_at`` when one of its tasks starts or ends (the
scheduler touches the run later, Airflow 2 sometimes not until the run ends), so the
changed-runs query alone would see a task's end only when the scheduler next writes its
run. While the store has active runs of the cluster, each cycle also asks for the task
instances changed since the cursor (one more request, only while runs are active) and
writes those of the active runs.

On Airflow ≥ 3.1, while the cluster has active runs, each cycle also asks which tasks
wait for a person (``daemon/run_sync/hitl.py``): one more request, only while active.

After its write, a cycle asks for the earlier tries of task instances that were retried
and whose tries the store lacks (``daemon/run_sync/tries.py``): one request per such task
instance, none when nothing was retried.

Each cycle also flags runs far slower than their workflow's usual duration, and keeps
that duration (``daemon/run_sync/slow.py``): store queries only, no request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from peewee import Database, fn

from daemon.airflow import (
    AirflowClient,
    AirflowNotFound,
    AirflowPermissionError,
    DagRunInfo,
    TaskInstanceInfo,
)
from daemon.core.config import ClusterConfig
from daemon.core.errors import BasecampError
from daemon.core.naming import dag_id_for
from daemon.core.states import ACTIVE_RUN_STATUSES, ActionState, WorkflowStatus
from daemon.core.timefmt import utcnow
from daemon.run_sync.hitl import HitlFetched, fetch_hitl, write_hitl
from daemon.run_sync.slow import Finished, SlowRule, flag_slow_runs, refresh_usual
from daemon.run_sync.tries import fetch_tries, retried_without_tries, write_tries
from daemon.run_sync.write import write_pause_states, write_runs, write_task_changes
from daemon.store.events import record_events, record_sync_outcome, sync_state
from daemon.store.models import Action, Run, Workflow

log = logging.getLogger(__name__)

TERMINAL_STATES = ("success", "failed")
CURSOR_OVERLAP = timedelta(seconds=10)
"""Each cycle asks again for what changed in this much time before its cursor. Airflow
stamps ``updated_at`` when it writes a row but the row is visible only once its
transaction commits (a scheduler loop can take seconds): a row stamped before the
previous cycle's server time but committed after it would otherwise be skipped until
something else about its run changed (seen as task ends reaching the store ~5 s late
with a 1 s sync). Runs and tasks seen twice are written once (finished ones unchanged
are skipped)."""


@dataclass
class RunSyncReport:
    cluster: str
    ok: bool = True
    error: str | None = None
    runs_seen: int = 0
    runs_written: int = 0
    tasks_fetched_for: int = 0
    vanished: int = 0
    pause_changes: int = 0
    tries_written: int = 0
    """Retried task instances whose earlier tries were stored (or found unavailable)."""
    notes: list[str] = field(default_factory=list)


@dataclass
class Fetched:
    runs: list[DagRunInfo]
    tasks: dict[tuple[str, str], list[TaskInstanceInfo]]
    refreshed: list[DagRunInfo]
    vanished: list[Run]
    paused: set[str]
    cursor: datetime
    active_tasks: dict[tuple[str, str], list[TaskInstanceInfo]] = field(default_factory=dict)
    """Changed tasks of active runs the changed-runs query did not return (Airflow 2)."""
    hitl: HitlFetched | None = None
    """Tasks waiting for a person (Airflow ≥ 3.1, while runs are active)."""


@dataclass(frozen=True)
class TeamRows:
    """The team's workflows as a cycle read them: their names and ``updated_at`` stamps."""

    version: tuple[Any, ...]
    """(MAX(updated_at), COUNT) of the team's rows when they were read."""
    read_at: float
    known: set[str]
    stamps: dict[int, datetime]


TEAM_ROWS_MAX_AGE = 60.0
"""Seconds a cycle reuses the team's rows read by an earlier one while their version is
unchanged (a row written with an older stamp than the newest is read within this)."""


class RunSync:
    """Run sync of one cluster into the store."""

    def __init__(
        self,
        db: Database,
        cluster: ClusterConfig,
        client: AirflowClient,
        *,
        lookback_hours: float,
        stale_threshold_hours: float,
        clock: Callable[[], datetime] = utcnow,
        slow: SlowRule = SlowRule(),
    ) -> None:
        self.db = db
        self.cluster = cluster
        self.client = client
        self.lookback = timedelta(hours=lookback_hours)
        self.stale = timedelta(hours=stale_threshold_hours)
        self.clock = clock
        self.slow = slow
        self.key = f"runs:{cluster.name}"
        self._team: TeamRows | None = None
        """Reused while unchanged: an idle cycle then reads none of the team's rows."""
        self._paused_written: tuple[tuple[Any, ...], frozenset[str]] | None = None
        """The team's version and Airflow's paused DAGs the pause states were last written
        for: unchanged, there is nothing to write."""

    def dataset_of(self, dag_id: str, known: set[str]) -> str | None:
        """The dataset a DAG belongs to, or None when the DAG is not managed by basecamp."""
        prefix = self.cluster.dag_name_prefix
        if prefix:
            head = f"{prefix}__"
            return dag_id[len(head) :] if dag_id.startswith(head) else None
        return dag_id if dag_id in known else None

    def run(self) -> RunSyncReport:
        started = self.clock()
        report = RunSyncReport(cluster=self.cluster.name)
        team = self._team_rows()
        known, before = team.known, team.stamps
        try:
            fetched = self._fetch(started, known)
        except BasecampError as exc:
            report.ok, report.error = False, str(exc)
            with self.db.atomic():
                record_sync_outcome(self.key, started=started, now=self.clock(), error=report.error)
            log.warning("run sync of %s failed: %s", self.cluster.name, exc)
            return report
        now = self.clock()
        with self.db.atomic():
            report.runs_seen = len(fetched.runs)
            report.tasks_fetched_for = len(fetched.tasks)
            report.vanished = len(fetched.vanished)
            finished = Finished()
            written, events = write_runs(
                self.cluster.name, fetched.runs + fetched.refreshed, fetched.tasks,
                fetched.vanished, known, self.dataset_of, now, seen_at=fetched.cursor,
                finished=finished, fetched_from=started,
            )
            written += write_task_changes(self.cluster.name, fetched.active_tasks, now,
                                          fetched_from=started)
            # judged against the usual duration before this cycle's successes move it
            events += flag_slow_runs(self.cluster.name, finished.succeeded, self.slow, now)
            refresh_usual(finished.datasets, self.slow, now)
            report.runs_written = written
            paused = (team.version, frozenset(fetched.paused))
            if paused != self._paused_written:
                dag_ids = {dag_id_for(self.cluster.dag_name_prefix, name): name for name in known}
                report.pause_changes = write_pause_states(self.cluster.team, dag_ids, fetched.paused,
                                                          now, unchanged_since=before)
            if fetched.hitl is not None:
                events += write_hitl(self.cluster.name, fetched.hitl,
                                     lambda dag_id: self.dataset_of(dag_id, known), now)
            record_events(events, now)
            record_sync_outcome(self.key, started=started, now=now, error=None)
            state = sync_state(self.key)
            state.cursor = fetched.cursor.isoformat()
            state.save()
        self._paused_written = paused  # committed
        report.tries_written = self._sync_tries()
        return report

    def _sync_tries(self) -> int:
        """The earlier tries of retried task instances, after the cycle's write: asked for
        in the cycle that stored the retry, and never able to fail the cycle."""
        wanted = retried_without_tries(self.cluster.name, self.clock())
        if not wanted:
            return 0
        fetched = fetch_tries(self.client, self.cluster.name, wanted)
        if not fetched:
            return 0
        with self.db.atomic():
            return write_tries(fetched, self.clock())

    def _team_rows(self) -> TeamRows:
        """The team's workflows, read again only when their version moved (or the last
        read is TEAM_ROWS_MAX_AGE old): one index look-up on an idle cycle."""
        version = tuple(Workflow.select(fn.MAX(Workflow.updated_at), fn.COUNT(Workflow.id))
                        .where(Workflow.team == self.cluster.team).tuples()[0])
        cached = self._team
        if (cached is None or cached.version != version
                or time.monotonic() - cached.read_at > TEAM_ROWS_MAX_AGE):
            cached = self._team = TeamRows(version, time.monotonic(), self._known(),
                                           self._workflow_stamps())
        return cached

    def _workflow_stamps(self) -> dict[int, datetime]:
        """The team's workflows as the cycle begins (id → updated_at): one that changes
        while the cycle asks Airflow (a pause just carried out) keeps its newer state."""
        return dict(Workflow.select(Workflow.id, Workflow.updated_at)
                    .where(Workflow.team == self.cluster.team).tuples())

    def _known(self) -> set[str]:
        return {
            name
            for (name,) in Workflow.select(Workflow.dataset_name)
            .where((Workflow.team == self.cluster.team) & (Workflow.status != WorkflowStatus.REMOVED))
            .tuples()
        }

    def _fetch(self, now: datetime, known: set[str]) -> Fetched:
        cursor_text = sync_state(self.key).cursor
        cursor = (datetime.fromisoformat(cursor_text) - CURSOR_OVERLAP if cursor_text
                  else now - self.lookback)
        listed, server_time = self.client.list_dag_runs(updated_at_gte=cursor)
        runs = [r for r in listed if self.dataset_of(r.dag_id, known) is not None]
        new, changed, tasks_since = self._runs_needing_tasks(runs, cursor)
        refreshed, vanished = self._check_stale(now, {(r.dag_id, r.dag_run_id) for r in runs})
        new += [(r.dag_id, r.dag_run_id) for r in refreshed]
        tasks: dict[tuple[str, str], list[TaskInstanceInfo]] = {pair: [] for pair in new + changed}
        listed_keys = {(r.dag_id, r.dag_run_id) for r in runs} | set(new)
        unlisted_active = self._unlisted_active(listed_keys)
        active_tasks: dict[tuple[str, str], list[TaskInstanceInfo]] = {}
        fetched: list[TaskInstanceInfo] = []
        if changed or unlisted_active:
            for task in self.client.list_changed_task_instances(updated_at_gte=tasks_since):
                key = (task.dag_id, task.dag_run_id)
                if key in tasks and key not in new:
                    fetched.append(task)
                elif key in unlisted_active:
                    active_tasks.setdefault(key, []).append(task)
        if new:
            fetched += self.client.list_task_instances(new)
        for task in fetched:
            tasks[(task.dag_id, task.dag_run_id)].append(task)
        prefix = f"{self.cluster.dag_name_prefix}__" if self.cluster.dag_name_prefix else None
        paused = self.client.list_paused_dag_ids(dag_id_prefix=prefix)
        hitl = None
        if self._has_active_runs(runs) and self.client.supports_hitl():
            try:
                hitl = fetch_hitl(self.client, self.cluster.name, prefix,
                                  lambda dag_id: self.dataset_of(dag_id, known) is not None)
            except (AirflowNotFound, AirflowPermissionError) as exc:
                # runs matter more than questions: a user without the HITL permission
                # still gets its runs synced
                log.warning("cluster %s: tasks waiting for input not read: %s",
                            self.cluster.name, exc)
        next_cursor = server_time or now - timedelta(minutes=1)
        return Fetched(runs, tasks, refreshed, vanished, paused, next_cursor, active_tasks, hitl)

    def _has_active_runs(self, listed: list[DagRunInfo]) -> bool:
        """Whether the cluster has a run that may be waiting for a person: one listed now
        that is not finished, or one the store has as active."""
        return any(r.state not in TERMINAL_STATES for r in listed) or has_active_runs(
            self.cluster.name)


    def _unlisted_active(self, listed: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """The store's active runs of this cluster that the changed-runs query did not
        return (their tasks may have moved anyway).

        Every cycle asks for these tasks since the cursor, so the cursor bounds the
        query: a task change after the previous cycle's listing began is newer than it."""
        rows = Run.select(Run.dag_id, Run.dag_run_id).where(
            (Run.cluster == self.cluster.name) & Run.status.in_(ACTIVE_RUN_STATUSES)
        ).tuples()
        return {(dag_id, dag_run_id) for dag_id, dag_run_id in rows} - listed

    def _runs_needing_tasks(
        self, runs: list[DagRunInfo], cursor: datetime
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], datetime]:
        """Changed runs split into those the store has no tasks of yet (fetch all their
        tasks) and known ones (fetch tasks changed since the oldest ``last_seen_at`` among
        them: Airflow 2 does not move a run's ``updated_at`` on every task change, so a
        task may have changed before the cycle that returns its run). Finished runs the
        store already has in that state are skipped: the cursor overlaps a little, so a
        finished run can come back unchanged."""
        if not runs:
            return [], [], cursor
        stored = {
            (row.dag_id, row.dag_run_id): row
            for row in Run.select(
                Run.dag_id, Run.dag_run_id, Run.airflow_state, Run.total, Run.last_seen_at
            ).where(
                (Run.cluster == self.cluster.name)
                & Run.dag_run_id.in_(list({r.dag_run_id for r in runs}))
            )
        }
        new, changed, since = [], [], cursor
        for run in runs:
            key = (run.dag_id, run.dag_run_id)
            row = stored.get(key)
            if row is None or row.total == 0:
                new.append(key)
            elif not (row.airflow_state == run.state and run.state in TERMINAL_STATES):
                changed.append(key)
                since = min(since, row.last_seen_at or cursor)
        return new, changed, since

    def _check_stale(
        self, now: datetime, seen: set[tuple[str, str]]
    ) -> tuple[list[DagRunInfo], list[Run]]:
        """Active runs not seen for ``stale_threshold_hours``: ask Airflow about each;
        those it no longer knows become UNKNOWN."""
        stale = Run.select().where(
            (Run.cluster == self.cluster.name)
            & Run.status.in_(ACTIVE_RUN_STATUSES)
            & (Run.last_seen_at < now - self.stale)
        )
        refreshed, vanished = [], []
        for row in stale:
            if (row.dag_id, row.dag_run_id) in seen:
                continue
            try:
                refreshed.append(self.client.get_dag_run(row.dag_id, row.dag_run_id))
            except AirflowNotFound:
                vanished.append(row)
        return refreshed, vanished


def has_active_runs(cluster: str) -> bool:
    """The store has a run of ``cluster`` that is not finished (an index look-up)."""
    return Run.select().where((Run.cluster == cluster)
                              & Run.status.in_(ACTIVE_RUN_STATUSES)).exists()


def is_busy(cluster: str) -> bool:
    """A cluster worth syncing every second: a run of it is active, or an action waits
    to be picked up (what it changes shows in the next sync)."""
    return has_active_runs(cluster) or Action.select().where(
        Action.state == ActionState.PENDING).exists()
