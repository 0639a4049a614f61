"""A stateful simulated Airflow 3 REST API (``/api/v2``), served in-process as an httpx
transport: DAGs, DAG runs with ``updated_at``, task instances with their earlier tries,
task logs with continuation tokens, with real Airflow's filter and pagination semantics for the
endpoints basecamp uses (``limit`` clamped to
``maximum_page_limit``, ``offset``, ``updated_at_gte``, ``order_by``, ``paused``,
``dag_id_pattern`` as a substring match, task-instance batches filtered as
``dag_ids × dag_run_ids``). ``tests/integration/test_sim_parity.py`` runs the same queries
against a real Airflow 3 to keep it honest.

Used by the run-sync tests and ``bench/run_sync.py``; each request can be delayed by a
fixed latency and is counted per endpoint.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime as http_date
from typing import Any, Callable
from urllib.parse import unquote

import httpx

MAX_PAGE = 100
_HITL_PATH = (r"/api/v2/dags/(?P<dag>[^/~]+)/dagRuns/(?P<run>[^/~]+)/taskInstances/"
              r"(?P<task>[^/]+)/(?P<map>-?\d+)/hitlDetails")
_LOG_PATH = (r"/api/v2/dags/(?P<dag>[^/~]+)/dagRuns/(?P<run>[^/~]+)/taskInstances/"
             r"(?P<task>[^/]+)/logs/(?P<try>\d+)")
_TRIES_PATH = (r"/api/v2/dags/(?P<dag>[^/~]+)/dagRuns/(?P<run>[^/~]+)/taskInstances/"
                r"(?P<task>[^/]+?)(?:/(?P<map>-?\d+))?/tries")
_LOG_TOKEN = "sim-log:"


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def fake_jwt(lifetime: float = 3600) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'HS512'})}.{part({'exp': int(time.time() + lifetime)})}.sig"


@dataclass
class SimRun:
    dag_id: str
    dag_run_id: str
    state: str
    run_type: str = "scheduled"
    logical_date: datetime | None = None
    queued_at: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    conf: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {
            "dag_run_id": self.dag_run_id, "dag_id": self.dag_id, "state": self.state,
            "run_type": self.run_type, "triggered_by": "rest_api" if self.run_type == "manual" else "timetable",
            "logical_date": iso(self.logical_date), "queued_at": iso(self.queued_at),
            "start_date": iso(self.start_date), "end_date": iso(self.end_date),
            "conf": self.conf, "note": None,
        }


@dataclass
class SimTask:
    dag_id: str
    dag_run_id: str
    task_id: str
    state: str | None = None
    try_number: int = 0
    start_date: datetime | None = None
    end_date: datetime | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    queued_when: datetime | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    """Earlier tries, as Airflow's task-instance history lists them."""

    def json(self) -> dict[str, Any]:
        duration = None
        if self.start_date and self.end_date:
            duration = (self.end_date - self.start_date).total_seconds()
        return {
            "dag_id": self.dag_id, "dag_run_id": self.dag_run_id, "task_id": self.task_id,
            "map_index": -1, "state": self.state, "try_number": self.try_number,
            "start_date": iso(self.start_date), "end_date": iso(self.end_date), "duration": duration,
            "queued_when": iso(self.queued_when),
        }


class SimAirflow:
    """The simulated cluster's state plus the request handler."""

    def __init__(self, latency: float = 0.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.latency = latency
        self.clock = clock
        """The cluster's clock: every timestamp it writes and its HTTP ``Date`` header."""
        self.dags: dict[str, bool] = {}  # dag_id -> is_paused
        self.runs: dict[tuple[str, str], SimRun] = {}
        self.tasks: dict[tuple[str, str], list[SimTask]] = {}
        self.requests: Counter[str] = Counter()
        self.hitl: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.logs: dict[tuple[str, str, str, int], list[str]] = {}
        """Log lines by (dag_id, dag_run_id, task_id, try_number); see :meth:`write_log`."""
        """Human-in-the-loop details by (dag_id, dag_run_id, task_id), as Airflow's JSON."""
        self.down = False
        self.lock = threading.Lock()
        self.hold_trigger_answers: threading.Event | None = None
        """When set to an Event: a trigger is carried out, but its answer waits for the
        event (a client that dies meanwhile never learns the run exists)."""

    # --- state changes (what a scheduler would do) -----------------------------------

    def add_dag(self, dag_id: str, paused: bool = False) -> None:
        self.dags[dag_id] = paused

    def add_run(self, dag_id: str, dag_run_id: str, state: str, task_ids: list[str],
                *, task_state: str | None = None, when: datetime | None = None) -> SimRun:
        now = when or self.clock()
        run = SimRun(dag_id, dag_run_id, state, logical_date=now, queued_at=now,
                     start_date=now if state != "queued" else None,
                     end_date=now if state in ("success", "failed") else None, updated_at=now)
        self.runs[(dag_id, dag_run_id)] = run
        self.tasks[(dag_id, dag_run_id)] = [
            SimTask(dag_id, dag_run_id, t, task_state, 1 if task_state else 0, updated_at=now)
            for t in task_ids
        ]
        return run

    def ask(self, dag_id: str, dag_run_id: str, task_id: str, subject: str,
            options: tuple[str, ...] = ("Approve", "Reject"), *, body: str | None = None,
            params: dict[str, Any] | None = None, multiple: bool = False) -> None:
        """A task of the run starts waiting for a person (Airflow ≥ 3.1's HITL)."""
        for task in self.tasks[(dag_id, dag_run_id)]:
            if task.task_id == task_id:
                task.state, task.updated_at = "awaiting_input", self.clock()
        self.hitl[(dag_id, dag_run_id, task_id)] = {
            "task_instance": {"dag_id": dag_id, "dag_run_id": dag_run_id, "task_id": task_id,
                              "map_index": -1, "state": "awaiting_input"},
            "subject": subject, "body": body, "options": list(options), "multiple": multiple,
            "defaults": None, "params": params or {}, "created_at": iso(self.clock()),
            "response_received": False, "chosen_options": None, "responded_by_user": None,
            "responded_at": None, "params_input": {}}

    def answer(self, dag_id: str, dag_run_id: str, task_id: str, chosen: list[str],
               by: str = "someone") -> dict[str, Any]:
        """A person answers (here or in Airflow's UI); the task resumes and succeeds."""
        detail = self.hitl[(dag_id, dag_run_id, task_id)]
        detail.update(response_received=True, chosen_options=chosen, responded_at=iso(self.clock()),
                      responded_by_user={"id": by, "name": by})
        detail["task_instance"]["state"] = "success"
        for task in self.tasks[(dag_id, dag_run_id)]:
            if task.task_id == task_id:
                task.state, task.updated_at = "success", self.clock()
        return detail

    def write_log(self, dag_id: str, dag_run_id: str, task_id: str, try_number: int,
                  *lines: str) -> None:
        """The task try writes log lines (served by the log endpoint, with tokens)."""
        self.logs.setdefault((dag_id, dag_run_id, task_id, try_number), []).extend(lines)

    def runs_of(self, dag_id: str) -> list[SimRun]:
        with self.lock:
            return [run for (dag, _), run in self.runs.items() if dag == dag_id]

    def fail_try(self, dag_id: str, dag_run_id: str, task_id: str) -> SimTask:
        """The task's running try fails and it waits to be retried, as Airflow records
        it: the try goes into the history (failed), the instance is ``up_for_retry``."""
        now = self.clock()
        task = next(t for t in self.tasks[(dag_id, dag_run_id)] if t.task_id == task_id)
        task.state, task.end_date, task.updated_at = "up_for_retry", now, now
        task.history.append({**task.json(), "state": "failed"})
        return task

    def retry(self, dag_id: str, dag_run_id: str, task_id: str, *,
              queued_for: float = 0) -> SimTask:
        """The task's next try runs: queued ``queued_for`` seconds ago, started now."""
        now = self.clock()
        task = next(t for t in self.tasks[(dag_id, dag_run_id)] if t.task_id == task_id)
        task.try_number += 1
        task.state, task.queued_when = "running", now - timedelta(seconds=queued_for)
        task.start_date, task.end_date, task.updated_at = now, None, now
        self.touch(self.runs[(dag_id, dag_run_id)])
        return task

    def touch(self, run: SimRun, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(run, key, value)
        run.updated_at = self.clock()

    def advance(self, dag_id: str, dag_run_id: str) -> None:
        """One more task of the run succeeds (and the next starts); the run's updated_at
        moves, as Airflow's scheduler does for a running run."""
        now = self.clock()
        tasks = self.tasks[(dag_id, dag_run_id)]
        for task in tasks:
            if task.state == "running":
                task.state, task.end_date, task.updated_at = "success", now, now
                break
        for task in tasks:
            if task.state in (None, "scheduled", "queued"):
                task.state, task.start_date, task.try_number, task.updated_at = "running", now, 1, now
                task.queued_when = now
                break
        run = self.runs[(dag_id, dag_run_id)]
        if all(t.state == "success" for t in tasks):
            self.touch(run, state="success", end_date=now)
        else:
            self.touch(run)

    # --- HTTP ---------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.latency:
            time.sleep(self.latency)
        if self.down:
            raise httpx.ConnectError("simulated cluster is down", request=request)
        path = unquote(request.url.path)
        with self.lock:
            response = self._route(request, path)
        if self.hold_trigger_answers is not None and request.method == "POST" and path.endswith("/dagRuns"):
            self.hold_trigger_answers.wait(30)
        response.headers["Date"] = http_date(self.clock(), usegmt=True)
        return response

    def _route(self, request: httpx.Request, path: str) -> httpx.Response:
        method = request.method
        routes = [
            ("POST", r"/auth/token", self._token),
            ("GET", r"/api/v2/version", lambda r: httpx.Response(200, json={"version": "3.3.2", "git_version": None})),
            ("GET", r"/api/v2/importErrors", lambda r: httpx.Response(200, json={"import_errors": [], "total_entries": 0})),
            ("GET", r"/api/v2/monitor/health", lambda r: httpx.Response(200, json={"metadatabase": {"status": "healthy"}})),
            ("GET", r"/api/v2/dags", self._list_dags),
            ("GET", r"/api/v2/dags/(?P<dag>[^/~]+)", self._get_dag),
            ("PATCH", r"/api/v2/dags/(?P<dag>[^/]+)", self._patch_dag),
            ("GET", r"/api/v2/dags/(?P<dag>[^/]+)/dagRuns", self._list_runs),
            ("POST", r"/api/v2/dags/(?P<dag>[^/]+)/dagRuns", self._trigger),
            ("GET", r"/api/v2/dags/(?P<dag>[^/]+)/dagRuns/(?P<run>[^/]+)", self._get_run),
            ("PATCH", r"/api/v2/dags/(?P<dag>[^/]+)/dagRuns/(?P<run>[^/]+)", self._patch_run),
            ("GET", r"/api/v2/dags/(?P<dag>[^/]+)/dagRuns/(?P<run>[^/]+)/taskInstances", self._run_tasks),
            ("POST", r"/api/v2/dags/~/dagRuns/~/taskInstances/list", self._list_tasks),
            ("POST", r"/api/v2/backfills/dry_run", self._backfill_dry_run),
            ("GET", r"/api/v2/dags/~/dagRuns/~/hitlDetails", self._list_hitl),
            ("GET", _HITL_PATH, self._get_hitl),
            ("PATCH", _HITL_PATH, self._patch_hitl),
            ("GET", _LOG_PATH, self._get_log),
            ("GET", _TRIES_PATH, self._get_tries),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                self.requests[f"{verb} {pattern}"] += 1
                request.extensions["match"] = match.groupdict()
                return handler(request)
        return httpx.Response(404, json={"detail": "Not Found"})

    def _list_hitl(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        details = list(self.hitl.values())
        if "response_received" in params:
            wanted = params["response_received"].lower() == "true"
            details = [d for d in details if d["response_received"] is wanted]
        if "dag_id_pattern" in params:
            needle = params["dag_id_pattern"].lower()
            details = [d for d in details if needle in d["task_instance"]["dag_id"].lower()]
        page, total = self._page(details, request)
        return httpx.Response(200, json={"hitl_details": page, "total_entries": total})

    def _hitl_of(self, request: httpx.Request) -> dict[str, Any] | None:
        match = request.extensions["match"]
        return self.hitl.get((match["dag"], match["run"], match["task"]))

    def _get_hitl(self, request: httpx.Request) -> httpx.Response:
        detail = self._hitl_of(request)
        if detail is None:
            return httpx.Response(404, json={"detail": "Human-in-the-loop detail not found"})
        return httpx.Response(200, json=detail)

    def _patch_hitl(self, request: httpx.Request) -> httpx.Response:
        detail = self._hitl_of(request)
        if detail is None:
            return httpx.Response(404, json={"detail": "Human-in-the-loop detail not found"})
        if detail["response_received"]:
            return httpx.Response(409, json={"detail": (
                "Human-in-the-loop detail has already been updated for Task Instance with id "
                "sim and is not allowed to write again.")})
        body = json.loads(request.content)
        ti = detail["task_instance"]
        done = self.answer(ti["dag_id"], ti["dag_run_id"], ti["task_id"], body["chosen_options"],
                           by="admin")
        done["params_input"] = body.get("params_input") or {}
        return httpx.Response(200, json={
            "responded_by": done["responded_by_user"], "responded_at": done["responded_at"],
            "chosen_options": done["chosen_options"], "params_input": done["params_input"]})

    def _get_log(self, request: httpx.Request) -> httpx.Response:
        """Airflow 3's JSON log answer: structured messages from the token's position on
        (``token`` is opaque here, signed in Airflow: anything else is 400), and a new
        token while the try can still write (running or deferred), else null."""
        match = request.extensions["match"]
        try_number = int(match["try"])
        task = next((t for t in self.tasks.get((match["dag"], match["run"]), [])
                     if t.task_id == match["task"]), None)
        if task is None or not 1 <= try_number <= task.try_number:
            return httpx.Response(404, json={"detail": "TaskInstance not found"})
        token = request.url.params.get("token")
        position = 0
        if token:
            if not token.startswith(_LOG_TOKEN) or not token[len(_LOG_TOKEN):].isdigit():
                return httpx.Response(400, json={"detail": "Bad Signature. Please use only "
                                                           "the tokens provided by the API."})
            position = int(token[len(_LOG_TOKEN):])
        lines = self.logs.get((match["dag"], match["run"], match["task"], try_number), [])
        done = task.try_number != try_number or task.state not in ("running", "deferred")
        return httpx.Response(200, json={
            "content": [{"event": line, "level": "info"} for line in lines[position:]],
            "continuation_token": None if done else f"{_LOG_TOKEN}{len(lines)}"})

    def _get_tries(self, request: httpx.Request) -> httpx.Response:
        """Airflow's tries listing: the history, then the instance itself unless it waits
        for a retry (that try is in the history already)."""
        match = request.extensions["match"]
        task = next((t for t in self.tasks.get((match["dag"], match["run"]), [])
                     if t.task_id == match["task"] and int(match["map"] or -1) == -1), None)
        if task is None:
            return httpx.Response(404, json={"detail": "The Task Instance was not found"})
        tries = [*task.history] + ([] if task.state == "up_for_retry" else [task.json()])
        return httpx.Response(200, json={"task_instances": tries, "total_entries": len(tries)})

    def _token(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"access_token": fake_jwt()})

    @staticmethod
    def _page(items: list[Any], request: httpx.Request) -> tuple[list[Any], int]:
        limit = min(int(request.url.params.get("limit", MAX_PAGE)), MAX_PAGE)
        offset = int(request.url.params.get("offset", 0))
        return items[offset : offset + limit], len(items)

    def _list_dags(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        dags = sorted(self.dags.items())
        if "paused" in params:
            wanted = params["paused"].lower() == "true"
            dags = [d for d in dags if d[1] == wanted]
        if "dag_id_pattern" in params:
            needle = params["dag_id_pattern"].lower()
            dags = [d for d in dags if needle in d[0].lower()]
        page, total = self._page(dags, request)
        return httpx.Response(200, json={
            "dags": [{"dag_id": d, "is_paused": p} for d, p in page], "total_entries": total})

    def _backfill_dry_run(self, request: httpx.Request) -> httpx.Response:
        """Every simulated DAG runs daily at 09:00 UTC."""
        body = json.loads(request.content)
        if body["dag_id"] not in self.dags:
            return httpx.Response(404, json={"detail": f"Could not find dag {body['dag_id']}"})
        day, last = parse_iso(body["from_date"]).date(), parse_iso(body["to_date"])
        dates = []
        while (when := datetime(day.year, day.month, day.day, 9, tzinfo=timezone.utc)) <= last:
            if when >= parse_iso(body["from_date"]):
                dates.append({"logical_date": iso(when), "partition_key": None, "partition_date": None})
            day += timedelta(days=1)
        return httpx.Response(200, json={"backfills": dates, "total_entries": len(dates)})

    def _get_dag(self, request: httpx.Request) -> httpx.Response:
        dag = request.extensions["match"]["dag"]
        if dag not in self.dags:
            return httpx.Response(404, json={"detail": f"DAG {dag} not found"})
        return httpx.Response(200, json={"dag_id": dag, "is_paused": self.dags[dag]})

    def _patch_dag(self, request: httpx.Request) -> httpx.Response:
        dag = request.extensions["match"]["dag"]
        if dag not in self.dags:
            return httpx.Response(404, json={"detail": f"DAG {dag} not found"})
        self.dags[dag] = bool(json.loads(request.content)["is_paused"])
        return httpx.Response(200, json={"dag_id": dag, "is_paused": self.dags[dag]})

    def _list_runs(self, request: httpx.Request) -> httpx.Response:
        dag, params = request.extensions["match"]["dag"], request.url.params
        runs = [r for r in self.runs.values() if dag == "~" or r.dag_id == dag]
        if "updated_at_gte" in params:
            since = parse_iso(params["updated_at_gte"])
            runs = [r for r in runs if r.updated_at >= since]
        order = params.get("order_by", "id")
        field_name = order.lstrip("-")
        key = {"updated_at": lambda r: r.updated_at, "id": lambda r: (r.queued_at, r.dag_run_id)}.get(
            field_name, lambda r: r.updated_at)
        runs.sort(key=key, reverse=order.startswith("-"))
        page, total = self._page(runs, request)
        return httpx.Response(200, json={"dag_runs": [r.json() for r in page], "total_entries": total})

    def _get_run(self, request: httpx.Request) -> httpx.Response:
        match = request.extensions["match"]
        run = self.runs.get((match["dag"], match["run"]))
        if run is None:
            return httpx.Response(404, json={"detail": "DagRun not found"})
        return httpx.Response(200, json=run.json())

    def _trigger(self, request: httpx.Request) -> httpx.Response:
        dag = request.extensions["match"]["dag"]
        body = json.loads(request.content)
        run_id = body.get("dag_run_id") or f"manual__{self.clock().isoformat()}"
        if dag not in self.dags:
            return httpx.Response(404, json={"detail": f"DAG {dag} not found"})
        if (dag, run_id) in self.runs:
            return httpx.Response(409, json={"detail": "DAG Run already exists"})
        run = self.add_run(dag, run_id, "queued", ["prepare", "run_query", "publish"])
        run.run_type, run.conf = "manual", body.get("conf") or {}
        return httpx.Response(200, json=run.json())

    def _patch_run(self, request: httpx.Request) -> httpx.Response:
        match = request.extensions["match"]
        run = self.runs.get((match["dag"], match["run"]))
        if run is None:
            return httpx.Response(404, json={"detail": "DagRun not found"})
        self.touch(run, state=json.loads(request.content)["state"], end_date=self.clock())
        return httpx.Response(200, json=run.json())

    def _run_tasks(self, request: httpx.Request) -> httpx.Response:
        """Task instances of one run, or with ``~`` of every run, filterable by
        ``updated_at_gte``; like Airflow 3, only ``order_by=id`` (creation order) is allowed."""
        match, params = request.extensions["match"], request.url.params
        if match["run"] != "~" and (match["dag"], match["run"]) not in self.runs:
            return httpx.Response(404, json={"detail": "DagRun not found"})
        tasks = [
            t for (dag, run), ts in sorted(self.tasks.items(), key=lambda kv: kv[0])
            if match["dag"] in ("~", dag) and match["run"] in ("~", run) for t in ts
        ]
        if "updated_at_gte" in params:
            since = parse_iso(params["updated_at_gte"])
            tasks = [t for t in tasks if t.updated_at >= since]
        if params.get("order_by", "id").lstrip("-") != "id":
            return httpx.Response(400, json={"detail": "Ordering is disallowed"})
        page, total = self._page(tasks, request)
        return httpx.Response(200, json={"task_instances": [t.json() for t in page], "total_entries": total})

    def _list_tasks(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        dag_ids, run_ids = set(body.get("dag_ids") or []), set(body.get("dag_run_ids") or [])
        tasks = [
            t for (dag, run), ts in sorted(self.tasks.items(), key=lambda kv: kv[0])
            if (not dag_ids or dag in dag_ids) and (not run_ids or run in run_ids) for t in ts
        ]
        limit = min(int(body.get("page_limit", MAX_PAGE)), MAX_PAGE)
        offset = int(body.get("page_offset", 0))
        return httpx.Response(200, json={
            "task_instances": [t.json() for t in tasks[offset : offset + limit]],
            "total_entries": len(tasks)})


def days_ago(days: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=days)
