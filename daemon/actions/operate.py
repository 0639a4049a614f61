"""The operator's actions on a run: clear (retry), mark, and respond to a task waiting
for a person (SPEC §3, §4).

All follow the permissions of run / stop. Clear asks Airflow which task instances it
clears (its own dry run: what the confirm dialog and ``--dry-run`` show) and clears them;
the run is written back at once, so it shows as running again as soon as Airflow says so.
"""

from __future__ import annotations

from typing import Any

from daemon.actions.context import ExecContext, Outcome, checkpoint
from daemon.actions.validate import Validated, answered_by
from daemon.airflow import AirflowConflict, HitlRequest, TaskInstanceInfo
from daemon.core.errors import UserError
from daemon.run_sync.write import write_confirmed_run
from daemon.store.models import Action, Run
from daemon.store.models import HitlRequest as StoredRequest


def _labels(tasks: list[TaskInstanceInfo]) -> list[str]:
    return sorted({t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]" for t in tasks})


def clear(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    run_row, params = checked.run, checked.params
    assert run_row is not None
    client = ctx.client_of_run(run_row.cluster, run_row.public_id)
    cleared = client.clear_task_instances(
        run_row.dag_id, run_row.dag_run_id, task_ids=params["task_ids"],
        only_failed=params["failed_only"], include_downstream=params["downstream"],
        dry_run=params["dry_run"])
    labels = _labels(cleared)
    result: dict[str, Any] = {"run_id": run_row.public_id, "task_instances": labels,
                              "dry_run": params["dry_run"]}
    what = "failed task" if params["failed_only"] and not params["task_ids"] else "task"
    if not labels:
        return Outcome(f"Nothing to clear in {run_row.public_id}: no {what} instance matched.",
                       {**result, "changed": False})
    if params["dry_run"]:
        return Outcome(f"Dry run: clearing {run_row.public_id} would clear {len(labels)} task "
                       f"instance(s): {', '.join(labels)}.", result)
    info = client.get_dag_run(run_row.dag_id, run_row.dag_run_id)
    write_confirmed_run(ctx.clock(), run_row.cluster, run_row.dataset_name, info)
    return Outcome(f"Cleared {len(labels)} task instance(s) of {run_row.public_id} "
                   f"({', '.join(labels)}); Airflow runs them again (run {info.state}).",
                   {**result, "changed": True, "airflow_state": info.state})


def mark(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    run_row, params = checked.run, checked.params
    assert run_row is not None
    client = ctx.client_of_run(run_row.cluster, run_row.public_id)
    state, task_id = params["state"], params["task_id"]
    if task_id:
        client.set_task_instance_state(run_row.dag_id, run_row.dag_run_id, task_id, state,
                                       map_index=params["map_index"])
        info = client.get_dag_run(run_row.dag_id, run_row.dag_run_id)
        what = f"task {task_id} of {run_row.public_id}"
    else:
        info = client.set_dag_run_state(run_row.dag_id, run_row.dag_run_id, state)
        what = run_row.public_id
    write_confirmed_run(ctx.clock(), run_row.cluster, run_row.dataset_name, info)
    return Outcome(f"Marked {what} {state} (run {info.state}).",
                   {"run_id": run_row.public_id, "task_id": task_id, "state": state,
                    "airflow_state": info.state})


def respond(ctx: ExecContext, action: Action, checked: Validated) -> Outcome:
    """Answer a task waiting for a person. A second answer is refused with Airflow's
    reason; the same answer again after a daemon restart (it was sent) is done."""
    run_row, params = checked.run, checked.params
    assert run_row is not None
    client = ctx.client_of_run(run_row.cluster, run_row.public_id)
    task_id, map_index, options = params["task_id"], params["map_index"], params["options"]
    sent = bool((action.checkpoint or {}).get("sent"))
    checkpoint(action, sent=True)
    try:
        answered = client.respond_hitl(run_row.dag_id, run_row.dag_run_id, task_id,
                                       map_index=map_index, chosen_options=options,
                                       params_input=params["params"])
    except AirflowConflict as exc:
        current = client.get_hitl_request(run_row.dag_id, run_row.dag_run_id, task_id,
                                          map_index=map_index)
        if not (sent and list(current.chosen_options or ()) == options):
            _store_answer(ctx, run_row, current)
            raise UserError(f"Task {task_id} of {run_row.public_id} was answered already"
                            f"{answered_by(current.responded_by, current.chosen_options)}: {exc}") from None
        answered = current
    _store_answer(ctx, run_row, answered)
    return Outcome(f"Answered task {task_id} of {run_row.public_id}: {', '.join(options)}.",
                   {"run_id": run_row.public_id, "task_id": task_id, "options": options,
                    "responded_by": answered.responded_by})


def _store_answer(ctx: ExecContext, run_row: Run, request: HitlRequest) -> None:
    """The answer into the store at once: the run stops showing "waiting for input"."""
    now = ctx.clock()
    with Run._meta.database.atomic():
        StoredRequest.update(
            response_received=True, chosen_options=list(request.chosen_options or ()),
            responded_by=request.responded_by, responded_at=request.responded_at or now,
            updated_at=now).where(
                (StoredRequest.cluster == run_row.cluster)
                & (StoredRequest.dag_id == run_row.dag_id)
                & (StoredRequest.dag_run_id == run_row.dag_run_id)
                & (StoredRequest.task_id == request.task_id)
                & (StoredRequest.map_index == request.map_index)).execute()
        Run.update(updated_at=now).where(Run.id == run_row.id).execute()
