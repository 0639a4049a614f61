"""One client per cluster, one interface over Airflow 3 (``/api/v2``) and Airflow 2
(``/api/v1``).

The dialect comes from ``api_version`` in the config, or is detected once on first
use (``auto``: ``GET /api/v2/version``, then ``/api/v1/version``). Paths are built
here with every id URL-encoded (dag ids hold dots, run ids ``:`` and ``+``); sending,
auth, retries and the circuit breaker live in :mod:`daemon.airflow.http`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import quote

import httpx

from daemon.airflow.auth import make_auth
from daemon.airflow.backfills import BackfillsAPI
from daemon.airflow.errors import (
    AirflowAuthError,
    AirflowNotFound,
    AirflowPermissionError,
    AirflowProtocolError,
)
from daemon.airflow.http import Session
from daemon.airflow.logs import LogChunk, render_log, render_log_chunk, tail
from daemon.airflow.models import (
    DagRunInfo,
    TaskInstanceInfo,
    VersionInfo,
    dag_run_from_json,
    task_instance_from_json,
)
from daemon.airflow.operate import OperateAPI
from daemon.airflow.tries import TriesAPI
from daemon.core.config import ClusterConfig
from daemon.core.timefmt import iso_z

log = logging.getLogger(__name__)

RUNS_PER_TI_REQUEST = 50
"""Runs per task-instance batch request: keeps bodies and result sets small."""
MAX_PAGES = 10_000
"""A guard against a server that never ends a listing."""


def _seg(value: str) -> str:
    """One URL path segment, everything but unreserved characters escaped."""
    return quote(value, safe="")


def _server_time(response: httpx.Response) -> datetime | None:
    """The ``Date`` header as aware UTC: the server's clock, not ours, so a skewed
    local clock cannot open a gap in the incremental sync."""
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


class AirflowClient(BackfillsAPI, OperateAPI, TriesAPI):
    """The REST client of one cluster. Thread-safe; ``close()`` when done."""

    def __init__(self, cluster: ClusterConfig, *, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 rng: Callable[[], float] = random.random) -> None:
        self.cluster = cluster
        url = cluster.url.rstrip("/")
        timeout = httpx.Timeout(cluster.timeout_seconds, connect=min(5.0, cluster.timeout_seconds))
        self._http = httpx.Client(transport=transport, timeout=timeout,
                                  verify=cluster.verify_tls, follow_redirects=False,
                                  headers={"User-Agent": "basecamp",
                                           "Accept": "application/json"})
        self._session = Session(cluster.name, url, cluster.timeout_seconds, self._http,
                                sleep=sleep, clock=clock, rng=rng)
        self._session.auth = make_auth(cluster, self._http, clock)
        self._lock = threading.Lock()
        self._version: VersionInfo | None = None

    def __repr__(self) -> str:
        return (f"AirflowClient(cluster={self.cluster.name!r}, url={self.cluster.url!r}, "
                f"auth={self.cluster.auth!r})")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- version and health ----------------------------------------------------------

    @property
    def breaker_state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        return self._session.breaker.state

    @property
    def consecutive_failures(self) -> int:
        return self._session.breaker.failures

    @property
    def api_version(self) -> str:
        """``v2`` or ``v1``: the configured one, or detected (one request) on first use."""
        if self.cluster.api_version in ("v1", "v2"):
            return self.cluster.api_version
        return self.version().api_version

    @property
    def airflow_version(self) -> str:
        """The server's Airflow version (fetched once)."""
        return self.version().airflow_version

    def version(self, *, refresh: bool = False) -> VersionInfo:
        """API dialect and Airflow version, cached; ``refresh=True`` asks again (a
        health probe). ``GET /version`` needs no auth on either version; it is sent
        with credentials only if a proxy in front asks for them."""
        with self._lock:
            if self._version is not None and not refresh:
                return self._version
        if self.cluster.api_version in ("v1", "v2"):
            info = self._fetch_version(self.cluster.api_version)
            if info is None:
                raise AirflowNotFound(self.cluster.name, f"no /api/{self.cluster.api_version} "
                                      f"on Airflow cluster {self.cluster.name} at "
                                      f"{self.cluster.url}: check url and api_version")
        else:
            info = self._fetch_version("v2") or self._fetch_version("v1")
            if info is None:
                raise AirflowNotFound(self.cluster.name, f"no Airflow REST API at "
                                      f"{self.cluster.url} (neither /api/v2 nor /api/v1): "
                                      f"check url of cluster {self.cluster.name}")
        with self._lock:
            if self._version is None or self._version.api_version != info.api_version:
                log.info("cluster %s: Airflow %s, API %s", self.cluster.name,
                         info.airflow_version, info.api_version)
            self._version = info
        return info

    def _fetch_version(self, api: str) -> VersionInfo | None:
        """None when the dialect is not there (404, or 200 without a version: an HTML
        page from a proxy)."""
        try:
            try:
                response = self._session.request("GET", f"api/{api}/version",
                                                 authenticated=False)
            except (AirflowAuthError, AirflowPermissionError):
                response = self._session.request("GET", f"api/{api}/version")
        except AirflowNotFound:
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        version = data.get("version") if isinstance(data, dict) else None
        return VersionInfo(api, version) if isinstance(version, str) else None

    def health(self) -> dict[str, Any]:
        """The scheduler/metadatabase/triggerer health document, as Airflow sends it."""
        path = "api/v2/monitor/health" if self.api_version == "v2" else "api/v1/health"
        return self._json(self._session.request("GET", path), path)

    # --- runs ------------------------------------------------------------------------

    @property
    def _base(self) -> str:
        return f"api/{self.api_version}"

    def list_dag_runs(self, *, updated_at_gte: datetime | None,
                      page_size: int = 100) -> tuple[list[DagRunInfo], datetime | None]:
        """Every run of every DAG updated at or after ``updated_at_gte`` (all when
        None), and the server time of the first request (the next cursor; None if the
        server sent no ``Date``). Offset paging over a changing list may repeat or skip
        a run updated meanwhile; a skipped one was updated after the cursor returned
        here, so the next call finds it. Repeats are dropped."""
        params: dict[str, Any] = {"order_by": "updated_at", "limit": page_size}
        if updated_at_gte is not None:
            params["updated_at_gte"] = iso_z(updated_at_gte, "auto")
        path = f"{self._base}/dags/~/dagRuns"
        server_time: list[datetime | None] = []

        def page(offset: int) -> tuple[list[Any], int | None]:
            response = self._session.request("GET", path, params={**params, "offset": offset})
            if not server_time:
                server_time.append(_server_time(response))
            return self._items(response, path, "dag_runs")

        runs: dict[tuple[str, str], DagRunInfo] = {}
        for item in self._paginate(page, page_size):
            run = self._parse(dag_run_from_json, item, path)
            runs[(run.dag_id, run.dag_run_id)] = run
        return list(runs.values()), server_time[0] if server_time else None

    def get_dag_run(self, dag_id: str, dag_run_id: str) -> DagRunInfo:
        path = f"{self._base}/dags/{_seg(dag_id)}/dagRuns/{_seg(dag_run_id)}"
        return self._parse(dag_run_from_json, self._json(self._session.request("GET", path),
                                                         path), path)

    def trigger_dag_run(self, dag_id: str, dag_run_id: str, conf: dict[str, Any], *,
                        logical_date: datetime | None = None,
                        note: str | None = None) -> DagRunInfo:
        """Create a run with our ``dag_run_id``, which makes the POST idempotent: it is
        retried like a GET (Airflow on SQLite answers 500 while its database is locked),
        and a retry whose first attempt went through gets a 409
        (:class:`AirflowConflict`): a run with this id exists, which callers handle."""
        body: dict[str, Any] = {"dag_run_id": dag_run_id, "conf": conf}
        if self.api_version == "v2":
            # Airflow 3 requires the key; null lets it run "now" with no logical date.
            body["logical_date"] = iso_z(logical_date, "auto") if logical_date else None
        elif logical_date is not None:
            body["logical_date"] = iso_z(logical_date, "auto")
        if note is not None:
            body["note"] = note
        path = f"{self._base}/dags/{_seg(dag_id)}/dagRuns"
        response = self._session.request("POST", path, json=body)
        return self._parse(dag_run_from_json, self._json(response, path), path)

    def set_dag_run_state(self, dag_id: str, dag_run_id: str, state: str) -> DagRunInfo:
        """Mark a run ``failed`` (stop), ``success`` or ``queued``; idempotent."""
        path = f"{self._base}/dags/{_seg(dag_id)}/dagRuns/{_seg(dag_run_id)}"
        response = self._session.request("PATCH", path, json={"state": state})
        return self._parse(dag_run_from_json, self._json(response, path), path)

    def dag_runs_of(self, dag_id: str, dag_run_ids: list[str]) -> dict[str, DagRunInfo]:
        """The runs of ``dag_id`` with the given ids that exist (a backfill's progress)."""
        found: dict[str, DagRunInfo] = {}
        for run_id in dag_run_ids:
            try:
                found[run_id] = self.get_dag_run(dag_id, run_id)
            except AirflowNotFound:
                continue
        return found

    # --- task instances --------------------------------------------------------------

    def list_task_instances(self, runs: list[tuple[str, str]], *,
                            page_size: int = 100) -> list[TaskInstanceInfo]:
        """Task instances of exactly the ``(dag_id, dag_run_id)`` pairs given, in a few
        batch requests. The server filters ``dag_ids × dag_run_ids``, so a chunk can
        return other pairs (run ``scheduled__X`` of another DAG); they are dropped."""
        wanted = list(dict.fromkeys(runs))
        path = f"{self._base}/dags/~/dagRuns/~/taskInstances/list"
        result: list[TaskInstanceInfo] = []
        for start in range(0, len(wanted), RUNS_PER_TI_REQUEST):
            chunk = wanted[start:start + RUNS_PER_TI_REQUEST]
            pairs = set(chunk)
            body = {"dag_ids": sorted({d for d, _ in chunk}),
                    "dag_run_ids": sorted({r for _, r in chunk}), "page_limit": page_size}

            def page(offset: int, body: dict[str, Any] = body) -> tuple[list[Any], int | None]:
                # A read-only query sent as POST for its body: safe to retry.
                response = self._session.request("POST", path, json={**body,
                                                                     "page_offset": offset})
                return self._items(response, path, "task_instances")

            for item in self._paginate(page, page_size):
                ti = self._parse(task_instance_from_json, item, path)
                if (ti.dag_id, ti.dag_run_id) in pairs:
                    result.append(ti)
        return result

    def list_changed_task_instances(self, *, updated_at_gte: datetime,
                                    page_size: int = 100) -> list[TaskInstanceInfo]:
        """Task instances of every DAG run updated at or after ``updated_at_gte``: what
        changed in runs the caller already knows, in as few pages as there are changes."""
        path = f"{self._base}/dags/~/dagRuns/~/taskInstances"
        params: dict[str, Any] = {"updated_at_gte": iso_z(updated_at_gte, "auto"), "limit": page_size}
        if self.api_version == "v2":
            # Airflow 3 refuses to order task instances by updated_at; ids are stable.
            params["order_by"] = "id"

        def page(offset: int) -> tuple[list[Any], int | None]:
            response = self._session.request("GET", path, params={**params, "offset": offset})
            return self._items(response, path, "task_instances")

        found: dict[tuple[str, str, str, int], TaskInstanceInfo] = {}
        for item in self._paginate(page, page_size):
            ti = self._parse(task_instance_from_json, item, path)
            found[(ti.dag_id, ti.dag_run_id, ti.task_id, ti.map_index)] = ti
        return list(found.values())

    def task_log(self, dag_id: str, dag_run_id: str, task_id: str, try_number: int, *,
                 map_index: int = -1, max_bytes: int = 65536) -> str:
        """The last ``max_bytes`` of one try's log, as plain text."""
        path = (f"{self._base}/dags/{_seg(dag_id)}/dagRuns/{_seg(dag_run_id)}/taskInstances/"
                f"{_seg(task_id)}/logs/{int(try_number)}")
        params: dict[str, Any] = {"full_content": "true"}
        if map_index >= 0:
            params["map_index"] = map_index
        # Airflow 3 answers text/plain with 406 (only JSON or NDJSON); Airflow 2's JSON
        # is a stringified Python list of (host, text) tuples, its text/plain is clean.
        accept = "application/json" if self.api_version == "v2" else "text/plain"
        response = self._session.request("GET", path, params=params,
                                         headers={"Accept": accept})
        return tail(render_log(response.text, response.headers.get("Content-Type", "")),
                    max_bytes)

    def task_log_chunk(self, dag_id: str, dag_run_id: str, task_id: str, try_number: int, *,
                       map_index: int = -1, token: str | None = None, want_token: bool = True,
                       max_bytes: int = 65536) -> LogChunk:
        """One try's log and the token to follow it: the last ``max_bytes`` of the whole
        log, or with ``token`` (from the previous chunk) only what came after it.

        Airflow 3 answers JSON with the token. Airflow 2 carries a token only in its JSON
        (its text/plain has none), so it is asked for JSON when ``want_token`` or
        ``token``, else for text/plain as :meth:`task_log`. Airflow answers a token it did
        not sign with 400 (:class:`AirflowBadRequest`)."""
        if token is None and not want_token and self.api_version != "v2":
            text = self.task_log(dag_id, dag_run_id, task_id, try_number,
                                 map_index=map_index, max_bytes=max_bytes)
            return LogChunk(text)
        path = (f"{self._base}/dags/{_seg(dag_id)}/dagRuns/{_seg(dag_run_id)}/taskInstances/"
                f"{_seg(task_id)}/logs/{int(try_number)}")
        params: dict[str, Any] = {"full_content": "true"} if token is None else {"token": token}
        if map_index >= 0:
            params["map_index"] = map_index
        response = self._session.request("GET", path, params=params,
                                         headers={"Accept": "application/json"})
        chunk = render_log_chunk(response.text, response.headers.get("Content-Type", ""),
                                 response.headers.get("Airflow-Continuation-Token"))
        return replace(chunk, text=tail(chunk.text, max_bytes))

    # --- DAGs ------------------------------------------------------------------------

    def list_paused_dag_ids(self, *, dag_id_prefix: str | None = None,
                            page_size: int = 100) -> set[str]:
        """Ids of paused DAGs, optionally only those starting with ``dag_id_prefix``.
        ``dag_id_pattern`` is a LIKE ``%pattern%`` match (``_`` is a wildcard), so the
        server narrows and the prefix test here decides."""
        params: dict[str, Any] = {"paused": "true", "limit": page_size}
        if dag_id_prefix:
            params["dag_id_pattern"] = dag_id_prefix
        path = f"{self._base}/dags"

        def page(offset: int) -> tuple[list[Any], int | None]:
            response = self._session.request("GET", path, params={**params, "offset": offset})
            return self._items(response, path, "dags")

        paused = set()
        for item in self._paginate(page, page_size):
            dag_id = item.get("dag_id") if isinstance(item, dict) else None
            # is_paused is checked too: a server too old for ?paused= ignores it.
            if (isinstance(dag_id, str) and item.get("is_paused") is True
                    and dag_id.startswith(dag_id_prefix or "")):
                paused.add(dag_id)
        return paused

    def dag_is_paused(self, dag_id: str) -> bool:
        path = f"{self._base}/dags/{_seg(dag_id)}"
        data = self._json(self._session.request("GET", path), path)
        return data.get("is_paused") is True

    def set_dag_paused(self, dag_id: str, paused: bool) -> None:
        path = f"{self._base}/dags/{_seg(dag_id)}"
        self._session.request("PATCH", path, params={"update_mask": "is_paused"},
                              json={"is_paused": paused})

    # --- helpers ---------------------------------------------------------------------

    def _json(self, response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise AirflowProtocolError(self.cluster.name, f"Airflow cluster {self.cluster.name} "
                                       f"answered {path} with something other than a JSON "
                                       "object: is url the Airflow API server?")
        return data

    def _items(self, response: httpx.Response, path: str,
               key: str) -> tuple[list[Any], int | None]:
        data = self._json(response, path)
        items = data.get(key)
        if not isinstance(items, list):
            raise AirflowProtocolError(self.cluster.name, f"Airflow cluster {self.cluster.name} "
                                       f"answered {path} without a {key!r} list")
        total = data.get("total_entries")
        return items, total if isinstance(total, int) else None

    def _parse(self, parse: Callable[[Any], Any], item: Any, path: str) -> Any:
        try:
            return parse(item)
        except (ValueError, TypeError, AttributeError) as exc:
            raise AirflowProtocolError(self.cluster.name, f"Airflow cluster "
                                       f"{self.cluster.name} sent an unreadable item from "
                                       f"{path}: {exc}") from None

    @staticmethod
    def _paginate(fetch: Callable[[int], tuple[list[Any], int | None]],
                  page_size: int) -> list[Any]:
        """All items of an offset-paged listing. With ``total_entries`` it pages until
        that many were seen (a server may cap the page below ``page_size``), without
        it until a short page. A page repeating only items already seen ends it too:
        an old server that ignores the offset would send its first page over and over."""
        items: list[Any] = []
        seen: set[Any] = set()
        offset = 0
        for _ in range(MAX_PAGES):
            page, total = fetch(offset)
            keys = {json.dumps(item, sort_keys=True, default=str) for item in page}
            if not page or keys <= seen:
                break
            seen |= keys
            items.extend(page)
            offset += len(page)
            if (offset >= total) if total is not None else (len(page) < page_size):
                break
        return items
