"""``basecamp workflow clear``, ``mark`` and ``respond``: retrying, marking and answering
runs through the daemon.

Clear and mark take several run ids (one action each). A clear is confirmed on the task instances
Airflow itself says it will clear: the daemon asks Airflow's dry run first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from basecamp_cli.options import global_options, globals_of
from basecamp_cli.store import open_for_cli
from basecamp_cli.submit import ActionFailed, submit
from daemon.actions import MARK_STATES
from daemon.core.errors import UserError
from daemon.core.text import clean
from daemon.read.runs import input_requests_of
from daemon.specs import parse_param_assignments


def each(targets: tuple[str, ...], act: Callable[[str], object]) -> None:
    """``act(target)`` for every target; the others still go when one fails, and the
    command fails (exit 1) naming how many did."""
    failed = []
    for target in targets:
        try:
            act(target)
        except (ActionFailed, UserError) as exc:
            if len(targets) == 1:
                raise
            click.echo(f"{target}: {exc}", err=True)
            failed.append(target)
    if failed:
        raise ActionFailed(f"{len(failed)} of {len(targets)} failed: {', '.join(failed)}")


@click.command("clear")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN_ID...")
@click.option("--task", "tasks", multiple=True, metavar="TASK",
              help="Clear this task (repeatable); default: the failed and upstream-failed ones.")
@click.option("--failed-only", is_flag=True, help="Of the named tasks, only failed ones.")
@click.option("--downstream", is_flag=True,
              help="Also the named tasks' downstream tasks (always so without --task).")
@click.option("--dry-run", is_flag=True, help="Show what Airflow would clear; clear nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@global_options
@click.pass_context
def clear_command(ctx: click.Context, run_ids: tuple[str, ...], tasks: tuple[str, ...],
                  failed_only: bool, downstream: bool, dry_run: bool, yes: bool) -> None:
    """Retry runs: clear their failed task instances (and what depends on them) so that
    Airflow runs them again."""
    config = open_for_cli(ctx)
    params = {"task_ids": list(tasks), "failed_only": failed_only or not tasks,
              "downstream": downstream or not tasks}
    if globals_of(ctx).no_wait and not (yes or dry_run):
        raise UserError("--no-wait needs --yes: the confirmation shows the daemon's answer")

    if dry_run or not yes:
        previews = {run_id: submit(ctx, config, "clear", run_id,
                                   params={**params, "dry_run": True}) for run_id in run_ids}
        cleared = {run_id: (action.result or {}).get("task_instances") or []
                   for run_id, action in previews.items()}
        run_ids = tuple(run_id for run_id in run_ids if cleared[run_id])
        if dry_run or not run_ids:
            return
        total = sum(len(cleared[run_id]) for run_id in run_ids)
        click.confirm(f"Clear these {total} task instance(s) in {len(run_ids)} run(s)?",
                      abort=True, err=True)
    each(run_ids, lambda run_id: submit(ctx, config, "clear", run_id,
                                        params={**params, "dry_run": False}))


@click.command("mark")
@click.argument("args", nargs=-1, required=True, metavar="RUN_ID... success|failed")
@click.option("--task", "task", metavar="TASK", help="Mark this task instance, not the run.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@global_options
@click.pass_context
def mark_command(ctx: click.Context, args: tuple[str, ...], task: str | None, yes: bool) -> None:
    """Set runs (or one task of each) to success or failed in Airflow."""
    if len(args) < 2 or args[-1] not in MARK_STATES:
        raise click.UsageError("give one or more RUN_IDs, then success or failed")
    run_ids, state = args[:-1], args[-1]
    config = open_for_cli(ctx)
    if not yes:
        what = f"task {task} of {len(run_ids)} run(s)" if task else f"{len(run_ids)} run(s)"
        effect = ("Airflow sets the task's state; downstream tasks follow their trigger rules"
                  if task else "Airflow sets the runs' state; tasks still running end on their own")
        click.echo("\n".join(run_ids), err=True)
        click.confirm(f"Mark {what} {state}? ({effect})", abort=True, err=True)
    each(run_ids, lambda run_id: submit(ctx, config, "mark", run_id,
                                        params={"state": state, "task_id": task}))


def describe_request(run_id: str, request: dict[str, Any]) -> str:
    """A waiting task's question as plain text, with the command that answers it."""
    lines = [f"Task {request['task_id']} waits for input: {request['subject']}"]
    if request["body"]:
        lines += ["  " + line for line in str(request["body"]).splitlines()]
    how = "one or more of" if request["multiple"] else "one of"
    lines.append(f"  Options ({how}): {', '.join(request['options'])}")
    for name, value in request["params"].items():
        lines.append(f"  Parameter {name} (default {value!r})")
    first = request["options"][0] if request["options"] else "OPTION"
    lines.append(f"  Answer: basecamp workflow respond {run_id} {request['task_id']} "
                 f"--option {first}")
    return clean("\n".join(lines))


@click.command("respond")
@click.argument("run_id")
@click.argument("task_id")
@click.option("--option", "options", multiple=True, metavar="OPTION",
              help="The answer (repeatable where the task takes several); asked when omitted.")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A value for the task's form (repeatable).")
@global_options
@click.pass_context
def respond_command(ctx: click.Context, run_id: str, task_id: str, options: tuple[str, ...],
                    params: tuple[str, ...]) -> None:
    """Answer a task that waits for a person (Airflow 3.1 or later)."""
    config = open_for_cli(ctx)
    chosen = list(options)
    if not chosen:
        request = next((r for r in input_requests_of(run_id) if r.task_id == task_id), None)
        if request is None or globals_of(ctx).no_wait:
            raise UserError("Give the answer with --option"
                            + (f" ({', '.join(request.options)})" if request else ""))
        click.echo(describe_request(run_id, request.as_json()), err=True)
        chosen = [click.prompt("Answer", type=click.Choice(list(request.options)), err=True)]
    submit(ctx, config, "respond", run_id,
           params={"task_id": task_id, "options": chosen,
                   "params": parse_param_assignments(list(params))})
