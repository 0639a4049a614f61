"""``basecamp workflow …``: list workflows, and the store-side checks of the actions."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path
from typing import Any

import click

from basecamp_cli.operate import (
    clear_command,
    describe_request,
    mark_command,
    respond_command,
)
from basecamp_cli.options import global_options, globals_of
from basecamp_cli.output import print_json, render, short_time
from basecamp_cli.store import open_for_cli
from basecamp_cli.submit import submit
from daemon.actions import check_register, checked_target, spec_errors, validate_request
from daemon.core.errors import UserError
from daemon.core.states import RunStatus, SourceType, WorkflowStatus
from daemon.core.timefmt import duration
from daemon.read import guidance
from daemon.read.clusters import list_clusters
from daemon.read.runs import RunFilter, list_runs, run_status_json
from daemon.read.status import daemon_status
from daemon.read.workflows import WorkflowFilter, list_workflows
from daemon.specs import SpecInvalid, parse_param_assignments, parse_spec


@click.group()
def workflow() -> None:
    """Workflows: list them; run, backfill, pause and register them through the daemon."""


LIST_COLUMNS = (
    ("DATASET", lambda r: r["dataset_name"]),
    ("SOURCE", lambda r: r["source_type"]),
    ("STATUS", lambda r: r["status"]),
    ("CRON", lambda r: r["cron"]),
    ("TIMEZONE", lambda r: r["timezone"]),
    ("NEXT RUN UTC", lambda r: short_time(r["next_run"])),
    ("CLUSTER", lambda r: r["cluster"]),
    ("LAST RUN", lambda r: r["last_run"] and r["last_run"]["status"]),
    ("ERROR", lambda r: r["spec_error"]),
)


@workflow.command("list")
@click.option("--source", type=click.Choice([*(s.value for s in SourceType), "all"]), default="all")
@click.option("--enabled-only", is_flag=True, help="Only workflows whose schedule is enabled.")
@click.option("--running", is_flag=True, help="Only workflows with a pending or running run.")
@click.option("-d", "--dataset", help="Only datasets whose name contains this text.")
@click.option("--status", type=click.Choice(
    [s.value for s in WorkflowStatus]))
@click.option("--team")
@click.option("--owner")
@click.option("--limit", type=click.IntRange(min=1))
@click.option("--all", "include_removed", is_flag=True, help="Include removed workflows.")
@global_options
@click.pass_context
def list_command(ctx: click.Context, **filters: Any) -> None:
    """Workflows with their source, status, schedule and cluster."""
    config = open_for_cli(ctx)
    flt = WorkflowFilter(**filters)
    rows = list_workflows(flt)
    fmt = globals_of(ctx).format
    render(fmt, rows, LIST_COLUMNS, lambda: "No workflows match." if flt != WorkflowFilter() else
           guidance.no_workflows(daemon_status(config.daemon.stale_after_seconds), config.storage))
    if fmt == "table":
        # The same for every workflow of a team: said once below the table, not per row.
        for message in dict.fromkeys(r["cluster_error"] for r in rows if r["cluster_error"]):
            click.echo(f"! {message}")


@workflow.command()
@click.argument("name")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE")
@click.option("--dry-run", is_flag=True, help="Validate and show what would run.")
@click.option("--force", is_flag=True, help="Run even though the workflow is paused.")
@global_options
@click.pass_context
def run(ctx: click.Context, name: str, params: tuple[str, ...], dry_run: bool, force: bool) -> None:
    """Trigger a run of NAME on its Airflow cluster; prints "Run started: RUN_ID"."""
    config = open_for_cli(ctx)
    given = parse_param_assignments(list(params))
    if dry_run:
        checked = validate_request("run", name, None, {"parameters": given, "force": force})
        click.echo(f"Dry run: would run {name} ({checked.workflow.source_type} spec) "
                   f"with parameters {checked.conf}")
        return
    submit(ctx, config, "run", name, params={"parameters": given, "force": force})


@workflow.command()
@click.argument("name")
@click.option("-s", "--start", "start", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("-e", "--end", "end", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE")
@click.option("--parallel", is_flag=True, help="Run the dates in parallel (default: in order).")
@click.option("--dry-run", is_flag=True, help="Show the runs that would be created.")
@global_options
@click.pass_context
def backfill(ctx: click.Context, name: str, start: Any, end: Any, params: tuple[str, ...],
             parallel: bool, dry_run: bool) -> None:
    """Run NAME for every scheduled date from START to END (inclusive)."""
    config = open_for_cli(ctx)
    request = {"start": start.date().isoformat(), "end": end.date().isoformat(),
               "parallel": parallel, "dry_run": dry_run,
               "parameters": parse_param_assignments(list(params))}
    action = submit(ctx, config, "backfill", name, params=request, wait_default=None)
    dates = (action.result or {}).get("logical_dates")
    if dates and globals_of(ctx).format == "table":
        for value in dates:
            click.echo(f"  {value}")


@workflow.command()
@click.argument("run_id")
@click.option("--reason", default="", help="Why (recorded with the action).")
@global_options
@click.pass_context
def stop(ctx: click.Context, run_id: str, reason: str) -> None:
    """Stop a run (DATASET/DAG_RUN_ID): Airflow marks it failed; it shows STOPPED."""
    config = open_for_cli(ctx)
    submit(ctx, config, "stop", run_id, reason=reason)


@workflow.command()
@click.argument("name")
@click.option("--reason", default="", help="Why (recorded with the action).")
@global_options
@click.pass_context
def pause(ctx: click.Context, name: str, reason: str) -> None:
    """Pause NAME's DAG in Airflow."""
    config = open_for_cli(ctx)
    submit(ctx, config, "pause", name, reason=reason)


@workflow.command()
@click.argument("name")
@click.option("--reason", default="", help="Why (recorded with the action).")
@global_options
@click.pass_context
def unpause(ctx: click.Context, name: str, reason: str) -> None:
    """Unpause NAME's DAG in Airflow."""
    config = open_for_cli(ctx)
    submit(ctx, config, "unpause", name, reason=reason)


@workflow.command()
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Update an existing manual spec.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@global_options
@click.pass_context
def register(ctx: click.Context, spec_file: Path, force: bool, yes: bool) -> None:
    """Register SPEC_FILE as a manual spec (written to manual/<name>.yaml)."""
    config = open_for_cli(ctx)
    data = spec_file.read_bytes()
    try:
        spec = parse_spec(data, str(spec_file), config.storage.max_spec_bytes).spec
    except SpecInvalid as exc:
        raise UserError(spec_errors(exc)) from exc
    _, code = check_register(spec.name, force=force)
    if code is not None:
        click.echo(
            f"Warning: {spec.name} already exists in Code ({code.spec_path}).\n"
            "         Your Manual registration will be overridden by Code.\n"
            "         The Manual file will be kept but inactive.",
            err=True,
        )
        if not yes:
            click.confirm("Proceed?", abort=True, err=True)
    submit(ctx, config, "register", spec.name,
           params={"spec_yaml": data.decode("utf-8"), "force": force, "file": spec_file.name})


@workflow.command()
@click.argument("name")
@click.option("--force", is_flag=True,
              help="Delete the spec even when its DAG cannot be paused (cluster down).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@global_options
@click.pass_context
def unregister(ctx: click.Context, name: str, force: bool, yes: bool) -> None:
    """Delete NAME's manual spec and pause its DAG."""
    config = open_for_cli(ctx)
    target = checked_target("unregister", name)
    if not yes:
        pause_note = "" if target.status == WorkflowStatus.OVERRIDDEN else f" and pause {name}'s DAG"
        click.confirm(f"Delete {target.spec_path}{pause_note}?", abort=True, err=True)
    submit(ctx, config, "unregister", name, params={"force": force})


def _progress_cell(row: dict[str, Any]) -> str:
    p = row["progress"]
    text = f"{p['succeeded']}/{p['total']}"
    if p["failed"]:
        text += f" ({p['failed']} failed)"
    return text


def _duration_cell(run: dict[str, Any]) -> str | None:
    """How long a finished run took; "(slow)" when far slower than its workflow's usual."""
    took = None if run["duration_seconds"] is None else duration(run["duration_seconds"])
    if not run.get("slow"):
        return took
    return f"{took} (slow)" if took else "(slow)"


HISTORY_COLUMNS = (
    ("RUN ID", lambda r: r["run_id"]),
    ("STATUS", lambda r: r["status"]),
    ("TYPE", lambda r: r["run_type"]),
    ("STARTED (UTC)", lambda r: short_time(r["started_at"])),
    ("DURATION", _duration_cell),
    ("TASKS", _progress_cell),
    ("CURRENT", lambda r: "waiting for input" if r.get("waiting_for_input") else r["current_task"]),
    ("CLUSTER", lambda r: r["cluster"]),
)

TASK_COLUMNS = (
    ("TASK", lambda t: t["task_id"]),
    ("STATE", lambda t: t["state"]),
    ("TRY", lambda t: str(t["try_number"])),
    ("STARTED (UTC)", lambda t: short_time(t["started_at"])),
    ("DURATION", lambda t: None if t["duration_seconds"] is None else duration(t["duration_seconds"])),
)


@workflow.command()
@click.option("-d", "--dataset", help="Only runs of this dataset.")
@click.option("--source", type=click.Choice([*(s.value for s in SourceType), "all"]), default="all")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("-s", "--status", type=click.Choice(
    [s.value for s in RunStatus],
    case_sensitive=False))
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), help="UTC date or time.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), help="UTC date or time.")
@global_options
@click.pass_context
def history(ctx: click.Context, dataset: str | None, source: str, limit: int, status: str | None,
            since: Any, until: Any) -> None:
    """Recent runs, newest first, whoever triggered them."""
    config = open_for_cli(ctx)
    flt = RunFilter(
        dataset=dataset, source=source, status=status, limit=limit,
        since=since.replace(tzinfo=timezone.utc) if since else None,
        until=until.replace(tzinfo=timezone.utc) if until else None,
    )
    render(globals_of(ctx).format, [run.as_json() for run in list_runs(flt)], HISTORY_COLUMNS,
           lambda: "No runs match." if flt != RunFilter(limit=limit) else guidance.no_runs(
               list_clusters(), daemon_status(config.daemon.stale_after_seconds),
               config.sync.lookback_hours))


@workflow.command()
@click.argument("run_id")
@global_options
@click.pass_context
def status(ctx: click.Context, run_id: str) -> None:
    """One run (DATASET/DAG_RUN_ID, or a bare dag_run_id) with its tasks."""
    open_for_cli(ctx)
    detail = run_status_json(run_id)
    if globals_of(ctx).format == "json":
        print_json(detail)
        return
    render("table", [detail], HISTORY_COLUMNS, "")
    click.echo()
    render("table", detail["tasks"], TASK_COLUMNS, "No task instances synced yet.")
    for request in detail["input_requests"]:
        click.echo()
        click.echo(describe_request(detail["run_id"], request))


workflow.add_command(clear_command)
workflow.add_command(mark_command)
workflow.add_command(respond_command)
