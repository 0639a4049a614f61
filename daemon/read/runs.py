"""Runs: the CLI's ``history`` / ``status`` (SPEC §8 JSON), the run detail of the
dashboard, and the latest run of each workflow.

A run's place in "recent" is when it started, else when it was queued, is due, or was
first seen (``RUN_TIME``): one expression for every reader.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from peewee import SQL, NodeList, PostgresqlDatabase, fn

from daemon.core.errors import NotFoundError, UserError
from daemon.core.states import ACTIVE_RUN_STATUSES, OPEN_ACTION_STATES
from daemon.read.actions import ActionRow, open_actions
from daemon.read.hitl import InputRequest, RunKey, waiting_requests, waiting_run_keys
from daemon.read.tries import TryView, earlier_tries, tries_of
from daemon.store.in_force import in_force_condition
from daemon.store.models import (
    Action,
    Run,
    TaskInstance,
    TaskLog,
    Workflow,
    database_proxy,
)

RUN_TIME = fn.COALESCE(Run.started_at, Run.queued_at, Run.logical_date, Run.created_at)
_NAMES_PER_QUERY = 500


def stored_time(value: Any) -> datetime | None:
    """A ``RUN_TIME`` value as an aware UTC datetime: a raw COALESCE comes back as text
    from SQLite and naive from PostgreSQL."""
    return Run.started_at.python_value(value)


@dataclass(frozen=True)
class RunFilter:
    dataset: str | None = None
    source: str = "all"
    """``code`` / ``manual``: runs of datasets whose spec in force has that source."""
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 20


@dataclass(frozen=True)
class RunView:
    """One run as the store has it."""

    id: int
    dataset_name: str
    cluster: str
    dag_id: str
    dag_run_id: str
    status: str
    airflow_state: str | None
    run_type: str | None
    triggered_by: str | None
    logical_date: datetime | None
    queued_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    note: str | None
    total: int
    succeeded: int
    failed: int
    running: int
    queued: int
    skipped: int
    current_task: str | None
    waiting_for_input: bool = False
    """A task of this (active) run waits for a person's answer (Airflow ≥ 3.1)."""
    slow: bool = False
    """Far slower than its workflow's usual duration (flagged by the daemon)."""

    @property
    def public_id(self) -> str:
        return f"{self.dataset_name}/{self.dag_run_id}"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_RUN_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return round((self.ended_at - self.started_at).total_seconds(), 3)

    @classmethod
    def of(cls, row: Run, waiting: set[RunKey] | None = None) -> RunView:
        """``waiting``: the keys of ``waiting_run_keys()``; None asks the store."""
        active = row.status in ACTIVE_RUN_STATUSES
        if active and waiting is None:
            waiting = waiting_run_keys()
        return cls(row.id, row.dataset_name, row.cluster, row.dag_id, row.dag_run_id,
                   row.status, row.airflow_state, row.run_type, row.triggered_by,
                   row.logical_date, row.queued_at, row.started_at, row.ended_at, row.note,
                   row.total, row.succeeded, row.failed, row.running, row.queued,
                   row.skipped, row.current_task,
                   active and (row.cluster, row.dag_id, row.dag_run_id) in (waiting or ()),
                   slow=bool(row.slow))

    def as_json(self) -> dict[str, Any]:
        """SPEC §8's run object."""
        return {
            "run_id": self.public_id,
            "dataset_name": self.dataset_name,
            "cluster": self.cluster,
            "dag_id": self.dag_id,
            "dag_run_id": self.dag_run_id,
            "status": self.status,
            "airflow_state": self.airflow_state,
            "run_type": self.run_type,
            "triggered_by": self.triggered_by,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_seconds": self.duration_seconds,
            "progress": {"total": self.total, "succeeded": self.succeeded,
                         "failed": self.failed, "running": self.running,
                         "queued": self.queued, "skipped": self.skipped},
            "current_task": self.current_task,
            "waiting_for_input": self.waiting_for_input,
            "slow": self.slow,
        }


@dataclass(frozen=True)
class TaskView:
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    queued_at: datetime | None = None
    tries: tuple[TryView, ...] = ()
    """Every try, oldest first, this one's latest last (earlier ones once the daemon
    fetched them: until then, and on Airflow before 2.10, only the latest)."""

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    @property
    def try_numbers(self) -> list[int]:
        """The tries there are logs of: the stored ones, else 1 to the latest."""
        if len(self.tries) > 1:
            return [one.try_number for one in self.tries if one.try_number >= 1]
        return list(range(1, self.try_number + 1))


@dataclass(frozen=True)
class TaskLogView:
    """The tail of one task try's log, as the daemon fetched it."""

    try_number: int
    content: str
    truncated: bool
    fetched_at: datetime


@dataclass
class RunDetail:
    """One consistent read of everything the run detail shows."""

    run: RunView | None
    error: str | None = None
    tasks: list[TaskView] = field(default_factory=list)
    pending: list[ActionRow] = field(default_factory=list)
    inputs: list[InputRequest] = field(default_factory=list)
    """Tasks waiting for a person's answer."""


@dataclass(frozen=True)
class LastRun:
    run_id: str
    status: str
    at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None


# --- queries ------------------------------------------------------------------------------


def list_runs(flt: RunFilter) -> list[RunView]:
    query = Run.select()
    if flt.dataset:
        query = query.where(Run.dataset_name == flt.dataset)
    if flt.source != "all":
        in_force = Workflow.select(Workflow.dataset_name).where(
            in_force_condition() & (Workflow.source_type == flt.source))
        query = query.where(Run.dataset_name.in_(in_force))
    if flt.status:
        query = query.where(Run.status == flt.status.upper())
    # RUN_TIME is an expression, not a field: its bounds are converted as a column's
    # values are (naive UTC), or SQLite would compare them as text with "+00:00".
    if flt.since:
        query = query.where(RUN_TIME >= Run.started_at.db_value(flt.since))
    if flt.until:
        query = query.where(RUN_TIME < Run.started_at.db_value(flt.until))
    query = query.order_by(RUN_TIME.desc(), Run.id.desc()).limit(flt.limit)
    rows = list(query)
    waiting = waiting_run_keys() if any(r.status in ACTIVE_RUN_STATUSES for r in rows) else set()
    return [RunView.of(row, waiting) for row in rows]


def recent_runs(dataset: str, limit: int) -> list[RunView]:
    return list_runs(RunFilter(dataset=dataset, limit=limit))


def find_run(run_id: str) -> Run:
    """``DATASET/DAG_RUN_ID``, or a bare dag_run_id when only one run has it."""
    if "/" in run_id:
        dataset, dag_run_id = run_id.split("/", 1)
        rows = list(Run.select().where((Run.dataset_name == dataset) & (Run.dag_run_id == dag_run_id)))
    else:
        rows = list(Run.select().where(Run.dag_run_id == run_id).limit(5))
    if not rows:
        raise NotFoundError(f"Run not found: {run_id}. List runs with: basecamp workflow history")
    if len(rows) > 1:
        choices = ", ".join(row.public_id for row in rows)
        raise UserError(f"Run id {run_id} is ambiguous; use one of: {choices}")
    return rows[0]


def _tasks(run_pk: int) -> list[TaskView]:
    query = TaskInstance.select().where(TaskInstance.run_id == run_pk).order_by(
        fn.COALESCE(TaskInstance.started_at, TaskInstance.updated_at), TaskInstance.task_id,
        TaskInstance.map_index)
    earlier = earlier_tries(run_pk)
    return [TaskView(t.task_id, t.map_index, t.state, t.try_number, t.started_at, t.ended_at,
                     t.duration_seconds, t.queued_at,
                     tries_of(t, earlier.get((t.task_id, t.map_index), [])))
            for t in query]


def run_status_json(run_id: str) -> dict[str, Any]:
    """``workflow status``: the run object plus its tasks (SPEC §8), each with when it was
    queued and its tries."""
    run = RunView.of(find_run(run_id))
    tasks = [{"task_id": t.label, "state": t.state, "try_number": t.try_number,
              "started_at": t.started_at, "ended_at": t.ended_at,
              "duration_seconds": t.duration_seconds, "queued_at": t.queued_at,
              "tries": [one.as_json() for one in t.tries]} for t in _tasks(run.id)]
    inputs = [request.as_json() for request in input_requests(run)]
    return {**run.as_json(), "tasks": tasks, "input_requests": inputs}


def input_requests_of(run_id: str) -> list[InputRequest]:
    """``input_requests`` of the run with this public (or bare) id."""
    return input_requests(RunView.of(find_run(run_id)))


def input_requests(run: RunView) -> list[InputRequest]:
    """The run's tasks waiting for a person's answer (none once the run is finished)."""
    if not run.waiting_for_input:
        return []
    return waiting_requests(run.cluster, run.dag_id, run.dag_run_id)


def run_detail(run_id: str) -> RunDetail:
    """The dashboard's run detail; a run that is not (or no longer) there is an error."""
    try:
        run = RunView.of(find_run(run_id))
    except (NotFoundError, UserError) as exc:
        return RunDetail(run=None, error=str(exc))
    return RunDetail(run=run, tasks=_tasks(run.id), pending=open_actions(run.public_id),
                     inputs=input_requests(run))


def task_log(run_pk: int, task_id: str, map_index: int, try_number: int, *,
             exact: bool = False) -> TaskLogView | None:
    """The newest fetched log of the task at or before ``try_number`` (``exact``: of that
    try only)."""
    this_try = (TaskLog.try_number == max(try_number, 1) if exact
                else TaskLog.try_number <= max(try_number, 1))
    row = (TaskLog.select()
           .where((TaskLog.run_id == run_pk) & (TaskLog.task_id == task_id)
                  & (TaskLog.map_index == map_index) & this_try)
           .order_by(TaskLog.try_number.desc()).first())
    if row is None:
        return None
    return TaskLogView(row.try_number, row.content, row.truncated, row.fetched_at)


def log_fetch_open(run_id: str, task_id: str, map_index: int) -> bool:
    """A ``fetch_log`` of this task (any try) is queued or under way: following a log
    waits for it rather than queueing a second."""
    query = Action.select(Action.params).where(
        (Action.kind == "fetch_log") & (Action.target == run_id)
        & Action.state.in_(OPEN_ACTION_STATES))
    return any((params or {}).get("task_id") == task_id
               and int((params or {}).get("map_index", -1)) == map_index
               for (params,) in query.tuples())


def last_runs(names: Iterable[str] | None = None) -> dict[str, LastRun]:
    """The latest run (by ``RUN_TIME``) of each dataset in ``names``; of every dataset
    when ``names`` is None.

    That is the latest started run unless a run that has not started is newer (its
    ``RUN_TIME`` is when it was queued or due), so two queries answer it: the latest
    start per dataset, served by the (dataset_name, started_at) index, and the few runs
    not started yet. One query over ``RUN_TIME`` would read every run (0.6 s for 100,000).
    """
    chunks: list[list[str] | None] = [None]
    if names is not None:
        wanted = sorted(set(names))
        chunks = [wanted[i:i + _NAMES_PER_QUERY] for i in range(0, len(wanted), _NAMES_PER_QUERY)]
    candidates: list[tuple[datetime, int, str, LastRun]] = []
    for chunk in chunks:
        def among(query: Any, chunk: list[str] | None = chunk) -> Any:
            return query if chunk is None else query.where(Run.dataset_name.in_(chunk))

        latest_start = among(Run.select(Run.dataset_name, fn.MAX(Run.started_at).alias("at"))
                             .where(Run.started_at.is_null(False))).group_by(Run.dataset_name)
        started = (Run.select(Run.id, Run.dataset_name, Run.dag_run_id, Run.status,
                              Run.started_at, Run.ended_at)
                   .join(latest_start, on=((Run.dataset_name == latest_start.c.dataset_name)
                                           & (Run.started_at == latest_start.c.at))))
        for id_, name, dag_run_id, status, started_at, ended_at in started.tuples():
            candidates.append((started_at, id_, name, LastRun(
                f"{name}/{dag_run_id}", status, started_at, started_at, ended_at)))
        waiting = among(Run.select(Run.id, Run.dataset_name, Run.dag_run_id, Run.status,
                                   RUN_TIME, Run.ended_at).where(Run.started_at.is_null()))
        for id_, name, dag_run_id, status, at, ended_at in waiting.tuples():
            at = stored_time(at)  # never None: created_at always has a value
            candidates.append((at, id_, name, LastRun(f"{name}/{dag_run_id}", status, at,
                                                      None, ended_at)))
    candidates.sort(key=lambda candidate: candidate[:2])  # ties: the newer row wins
    return {name: run for _at, _id, name, run in candidates}


def _seconds() -> Any:
    """A run's duration computed by the database: parsing 200,000 timestamps in Python
    would cost seconds."""
    if isinstance(database_proxy.obj, PostgresqlDatabase):
        return NodeList((SQL("EXTRACT(EPOCH FROM"), Run.ended_at - Run.started_at, SQL(")")))
    return (fn.julianday(Run.ended_at) - fn.julianday(Run.started_at)) * 86400.0


RECENT_RUNS = 10
"""How many runs the Workflows tab's strip and duration sparkline show."""


@dataclass(frozen=True)
class RecentRun:
    status: str
    seconds: float | None
    """Its duration, when it has ended."""


def recent_history(names: Iterable[str] | None = None,
                   per: int = RECENT_RUNS) -> dict[str, tuple[RecentRun, ...]]:
    """The last ``per`` started runs of each dataset in ``names`` (every dataset when
    None), oldest first. One window query over the (dataset_name, started_at) index; on
    100,000 runs it reads them all (~0.7 s), so the dashboard asks for everything once,
    after its first paint, and then only for the datasets whose runs changed."""
    chunks: list[list[str] | None] = [None]
    if names is not None:
        wanted = sorted(set(names))
        chunks = [wanted[i:i + _NAMES_PER_QUERY] for i in range(0, len(wanted), _NAMES_PER_QUERY)]
    history: dict[str, list[RecentRun]] = {}
    for chunk in chunks:
        rank = fn.ROW_NUMBER().over(partition_by=[Run.dataset_name],
                                    order_by=[Run.started_at.desc(), Run.id.desc()])
        ranked = Run.select(Run.dataset_name, Run.status, _seconds().alias("seconds"),
                            rank.alias("rank")).where(Run.started_at.is_null(False))
        if chunk is not None:
            ranked = ranked.where(Run.dataset_name.in_(chunk))
        query = (Run.select(ranked.c.dataset_name, ranked.c.status, ranked.c.seconds)
                 .from_(ranked).where(ranked.c.rank <= per)
                 .order_by(ranked.c.dataset_name, ranked.c.rank.desc()))
        for name, status, seconds in query.tuples():
            history.setdefault(name, []).append(
                RecentRun(status, None if seconds is None else round(float(seconds), 1)))
    return {name: tuple(runs) for name, runs in history.items()}


def last_run_json(run: LastRun) -> dict[str, Any]:
    """The ``last_run`` object of ``workflow list`` (SPEC §8)."""
    return {k: v for k, v in asdict(run).items() if k != "at"}
