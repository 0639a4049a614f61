"""basecamp DAG factory: one Airflow DAG per effective dataset spec (Airflow 3, and 2.10+).

Drop this single file into an Airflow DAG folder next to a local copy of the basecamp spec
store (the usual S3 -> DAG-folder sync). It imports nothing from basecamp: only the
standard library, PyYAML, pendulum and Airflow.

Environment variables (read by the DAG processor, and by the tasks at run time):

    BASECAMP_SPEC_DIR           spec store copy, laid out as code/**/*.yaml|yml and
                                manual/**/*.yaml|yml (default: specs/ beside this file)
    BASECAMP_TEAM               build only the specs of this team (unset/empty: all teams)
    BASECAMP_DAG_PREFIX         dag_id is f"{prefix}__{name}" (unset/empty: the bare name)
    BASECAMP_DEMO_TASK_SECONDS  how long the placeholder run_query sleeps (default 0; a
                                run's ``demo_seconds`` param, when the spec declares it, wins)
    BASECAMP_FAIL_DATASETS      test hook: comma-separated dataset names whose runs fail in
                                run_query (in prepare for SQL DAGs); a truthy `fail` param or
                                dag run conf key does the same for one run, and a conf key
                                `fail_tries: N` for its first N tries (a clear then succeeds)
    BASECAMP_DEMO_FLAKY_DATASETS  the demo's: dataset names whose runs fail about one in
                                three (chosen by the run id, so a retry fails the same way)

Override rule (as in basecamp's spec store): per dataset name a valid code spec wins over
the manual one (a code spec that is invalid or fails to build leaves the manual one in
force); within one source the first valid file in lexicographic path order wins. The team
filter applies to the winning spec.
Tasks: prepare (checks and renders the parameters) -> run_query (SQLExecuteQueryOperator on
the spec's connection_id, else a placeholder that logs the rendered query) -> publish.
A spec's `approval: {before: run_query|publish, subject: ..., body: ...}` adds a task
`approve` (Airflow's ApprovalOperator, Airflow >= 3.1) before that task: the run waits
until a person answers (in basecamp or Airflow's UI); Reject fails the run, so a publish
that was refused shows as failed. On older Airflow the DAG is built without it and a
warning is logged.
A broken spec (bad YAML, missing fields, bad cron) is logged and skipped; it never breaks
the other DAGs. Required parameters have no default and Airflow enforces them when a run
is triggered; a scheduled DAG may not declare a param without a default in Airflow, so
there the param defaults to null and `prepare` fails the run that lacks it, except for the
parameters that take the logical date: required, no default, and of type date or named
execution_date / logical_date / ds. Scheduled and backfill runs fill those with the run's
logical date (YYYY-MM-DD in the workflow's timezone); basecamp's spec parser applies the
same rule and warns, as this file logs, about any other required parameter without a
default on a scheduled workflow.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import time
import zlib
from pathlib import Path
from typing import Any

import pendulum
import yaml

try:  # Airflow 3
    from airflow.sdk import DAG, CronTriggerTimetable, Param, task
except ImportError:  # Airflow 2.x
    from airflow import DAG
    from airflow.decorators import task
    from airflow.models.param import Param
    from airflow.timetables.trigger import CronTriggerTimetable

try:
    from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
except ImportError:  # provider not installed: run_query falls back to the placeholder
    SQLExecuteQueryOperator = None

try:  # Airflow >= 3.1: human-in-the-loop tasks
    from airflow.providers.standard.operators.hitl import ApprovalOperator
except ImportError:  # older Airflow: a spec's `approval` is left out, with a warning
    ApprovalOperator = None

try:
    from croniter import croniter
except ImportError:  # Airflow validates the cron itself then
    croniter = None

log = logging.getLogger("basecamp_dag_factory")
task_log = logging.getLogger("airflow.task")

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
MAX_SPEC_BYTES = 1024 * 1024
PARAM_TYPES = {"string": "string", "int": "integer", "float": "number", "bool": "boolean",
               "date": "string"}
LOGICAL_DATE_NAMES = ("execution_date", "logical_date", "ds")
LOGICAL_DATE_RUN_TYPES = ("scheduled", "backfill")
LOGICAL_DATE_NOTE = "scheduled runs and backfills: the logical date"
START_DATE = (2024, 1, 1)
APPROVAL_BEFORE = ("run_query", "publish")


class SpecError(ValueError):
    pass


def _load_spec(path: Path) -> dict[str, Any]:
    """Parse and check one spec file; raise SpecError when it is unusable."""
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(f"larger than {MAX_SPEC_BYTES} bytes")
    try:
        doc = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"unreadable YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise SpecError("not a mapping")
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError(f"bad or missing name: {name!r}")
    for key in ("owner", "team"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise SpecError(f"{name}: missing {key}")
    schedule = doc.get("schedule")
    if not isinstance(schedule, dict) or not isinstance(schedule.get("cron"), str):
        raise SpecError(f"{name}: missing schedule.cron")
    cron = schedule["cron"].strip()
    if len(cron.split()) != 5 or (croniter is not None and not croniter.is_valid(cron)):
        raise SpecError(f"{name}: bad cron {cron!r}")
    try:
        pendulum.timezone(str(schedule.get("timezone") or "UTC"))
    except Exception as exc:
        raise SpecError(f"{name}: bad timezone {schedule.get('timezone')!r}") from exc
    retry = schedule.get("retry") or {}
    if not isinstance(retry, dict) or not all(
        isinstance(retry.get(k, 1), int) and retry.get(k, 1) >= low
        for k, low in (("max_attempts", 1), ("delay_seconds", 0))
    ):
        raise SpecError(f"{name}: bad schedule.retry {retry!r}")
    approval = doc.get("approval")
    if approval is not None and not (
        isinstance(approval, dict) and approval.get("before") in APPROVAL_BEFORE
        and isinstance(approval.get("subject"), str) and approval["subject"].strip()
        and isinstance(approval.get("body", ""), str)
    ):
        raise SpecError(f"{name}: bad approval {approval!r}")
    params = doc.get("parameters") or []
    if not isinstance(params, list) or not all(
        isinstance(p, dict) and isinstance(p.get("name"), str) and p.get("type", "string")
        in PARAM_TYPES for p in params
    ):
        raise SpecError(f"{name}: bad parameters")
    return doc


def _spec_files(root: Path) -> list[Path]:
    files = [p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def candidates(spec_dir: Path) -> dict[str, list[tuple[str, Path, dict]]]:
    """{name: [(source, path, spec), ...]}: the valid specs of each name, code first."""
    found: dict[str, list[tuple[str, Path, dict]]] = {}
    for source in ("code", "manual"):
        root = spec_dir / source
        if not root.is_dir():
            continue
        for path in _spec_files(root):
            try:
                spec = _load_spec(path)
            except Exception as exc:  # one broken file never stops the others
                log.warning("basecamp: skipping spec %s: %s", path, exc)
                continue
            same = found.setdefault(spec["name"], [])
            if same and same[-1][0] == source:
                log.warning("basecamp: %s duplicates %s (name %s); ignored",
                            path, same[-1][1], spec["name"])
                continue
            same.append((source, path, spec))
    return dict(sorted(found.items()))


def dag_id_for(prefix: str, name: str) -> str:
    """Same rule as basecamp's daemon.naming.dag_id_for."""
    return f"{prefix}__{name}" if prefix else name


def _default(p: dict[str, Any]) -> Any:
    default = p.get("default")
    if isinstance(default, (datetime.date, datetime.datetime)):
        default = default.isoformat()[:10]
    return default


def takes_logical_date(p: dict[str, Any]) -> bool:
    """Same rule as basecamp's Parameter.takes_logical_date."""
    return bool(p.get("required")) and _default(p) is None and (
        p.get("type", "string") == "date" or p.get("name") in LOGICAL_DATE_NAMES)


def unschedulable_warning(name: str) -> str:
    """Same words as basecamp's spec warning."""
    return (f"parameter {name} is required but a scheduled run cannot supply it: give it a "
            "default or make it optional")


def _param(p: dict[str, Any], scheduled: bool) -> Any:
    kind = p.get("type", "string")
    extra: dict[str, Any] = {"format": "date"} if kind == "date" else {}
    desc = p.get("description") or f"{kind}, {'required' if p.get('required') else 'optional'}"
    if takes_logical_date(p):
        desc = f"{desc} ({LOGICAL_DATE_NOTE})"
    default = _default(p)
    if default is not None:
        return Param(default, type=PARAM_TYPES[kind], description=desc, **extra)
    if p.get("required") and not scheduled:  # no default: Airflow enforces it at trigger
        return Param(type=PARAM_TYPES[kind], description=desc, **extra)
    return Param(None, type=[PARAM_TYPES[kind], "null"], description=desc, **extra)


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("1", "true", "yes", "on")


def _demo_seconds(context: Any) -> float:
    """How long the placeholder sleeps: the run's ``demo_seconds`` param (tests and the
    demo use it to have a run to stop), else $BASECAMP_DEMO_TASK_SECONDS."""
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    for value in (conf.get("demo_seconds"), (context.get("params") or {}).get("demo_seconds")):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return float(os.environ.get("BASECAMP_DEMO_TASK_SECONDS") or 0)


def _listed(variable: str) -> set[str]:
    return {n.strip() for n in os.environ.get(variable, "").split(",") if n.strip()}


def _should_fail(name: str, context: dict[str, Any]) -> bool:
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    run_id = str(context.get("run_id") or "")
    flaky = name in _listed("BASECAMP_DEMO_FLAKY_DATASETS") and zlib.crc32(run_id.encode()) % 3 == 0
    fail_tries = conf.get("fail_tries")  # fail the first N tries: a retry (clear) succeeds
    try_number = getattr(context.get("ti"), "try_number", 1) or 1
    early_try = isinstance(fail_tries, int) and try_number <= fail_tries
    return (name in _listed("BASECAMP_FAIL_DATASETS") or flaky or early_try
            or _truthy((context.get("params") or {}).get("fail")) or _truthy(conf.get("fail")))


def _logical_day(context: dict[str, Any], tz: Any) -> str | None:
    """The run's logical date as YYYY-MM-DD in ``tz``, for scheduled and backfill runs."""
    run_type = getattr(context.get("dag_run"), "run_type", None)
    logical_date = context.get("logical_date")
    if getattr(run_type, "value", run_type) not in LOGICAL_DATE_RUN_TYPES or logical_date is None:
        return None
    return pendulum.instance(logical_date).in_timezone(tz).to_date_string()


def _query_text(spec: dict[str, Any], path: Path, spec_dir: Path) -> str | None:
    query_file = spec.get("query_file")
    if not query_file:
        return None
    for base in (path.parent, spec_dir):
        candidate = base / str(query_file)
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return None


def build_dag(source: str, path: Path, spec: dict[str, Any], spec_dir: Path, prefix: str):
    name = spec["name"]
    schedule_cfg = spec["schedule"]
    tz = pendulum.timezone(str(schedule_cfg.get("timezone") or "UTC"))
    enabled = schedule_cfg.get("enabled", True) is not False
    retry = schedule_cfg.get("retry") or {}
    attempts = int(retry.get("max_attempts", 1))
    delay = datetime.timedelta(seconds=int(retry.get("delay_seconds", 300)))
    timetable = CronTriggerTimetable(schedule_cfg["cron"].strip(), timezone=tz) if enabled else None
    spec_params = spec.get("parameters") or []
    params = {p["name"]: _param(p, scheduled=enabled) for p in spec_params}
    required = [p["name"] for p in spec_params if p.get("required")]
    dated = [p["name"] for p in spec_params if takes_logical_date(p)]
    if enabled:
        for p in spec_params:
            if p.get("required") and _default(p) is None and p["name"] not in dated:
                log.warning("basecamp: %s: %s", name, unschedulable_warning(p["name"]))
    query = _query_text(spec, path, spec_dir)
    if spec.get("connection_id") and query is None:
        raise SpecError(f"{name}: query_file {spec.get('query_file')!r} not found")
    query = query or f"-- {name}: no query_file; placeholder run"
    use_sql = bool(spec.get("connection_id")) and SQLExecuteQueryOperator is not None

    dag = DAG(
        dag_id=dag_id_for(prefix, name),
        description=str(spec.get("description") or "")[:1000] or None,
        schedule=timetable,
        start_date=pendulum.datetime(*START_DATE, tz=tz),
        catchup=False,
        params=params,
        is_paused_upon_creation=False,
        auto_register=False,  # only DAGs that were built completely reach globals()
        tags=[spec["team"], f"source:{source}", spec["owner"]],
        default_args={"owner": spec["owner"], "retries": attempts - 1, "retry_delay": delay},
    )

    with dag:
        @task(task_id="prepare")
        def prepare(**context: Any) -> dict[str, Any]:
            values = {k: v for k, v in (context.get("params") or {}).items()}
            day = _logical_day(context, tz)
            for key in dated:
                if values.get(key) in (None, "") and day is not None:
                    values[key] = day
            missing = [k for k in required if values.get(k) in (None, "")]
            if missing:
                raise ValueError(f"Missing required parameter: {', '.join(missing)}")
            if use_sql and _should_fail(name, context):
                raise RuntimeError(f"basecamp test hook: dataset {name} was told to fail")
            task_log.info("basecamp %s (%s spec %s) parameters: %s",
                          name, source, path.name, values)
            return {k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
                    for k, v in values.items()}

        if use_sql:
            run_query = SQLExecuteQueryOperator(
                task_id="run_query", conn_id=spec["connection_id"], sql=query)
        else:
            @task(task_id="run_query")
            def placeholder(rendered_query: str, **context: Any) -> None:
                task_log.info("basecamp %s would run:\n%s", name, rendered_query)
                if _should_fail(name, context):
                    raise RuntimeError(f"basecamp test hook: dataset {name} was told to fail")
                time.sleep(_demo_seconds(context))

            run_query = placeholder(query)

        @task(task_id="publish")
        def publish(**context: Any) -> None:
            task_log.info("basecamp %s published (run %s)", name, context.get("run_id"))

        chain = [prepare(), run_query, publish()]
        gate = _approval_task(name, spec.get("approval"))
        if gate is not None:
            chain.insert(APPROVAL_BEFORE.index(spec["approval"]["before"]) + 1, gate)
        for upstream, downstream in zip(chain, chain[1:]):
            upstream >> downstream

    if hasattr(dag, "validate"):
        dag.validate()
    return dag


def _approval_task(name: str, approval: dict[str, Any] | None) -> Any:
    """The `approve` task of a spec's approval, or None (no approval, or an Airflow
    without human-in-the-loop tasks: then a warning)."""
    if approval is None:
        return None
    if ApprovalOperator is None:
        log.warning("basecamp: %s: approval ignored: it needs Airflow 3.1 or later "
                    "(human-in-the-loop tasks)", name)
        return None
    text = {"subject": approval["subject"], "body": approval.get("body") or None}
    try:
        return ApprovalOperator(task_id="approve", fail_on_reject=True, **text)
    except TypeError:  # a standard provider before fail_on_reject: Reject skips downstream
        log.warning("basecamp: %s: this Airflow's approval skips the rest of the run on "
                    "Reject instead of failing it", name)
        return ApprovalOperator(task_id="approve", **text)


def build_all(spec_dir: Path, team: str, prefix: str) -> dict[str, Any]:
    """The DAGs of ``team``: per name the code spec, or the manual one if code is unusable."""
    dags: dict[str, Any] = {}
    for name, specs in candidates(spec_dir).items():
        for source, path, spec in specs:
            if team and spec["team"] != team:
                break  # the effective spec belongs to another team's cluster
            try:
                dag = build_dag(source, path, spec, spec_dir, prefix)
            except Exception as exc:  # one broken spec never breaks the other DAGs
                log.warning("basecamp: no DAG for %s from %s: %s", name, path, exc)
                continue
            dags[dag.dag_id] = dag
            break
    return dags


_SPEC_DIR = Path(os.environ.get("BASECAMP_SPEC_DIR") or Path(__file__).resolve().parent / "specs")
globals().update(build_all(
    _SPEC_DIR,
    os.environ.get("BASECAMP_TEAM", "").strip(),
    os.environ.get("BASECAMP_DAG_PREFIX", "").strip(),
))
