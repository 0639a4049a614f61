"""Backfill (SPEC §3): Airflow 3's backfills API; on Airflow 2 one triggered run per
logical date, in order and stopping at the first failure (or all at once with
``parallel``). Progress (runs done / total) is kept on the action row.

Idempotent across daemon restarts: the Airflow 3 backfill's id is checkpointed (a
restart that lost it finds the running backfill again through the 409), and Airflow 2
runs have ids derived from the action id and the logical date (a 409 means "already
triggered").
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from daemon.actions.context import ExecContext, Outcome, checkpoint
from daemon.actions.queue import touch
from daemon.actions.validate import Validated, backfill_window
from daemon.airflow import (
    AirflowClient,
    AirflowConflict,
    AirflowServerError,
    DagRunInfo,
)
from daemon.airflow.models import parse_datetime
from daemon.core.states import ActionState
from daemon.core.timefmt import iso_z
from daemon.run_sync.write import write_confirmed_run
from daemon.store.models import Action

FINISHED = ("success", "failed", "upstream_failed", "skipped")  # Airflow run states
PARALLEL_MAX_ACTIVE_RUNS = 10
CREATE_ATTEMPTS = 8


def run_backfill(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    row = checked.workflow
    spec = checked.spec
    assert row is not None and spec is not None
    cluster, client, dag_id = ctx.dag_of(row.team, row.dataset_name)
    params = checked.params
    start, after = backfill_window(spec.schedule.timezone, date.fromisoformat(params["start"]),
                                   date.fromisoformat(params["end"]))
    end = after - timedelta(microseconds=1)
    parallel = bool(params.get("parallel"))
    base = {"dag_id": dag_id, "cluster": cluster.name, "parallel": parallel}
    if params.get("dry_run"):
        if client.api_version == "v2":
            dates = client.backfill_dry_run(dag_id, start, end, checked.conf)
        else:
            dates = checked.logical_dates
        return Outcome(
            f"Dry run: {len(dates)} run(s) of {row.dataset_name} from {params['start']} to "
            f"{params['end']}; nothing was created.",
            {**base, "count": len(dates), "logical_dates": [iso_z(d) for d in dates]})
    if client.api_version == "v2":
        return _airflow3(ctx, action, client, dag_id, start, end, checked, base)
    return _airflow2(ctx, action, client, dag_id, checked, base)


def logical_date_params(checked: Validated, logical_date: datetime) -> dict[str, str]:
    """The parameters that take the run's logical date, as YYYY-MM-DD in the workflow's
    timezone (Airflow 2 runs are triggered one by one, so basecamp fills them; on Airflow
    3 the DAG factory fills them in backfill runs)."""
    spec = checked.spec
    assert spec is not None
    day = logical_date.astimezone(ZoneInfo(spec.schedule.timezone)).date().isoformat()
    return {p.name: day for p in spec.parameters if p.takes_logical_date}


def _progress(ctx: ExecContext, action: Action, done: int, total: int) -> None:
    if (action.progress_done, action.progress_total) != (done, total):
        touch(action, progress_done=done, progress_total=total)


def _airflow3(ctx: ExecContext, action: Action, client: AirflowClient, dag_id: str,
              start: datetime, end: datetime, checked: Validated,
              base: dict[str, Any]) -> Outcome:
    max_active = PARALLEL_MAX_ACTIVE_RUNS if base["parallel"] else 1
    backfill_id = (action.checkpoint or {}).get("backfill_id")
    if backfill_id is None:
        created = _create(ctx, client, dag_id, start, end, checked, max_active)
        backfill_id = created["id"]
        checkpoint(action, backfill_id=backfill_id)
    total = len(checked.logical_dates)
    while True:
        info = client.get_backfill(backfill_id)
        runs = client.backfill_runs(dag_id, start, end)
        total = max(total, len(runs))
        done = sum(1 for r in runs if r.state in FINISHED)
        _progress(ctx, action, done, total)
        if info.get("completed_at"):
            return _summary(action, runs, {**base, "backfill_id": backfill_id}, checked)
        ctx.wait(ctx.poll_seconds)


def _create(ctx: ExecContext, client: AirflowClient, dag_id: str, start: datetime,
            end: datetime, checked: Validated, max_active: int) -> dict[str, Any]:
    """Create the backfill. A 503 means Airflow rolled the creation back (its answer when
    its database is busy, e.g. SQLite under load), so it is retried; a 409 means a
    backfill is running: ours, when a restart lost its id."""
    for attempt in range(CREATE_ATTEMPTS):
        try:
            return client.create_backfill(dag_id, start, end, checked.conf, max_active)
        except AirflowConflict:
            running = _find_running(client, dag_id, start, end)
            if running is None:
                raise
            return running
        except AirflowServerError as exc:
            if exc.status != 503 or attempt == CREATE_ATTEMPTS - 1:
                raise
            ctx.wait(min(2.0 ** attempt, 10.0))
    raise AssertionError("unreachable")


def _find_running(client: AirflowClient, dag_id: str, start: datetime,
                  end: datetime) -> dict[str, Any] | None:
    """The DAG's unfinished backfill over exactly this range (ours, from before a restart)."""
    for item in client.list_backfills(dag_id):
        same = (parse_datetime(item.get("from_date")) == start.astimezone(ZoneInfo("UTC"))
                and parse_datetime(item.get("to_date")) is not None)
        if same and not item.get("completed_at"):
            return item
    return None


def _summary(action: Action, runs: list[DagRunInfo], result: dict[str, Any],
             checked: Validated) -> Outcome:
    failed = [r for r in runs if r.state in ("failed", "upstream_failed")]
    succeeded = sum(1 for r in runs if r.state == "success")
    result = {**result, "total": len(runs), "succeeded": succeeded, "failed": len(failed),
              "dag_run_ids": [r.dag_run_id for r in runs]}
    name = checked.target
    if failed:
        first = min(failed, key=lambda r: r.logical_date or datetime.max.replace(tzinfo=ZoneInfo("UTC")))
        return Outcome(f"Backfill of {name} finished with {len(failed)} failed run(s) of "
                       f"{len(runs)}; first failure: {name}/{first.dag_run_id}", result, state=ActionState.FAILED)
    return Outcome(f"Backfill of {name} finished: {succeeded} of {len(runs)} run(s) succeeded.", result)


def _airflow2(ctx: ExecContext, action: Action, client: AirflowClient, dag_id: str,
              checked: Validated, base: dict[str, Any]) -> Outcome:
    dates = checked.logical_dates
    run_ids = [f"backfill_{action.id}__{d:%Y%m%dT%H%M%S}" for d in dates]
    name = checked.target
    note = f"basecamp backfill by {action.requested_by}"
    runs: dict[str, DagRunInfo] = {}

    def trigger(index: int) -> DagRunInfo:
        conf = {**checked.conf, **logical_date_params(checked, dates[index])}
        try:
            info = client.trigger_dag_run(dag_id, run_ids[index], conf,
                                          logical_date=dates[index], note=note)
        except AirflowConflict:
            info = client.get_dag_run(dag_id, run_ids[index])
        write_confirmed_run(ctx.clock(), base["cluster"], name, info)
        return info

    if base["parallel"]:
        for index in range(len(dates)):
            runs[run_ids[index]] = trigger(index)
        while True:
            runs.update(client.dag_runs_of(dag_id, [r for r, i in runs.items() if i.state not in FINISHED]))
            done = sum(1 for i in runs.values() if i.state in FINISHED)
            _progress(ctx, action, done, len(dates))
            if done == len(dates):
                return _summary(action, list(runs.values()), base, checked)
            ctx.wait(ctx.poll_seconds)
    for index in range(len(dates)):
        info = trigger(index)
        while info.state not in FINISHED:
            _progress(ctx, action, index, len(dates))
            ctx.wait(ctx.poll_seconds)
            info = client.get_dag_run(dag_id, run_ids[index])
        write_confirmed_run(ctx.clock(), base["cluster"], name, info)
        runs[run_ids[index]] = info
        _progress(ctx, action, index + 1, len(dates))
        if info.state != "success":
            return Outcome(
                f"Backfill of {name} stopped at {iso_z(dates[index])}: run {name}/{info.dag_run_id} "
                f"{info.state}; {index} of {len(dates)} run(s) succeeded, the rest were not started.",
                {**base, "total": len(dates), "succeeded": index, "failed": 1,
                 "dag_run_ids": list(runs)}, state=ActionState.FAILED)
    return _summary(action, list(runs.values()), base, checked)


