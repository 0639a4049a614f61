"""Carrying out each action kind against Airflow and the spec store.

Every handler is idempotent: run twice (a daemon died between claim and completion),
it does the thing once. Handlers return an :class:`Outcome` or raise a BasecampError
(the executor records it as failed, or rejected for a UserError).
"""

from __future__ import annotations

from typing import Any, Callable

from daemon.actions.backfill import run_backfill
from daemon.actions.context import ExecContext, Outcome, checkpoint
from daemon.actions.operate import clear, mark, respond
from daemon.actions.validate import Validated
from daemon.airflow import (
    AirflowBadRequest,
    AirflowConflict,
    AirflowError,
    AirflowNotFound,
)
from daemon.airflow.logs import tail
from daemon.core.states import (
    ACTIVE_RUN_STATUSES,
    ActionState,
    RunStatus,
    SourceType,
    WorkflowStatus,
)
from daemon.run_sync.status import run_status
from daemon.run_sync.write import write_confirmed_run, write_dataset_paused
from daemon.store.models import Action, Run, TaskInstance, TaskLog, Workflow

Handler = Callable[[ExecContext, Action, Validated], Outcome]


def pause(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    return _set_paused(ctx, checked, paused=True)


def unpause(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    return _set_paused(ctx, checked, paused=False)


def _set_paused(ctx: ExecContext, checked: Validated, *, paused: bool) -> Outcome:
    row = checked.workflow
    assert row is not None
    cluster, client, dag_id = ctx.dag_of(row.team, row.dataset_name)
    word = "paused" if paused else "unpaused"
    if client.dag_is_paused(dag_id) == paused:
        write_dataset_paused(row.dataset_name, paused, ctx.clock())
        return Outcome(f"{row.dataset_name} is already {word}; nothing to do.",
                       {"dag_id": dag_id, "cluster": cluster.name, "changed": False})
    client.set_dag_paused(dag_id, paused)
    write_dataset_paused(row.dataset_name, paused, ctx.clock())
    return Outcome(f"{word.capitalize()} {row.dataset_name} ({dag_id} on {cluster.name}).",
                   {"dag_id": dag_id, "cluster": cluster.name, "changed": True})


def run(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    row = checked.workflow
    assert row is not None
    cluster, client, dag_id = ctx.dag_of(row.team, row.dataset_name)
    note = f"basecamp: {action.requested_by}" + (f": {action.reason}" if action.reason else "")
    refused: set[str] = set()
    for _ in range(10):
        dag_run_id = (action.checkpoint or {}).get("dag_run_id") or _new_run_id(
            ctx, cluster.name, dag_id, refused)
        checkpoint(action, dag_run_id=dag_run_id)
        try:
            info = client.trigger_dag_run(dag_id, dag_run_id, checked.conf, note=note)
        except AirflowConflict:
            # Ours from before a restart (same conf), or someone else's run with this id.
            info = client.get_dag_run(dag_id, dag_run_id)
            if (info.conf or {}) != checked.conf:
                refused.add(dag_run_id)
                checkpoint(action, dag_run_id=None)
                continue
        write_confirmed_run(ctx.clock(), cluster.name, row.dataset_name, info)
        run_id = f"{row.dataset_name}/{info.dag_run_id}"
        return Outcome(f"Run started: {run_id}",
                       {"run_id": run_id, "dag_run_id": info.dag_run_id, "dag_id": dag_id,
                        "cluster": cluster.name, "conf": checked.conf})
    raise RuntimeError(f"could not find a free dag_run_id for {dag_id}")


def _new_run_id(ctx: ExecContext, cluster: str, dag_id: str, refused: set[str]) -> str:
    """``adhoc__YYYYMMDDTHHMMSS`` (UTC), with ``_2``, ``_3``… when it is taken."""
    base = f"adhoc__{ctx.clock():%Y%m%dT%H%M%S}"
    taken = set(refused) | {r.dag_run_id for r in Run.select(Run.dag_run_id).where(
        (Run.cluster == cluster) & (Run.dag_id == dag_id) & Run.dag_run_id.startswith(base))}
    taken |= {(a.checkpoint or {}).get("dag_run_id") for a in Action.select(Action.checkpoint).where(
        (Action.kind == "run") & (Action.state == ActionState.RUNNING))}
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def stop(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    run_row = checked.run
    assert run_row is not None
    client = ctx.client_of_run(run_row.cluster, run_row.public_id)
    info = client.get_dag_run(run_row.dag_id, run_row.dag_run_id)
    if run_status(info.state, None) not in ACTIVE_RUN_STATUSES:
        write_confirmed_run(ctx.clock(), run_row.cluster, run_row.dataset_name, info)
        return Outcome(f"Run {run_row.public_id} already finished ({info.state}); nothing to stop.",
                       {"run_id": run_row.public_id, "changed": False, "airflow_state": info.state})
    Run.update(status=RunStatus.STOPPING, updated_at=ctx.clock()).where(Run.id == run_row.id).execute()
    info = client.set_dag_run_state(run_row.dag_id, run_row.dag_run_id, "failed")
    write_confirmed_run(ctx.clock(), run_row.cluster, run_row.dataset_name, info)
    status = Run.get_by_id(run_row.id).status
    return Outcome(f"Stopped {run_row.public_id} (status {status}).",
                   {"run_id": run_row.public_id, "changed": True, "status": status})


def fetch_log(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    """The tail of one try's log into ``TaskLog``. With ``follow`` (the dashboard following
    a running task) and a stored continuation token, only the new part is asked for and
    appended; the row's token is the compare-and-set guard, so a fetch repeated after a
    crash, or racing another fetch of the same try, never appends a part twice."""
    run_row = checked.run
    assert run_row is not None
    params = checked.params
    task_id = str(params["task_id"])
    map_index = int(params.get("map_index", -1))
    follow = bool(params.get("follow"))
    try_number = params.get("try_number")
    if not try_number:
        task = TaskInstance.get_or_none((TaskInstance.run_id == run_row.id)
                                        & (TaskInstance.task_id == task_id)
                                        & (TaskInstance.map_index == map_index))
        try_number = max(1, task.try_number if task else 1)
    try_number = int(try_number)
    client = ctx.client_of_run(run_row.cluster, run_row.public_id)
    limit = ctx.config.daemon.log_tail_bytes
    this_try = ((TaskLog.run_id == run_row.id) & (TaskLog.task_id == task_id)
                & (TaskLog.map_index == map_index) & (TaskLog.try_number == try_number))
    row = TaskLog.get_or_none(this_try)
    token = row.continuation_token if follow and row is not None else None
    if token:
        try:
            chunk = client.task_log_chunk(run_row.dag_id, run_row.dag_run_id, task_id,
                                          try_number, map_index=map_index, token=token,
                                          max_bytes=limit)
        except AirflowBadRequest:  # a token this server did not sign (secret key rotated)
            token = None
    if token:
        assert row is not None
        whole = chunk.after(row.content)
        text = tail(whole, limit)
        values = {"content": text, "truncated": row.truncated or text != whole,
                  "fetched_at": ctx.clock(), "continuation_token": chunk.continuation_token}
        if not TaskLog.update(**values).where(
                this_try & (TaskLog.continuation_token == token)).execute():
            return Outcome(f"The log of {task_id} try {try_number} changed meanwhile; "
                           "nothing appended.",
                           {"run_id": run_row.public_id, "task_id": task_id,
                            "try_number": try_number, "chars": 0, "appended": False})
        return Outcome(f"Fetched {len(chunk.text)} new characters of the log of {task_id} "
                       f"try {try_number}.",
                       {"run_id": run_row.public_id, "task_id": task_id,
                        "try_number": try_number, "chars": len(chunk.text), "appended": True})
    chunk = client.task_log_chunk(run_row.dag_id, run_row.dag_run_id, task_id, try_number,
                                  map_index=map_index, want_token=follow, max_bytes=limit)
    text = chunk.text
    # ``tail`` keeps at least three quarters of ``limit`` when it cuts (it starts the text
    # at a line), and never cuts a log shorter than ``limit``.
    truncated = len(text.encode("utf-8")) >= limit * 3 // 4
    values = {"content": text, "truncated": truncated, "fetched_at": ctx.clock(),
              "continuation_token": chunk.continuation_token}
    if not TaskLog.update(**values).where(this_try).execute():
        TaskLog.create(run_id=run_row.id, task_id=task_id, map_index=map_index,
                       try_number=try_number, **values)
    return Outcome(f"Fetched the log of {task_id} try {try_number} ({len(text)} characters).",
                   {"run_id": run_row.public_id, "task_id": task_id, "try_number": try_number,
                    "chars": len(text)})


def register(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    spec = checked.spec
    assert spec is not None
    existing = checked.workflow
    key = existing.spec_path if existing is not None and existing.spec_path else f"manual/{spec.name}.yaml"
    ctx.spec_store.write(key, str(checked.params["spec_yaml"]).encode("utf-8"))
    ctx.sync_specs()
    row = Workflow.get_or_none((Workflow.dataset_name == spec.name) & (Workflow.source_type == SourceType.MANUAL))
    status = row.status if row is not None else "unknown"
    verb = "Updated" if existing is not None else "Registered"
    note = " (overridden by the Code spec)" if status == WorkflowStatus.OVERRIDDEN else ""
    return Outcome(f"{verb} {spec.name} ({key}); status {status}{note}.",
                   {"dataset_name": spec.name, "spec_path": key, "status": status})


def unregister(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    row = checked.workflow
    assert row is not None
    result: dict[str, Any] = {"dataset_name": row.dataset_name, "spec_path": row.spec_path}
    paused = ""
    if row.status != WorkflowStatus.OVERRIDDEN and row.spec is not None:
        # The DAG runs the manual spec: pause it before its spec goes away.
        cluster, client, dag_id = ctx.dag_of(row.team, row.dataset_name)
        try:
            client.set_dag_paused(dag_id, True)
            paused = f", paused {dag_id} on {cluster.name}"
            result["paused_dag_id"] = dag_id
        except AirflowNotFound:
            paused = f"; {dag_id} does not exist on {cluster.name}, nothing to pause"
        except AirflowError as exc:
            if not checked.params.get("force"):
                raise AirflowError(exc.cluster, f"{exc} Nothing was deleted; retry when the "
                                   "cluster is back, or use --force to delete the spec anyway.") from exc
            paused = f"; could not pause {dag_id} ({exc})"
    if row.spec_path:
        ctx.spec_store.delete(row.spec_path)
    ctx.sync_specs()
    return Outcome(f"Unregistered {row.dataset_name}: deleted {row.spec_path}{paused}.", result)


def sync_specs(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    report: Any = ctx.sync_specs()
    message = (f"Spec sync: {report.listed} listed, {report.fetched} fetched, "
               f"{report.workflows_written} workflows written")
    if not report.ok:
        return Outcome(f"{message}; {report.error}", {"ok": False}, state=ActionState.FAILED)
    return Outcome(message + ".", {"ok": True})


def sync_runs(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    target = None if action.target in ("", "*") else action.target
    reports: Any = ctx.sync_runs(target)
    failed = [f"{r.cluster}: {r.error}" for r in reports if not r.ok]
    message = f"Run sync of {len(reports)} cluster(s)" + (f"; {'; '.join(failed)}" if failed else ".")
    return Outcome(message, {"ok": not failed}, state=ActionState.FAILED if failed else ActionState.DONE)


HANDLERS: dict[str, Handler] = {
    "pause": pause, "unpause": unpause, "run": run, "stop": stop, "fetch_log": fetch_log,
    "register": register, "unregister": unregister, "sync_specs": sync_specs,
    "sync_runs": sync_runs, "backfill": run_backfill, "clear": clear, "mark": mark,
    "respond": respond,
}
