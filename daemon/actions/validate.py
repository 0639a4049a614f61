"""The checks of an action request that the store can answer (SPEC §2 permissions,
strict parameters, dates). Run twice: at enqueue for fast feedback, and by the daemon
when it executes, because the store may have changed in between (a code spec arrived,
the workflow was paused)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from daemon.actions.permissions import check_action, check_register
from daemon.core.errors import UserError
from daemon.core.states import ACTIVE_RUN_STATUSES
from daemon.read.clusters import no_cluster_message
from daemon.read.runs import RunView, find_run
from daemon.read.workflows import WorkflowView
from daemon.specs import DatasetSpec, SpecInvalid, parse_spec, validate_parameters
from daemon.specs.parse import MAX_SPEC_BYTES
from daemon.store.models import Cluster, HitlRequest, Run, TaskInstance, Workflow

MAX_BACKFILL_RUNS = 1000


@dataclass
class Validated:
    """What an accepted request acts on, and its normalized parameters."""

    kind: str
    target: str
    workflow: Workflow | None = None
    run: Run | None = None
    params: dict[str, Any] = field(default_factory=dict)
    """Normalized request parameters, stored on the action row."""
    conf: dict[str, Any] = field(default_factory=dict)
    """Typed run parameters (run, backfill)."""
    spec: DatasetSpec | None = None
    logical_dates: list[datetime] = field(default_factory=list)
    """Backfill: the schedule's fire times in the requested range (UTC)."""


def validate_request(kind: str, target: str, source: str | None = None,
                     params: dict[str, Any] | None = None, *,
                     max_spec_bytes: int = MAX_SPEC_BYTES) -> Validated:
    """Raise the SPEC §2 rejection (UserError / NotFoundError), or return what to do."""
    params = dict(params or {})
    if kind == "unregister":
        return Validated(kind, target, workflow=check_action(kind, target, source), params=params)
    if kind in ("pause", "unpause"):
        row = require_cluster(check_action(kind, target, source))
        return Validated(kind, target, workflow=row, params=params)
    if kind == "run":
        row = check_action("run", target, source, force=bool(params.get("force")))
        spec = DatasetSpec.from_json(row.spec)
        conf = validate_parameters(spec, _strings(params.get("parameters")))
        require_cluster(row)
        return Validated(kind, target, workflow=row, params=params, conf=conf, spec=spec)
    if kind == "backfill":
        return _backfill(target, source, params)
    if kind in ("stop", "fetch_log"):
        run = find_run(target)
        row = check_action("stop", run.dataset_name, source) if kind == "stop" else None
        if kind == "fetch_log" and not params.get("task_id"):
            raise UserError("fetch_log needs a task_id")
        return Validated(kind, run.public_id, workflow=row, run=run, params=params)
    if kind in ("clear", "mark", "respond"):
        run = find_run(target)
        # SPEC §4: clear / mark / respond follow the permissions of run / stop.
        row = check_action("stop", run.dataset_name, source)
        normalize = {"clear": _clear_params, "mark": _mark_params,
                     "respond": _respond_params}[kind]
        return Validated(kind, run.public_id, workflow=row, run=run,
                         params=normalize(run, params))
    if kind == "register":
        return _register(target, params, max_spec_bytes)
    if kind in ("sync_specs", "sync_runs"):
        return Validated(kind, target or "*", params=params)
    raise UserError(f"Unknown action kind '{kind}'")


def require_cluster(row: Workflow) -> Workflow:
    """The workflow, if a configured cluster serves its team."""
    if not Cluster.select().where((Cluster.team == row.team) & Cluster.configured).exists():
        raise UserError(no_cluster_message(str(row.team)))
    return row


def checked_target(kind: str, name: str, source: str | None = None, *,
                   force: bool = False) -> WorkflowView:
    """The workflow an action of ``kind`` on ``name`` acts on, if the store allows it
    (SPEC §2) and a cluster serves it (unregister does not need one); else the rejection.
    What the dashboard and the CLI ask before they open a confirm dialog or a form."""
    row = check_action(kind, name, source, force=force)
    return WorkflowView.of(row if kind == "unregister" else require_cluster(row))


def checked_run(kind: str, run_id: str) -> RunView:
    """The run an action of ``kind`` (stop, clear, mark…) acts on, if the store allows it
    (they follow the permissions of stop), or the rejection; the action's parameters are
    checked when it is queued."""
    run = find_run(run_id)
    if kind != "fetch_log":
        check_action("stop", run.dataset_name)
    return RunView.of(run)


def _strings(values: Any) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise UserError("Parameters must be given as key=value pairs")
    return {str(k): v if isinstance(v, str) else _text(v) for k, v in values.items()}


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _backfill(target: str, source: str | None, params: dict[str, Any]) -> Validated:
    row = check_action("backfill", target, source)
    spec = DatasetSpec.from_json(row.spec)
    conf = validate_parameters(spec, _strings(params.get("parameters")), backfill=True)
    require_cluster(row)
    try:
        start = date.fromisoformat(str(params.get("start")))
        end = date.fromisoformat(str(params.get("end")))
    except ValueError as exc:
        raise UserError(f"Backfill dates must be YYYY-MM-DD: {exc}") from exc
    if start > end:
        raise UserError(f"Backfill start {start} is after end {end}")
    dates = backfill_dates(spec.schedule.cron, spec.schedule.timezone, start, end)
    if not dates:
        raise UserError(f"{target}'s schedule ({spec.schedule.cron} {spec.schedule.timezone}) "
                        f"has no run between {start} and {end}")
    if len(dates) > MAX_BACKFILL_RUNS:
        raise UserError(f"That backfill would create {len(dates)} runs; the limit is "
                        f"{MAX_BACKFILL_RUNS}. Split the range.")
    normalized = {**params, "start": start.isoformat(), "end": end.isoformat(),
                  "parallel": bool(params.get("parallel")), "dry_run": bool(params.get("dry_run"))}
    return Validated("backfill", target, workflow=row, params=normalized, conf=conf, spec=spec,
                     logical_dates=dates)


def _task_ids_of(run: Run) -> list[str]:
    return sorted({t for (t,) in TaskInstance.select(TaskInstance.task_id)
                   .where(TaskInstance.run_id == run.id).tuples()})


def _check_tasks(run: Run, task_ids: list[str]) -> None:
    """Every task named is one of the run's (when the store knows its tasks)."""
    known = _task_ids_of(run)
    unknown = [t for t in task_ids if t not in known]
    if known and unknown:
        raise UserError(f"Run {run.public_id} has no task {', '.join(unknown)}; its tasks: "
                        f"{', '.join(known)}")


def _clear_params(run: Run, params: dict[str, Any]) -> dict[str, Any]:
    """Which task instances a clear asks Airflow for: the named tasks (all their states,
    unless ``failed_only``), or, by default, the failed and upstream-failed ones; their
    downstream tasks too unless ``downstream`` is False."""
    task_ids = [str(t) for t in params.get("task_ids") or []]
    _check_tasks(run, task_ids)
    failed_only = bool(params.get("failed_only", not task_ids))
    return {"task_ids": task_ids or None, "failed_only": failed_only,
            "downstream": bool(params.get("downstream", True)),
            "dry_run": bool(params.get("dry_run"))}


MARK_STATES = ("success", "failed")


def _mark_params(run: Run, params: dict[str, Any]) -> dict[str, Any]:
    state = str(params.get("state", ""))
    if state not in MARK_STATES:
        raise UserError(f"Mark a run or task as success or failed, not {state!r}")
    task_id = params.get("task_id")
    if task_id:
        _check_tasks(run, [str(task_id)])
    return {"state": state, "task_id": str(task_id) if task_id else None,
            "map_index": int(params.get("map_index", -1))}


def answered_by(who: str | None, chosen: Any) -> str:
    """`` by kim (Reject)``: who answered a task and what, for the messages about it."""
    options = ", ".join(chosen or ())
    by = f" by {who}" if who else ""
    return f"{by} ({options})" if options else by


def waiting_request(run: Run, task_id: str, map_index: int = -1) -> HitlRequest:
    """The run's task that waits for a person's answer, or why there is none."""
    waiting = list(HitlRequest.select().where(
        (HitlRequest.cluster == run.cluster) & (HitlRequest.dag_id == run.dag_id)
        & (HitlRequest.dag_run_id == run.dag_run_id)
        & (HitlRequest.response_received == False)))  # noqa: E712
    found = next((r for r in waiting if (r.task_id, r.map_index) == (task_id, map_index)), None)
    if found is not None and run.status in ACTIVE_RUN_STATUSES:
        return found
    if run.status not in ACTIVE_RUN_STATUSES:
        raise UserError(f"Run {run.public_id} is {run.status}: no task of it waits for input.")
    answered = HitlRequest.get_or_none(
        (HitlRequest.cluster == run.cluster) & (HitlRequest.dag_id == run.dag_id)
        & (HitlRequest.dag_run_id == run.dag_run_id) & (HitlRequest.task_id == task_id)
        & (HitlRequest.map_index == map_index))
    if answered is not None:
        raise UserError(f"Task {task_id} of {run.public_id} was answered already"
                        f"{answered_by(answered.responded_by, answered.chosen_options)}.")
    if waiting:
        names = ", ".join(r.task_id for r in waiting)
        raise UserError(f"Task {task_id} of {run.public_id} is not waiting for input; "
                        f"waiting: {names}")
    raise UserError(f"No task of {run.public_id} is waiting for input (as of the last run "
                    "sync; tasks that wait for a person need Airflow 3.1 or later).")


def _respond_params(run: Run, params: dict[str, Any]) -> dict[str, Any]:
    """The answer to a waiting task: options it offers (one unless it takes several),
    spelled as the task spells them, and values for its form's parameters, typed by the
    parameter's schema."""
    task_id = str(params.get("task_id") or "")
    if not task_id:
        raise UserError("respond needs the task that waits for input")
    map_index = int(params.get("map_index", -1))
    request = waiting_request(run, task_id, map_index)
    offered = {str(o).casefold(): str(o) for o in request.options or []}
    chosen = [str(o) for o in params.get("options") or []]
    if not chosen:
        raise UserError(f"Choose an option: {', '.join(offered.values())}")
    unknown = [o for o in chosen if o.casefold() not in offered]
    if unknown:
        raise UserError(f"Task {task_id} offers {', '.join(offered.values())}, not "
                        f"{', '.join(unknown)}")
    if len(chosen) > 1 and not request.multiple:
        raise UserError(f"Task {task_id} takes one option, not {len(chosen)}")
    return {"task_id": task_id, "map_index": map_index,
            "options": [offered[o.casefold()] for o in chosen],
            "params": _form_values(task_id, request.params or {}, _strings(params.get("params")))}


def _form_values(task_id: str, form: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(form))
    if unknown:
        names = ", ".join(sorted(form)) or "none"
        raise UserError(f"Task {task_id} has no parameter {', '.join(unknown)}; its parameters: {names}")
    values: dict[str, Any] = {}
    for name, text in given.items():
        declared = form[name] if isinstance(form[name], dict) else {}
        schema = declared.get("schema") or {}
        kind = schema.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        try:
            if "integer" in kinds:
                values[name] = int(text)
            elif "number" in kinds:
                values[name] = float(text)
            elif "boolean" in kinds:
                if text.lower() not in ("true", "false"):
                    raise ValueError(text)
                values[name] = text.lower() == "true"
            else:
                values[name] = text
        except ValueError:
            raise UserError(f"Parameter {name} of task {task_id} must be {kinds[0]}, not {text!r}") from None
    return values


def backfill_window(zone: str, start: date, end: date) -> tuple[datetime, datetime]:
    """The days ``start``..``end`` in ``zone``: from the first's midnight up to, not
    including, the midnight after the last."""
    tz = ZoneInfo(zone)
    return datetime.combine(start, time.min, tz), datetime.combine(end + timedelta(days=1), time.min, tz)


def backfill_dates(cron: str, zone: str, start: date, end: date) -> list[datetime]:
    """Fire times of ``cron`` on the days ``start``..``end`` (inclusive) in ``zone``, as UTC."""
    first, after = backfill_window(zone, start, end)
    times = croniter(cron, first - timedelta(microseconds=1))
    result = []
    while len(result) <= MAX_BACKFILL_RUNS:
        fire = times.get_next(datetime)
        if fire >= after:
            break
        result.append(fire.astimezone(timezone.utc))
    return result


def _register(target: str, params: dict[str, Any], max_spec_bytes: int) -> Validated:
    text = params.get("spec_yaml")
    if not isinstance(text, str):
        raise UserError("register needs the spec's YAML text")
    try:
        spec = parse_spec(text.encode("utf-8"), params.get("file") or f"{target}.yaml",
                          max_spec_bytes).spec
    except SpecInvalid as exc:
        raise UserError(spec_errors(exc)) from exc
    if target and spec.name != target:
        raise UserError(f"The spec is named {spec.name}, not {target}")
    manual, _code = check_register(spec.name, force=bool(params.get("force")))
    return Validated("register", spec.name, workflow=manual, params=params, spec=spec)


def spec_errors(exc: SpecInvalid) -> str:
    lines = [f"{exc.path}:{i.line}: {i.message}" if i.line else f"{exc.path}: {i.message}"
             for i in exc.issues]
    return "Invalid spec:\n  " + "\n  ".join(lines)
