"""The operator's actions on a run that went wrong: clear (retry) and mark (SPEC §3, §4).

Both follow the permissions of run / stop. Clear asks Airflow which task instances it
clears (its own dry run: what the confirm dialog and ``--dry-run`` show) and clears them;
the run is written back at once, so it shows as running again as soon as Airflow says so.
"""

from __future__ import annotations

from typing import Any

from daemon.actions.context import ExecContext, Outcome
from daemon.actions.validate import Validated
from daemon.airflow import TaskInstanceInfo
from daemon.run_sync.write import write_confirmed_run
from daemon.store.models import Action


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
