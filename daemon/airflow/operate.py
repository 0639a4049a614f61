"""Operating on runs and tasks, part of :class:`daemon.airflow.client.AirflowClient`:
clear task instances, mark one task instance, answer human-in-the-loop tasks (Airflow
≥ 3.1) and list import errors.

What the two dialects send back differs (checked against Airflow 3.3.2 and 2.11.2):

- ``POST /dags/{d}/clearTaskInstances``: v2 answers full task instances; v1 answers
  ``{"task_instances": [{"dag_id", "dag_run_id", "task_id", "execution_date"}]}``
  (no state, no map index, one entry per map index of a mapped task). Both default
  ``dry_run`` and ``only_failed`` to true, so both are always sent.
- ``PATCH …/taskInstances/{t}``: v2 takes ``{"new_state"}`` only (its body forbids other
  keys) and answers **409** "Task id … is already in success state" when nothing changed;
  v1 defaults ``dry_run`` to true, so ``{"dry_run": false, "new_state"}``.
- Human-in-the-loop: ``…/taskInstances/{t}/{map_index}/hitlDetails``, with the map index
  in the path even when it is -1. A second answer is **409** (Airflow's reason quoted).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any, Callable
from urllib.parse import quote

import httpx

from daemon.airflow.errors import AirflowError, AirflowUnsupported
from daemon.airflow.http import Retry, Session
from daemon.airflow.models import (
    HitlRequest,
    ImportErrorInfo,
    TaskInstanceInfo,
    VersionInfo,
    hitl_request_from_json,
    import_error_from_json,
    parse_datetime,
    task_instance_from_json,
)
from daemon.core.config import ClusterConfig

log = logging.getLogger(__name__)

HITL_MIN_VERSION = (3, 1)
FINISHED_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
"""A human-in-the-loop request whose task is in one of these waits for nobody (its run
was stopped or marked), even without an answer."""


def _seg(value: str) -> str:
    return quote(value, safe="")


def _major_minor(version: str) -> tuple[int, int] | None:
    """``"3.1.0rc1"`` → ``(3, 1)``; None when it does not start with two numbers."""
    match = re.match(r"\s*v?(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else None


class OperateAPI:
    """Needs the client's session, dialect, version and response helpers."""

    cluster: ClusterConfig
    _session: Session
    api_version: str
    _base: str
    version: Callable[..., VersionInfo]
    list_task_instances: Callable[..., list[TaskInstanceInfo]]
    _json: Callable[[httpx.Response, str], dict[str, Any]]
    _items: Callable[[httpx.Response, str, str], tuple[list[Any], int | None]]
    _parse: Callable[[Callable[[Any], Any], Any, str], Any]
    _paginate: Callable[..., Any]

    # --- clear and mark ------------------------------------------------------------------

    def clear_task_instances(self, dag_id: str, dag_run_id: str, *, task_ids: list[str] | None,
                             only_failed: bool, include_downstream: bool,
                             dry_run: bool) -> list[TaskInstanceInfo]:
        """Clear task instances of one run so they run again (``task_ids`` None: every
        task of the run; ``only_failed``: only failed and upstream_failed ones), and
        re-queue the run (``reset_dag_runs``). ``dry_run`` asks Airflow which it would
        clear and changes nothing: the preview.

        Returns the task instances Airflow clears (or would). On /api/v2 Airflow sends
        them whole, in their state after the call (a real clear resets the state to
        None). /api/v1 sends only ``(dag_id, dag_run_id, task_id)`` references, so they
        are completed with one batch read of the run's task instances (state, try
        number, every map index of a referenced task, as they are after the call); if
        that read fails the references come back bare (``map_index`` -1, ``state``
        None, ``try_number`` 0): never an error after a clear that went through.

        Retried like a read: a dry run is read-only, and clearing again what was just
        cleared is harmless (the retry of a clear whose first attempt went through may
        list fewer task instances, those no longer failed)."""
        path = f"{self._base}/dags/{_seg(dag_id)}/clearTaskInstances"
        # Both dialects default dry_run and only_failed to true: always send them.
        body: dict[str, Any] = {"dag_run_id": dag_run_id, "dry_run": dry_run,
                                "only_failed": only_failed,
                                "include_downstream": include_downstream,
                                "reset_dag_runs": True}
        if task_ids is not None:
            if not task_ids:  # Airflow rejects an empty list (422 / 400): nothing to clear
                return []
            body["task_ids"] = list(task_ids)
        items, _ = self._items(self._session.request("POST", path, json=body), path,
                               "task_instances")
        if self.api_version == "v2":
            return [self._parse(task_instance_from_json, item, path) for item in items]
        return self._complete_references(items, path)

    def _complete_references(self, items: list[Any], path: str) -> list[TaskInstanceInfo]:
        """v1's references → task instances, read back in one batch request."""
        refs: dict[tuple[str, str, str], TaskInstanceInfo] = {}
        for item in items:  # a mapped task is referenced once per map index
            ref = self._parse(task_instance_from_json, item, path)
            refs.setdefault((ref.dag_id, ref.dag_run_id, ref.task_id), ref)
        if not refs:
            return []
        try:
            found = self.list_task_instances(sorted({(d, r) for d, r, _ in refs}))
        except AirflowError as exc:
            log.warning("cluster %s: cleared task instances listed without their states (%s)",
                        self.cluster.name, exc)
            return list(refs.values())
        read: dict[tuple[str, str, str], list[TaskInstanceInfo]] = {}
        for ti in sorted(found, key=lambda t: t.map_index):
            read.setdefault((ti.dag_id, ti.dag_run_id, ti.task_id), []).append(ti)
        return [ti for key, ref in refs.items() for ti in read.get(key, [ref])]

    def set_task_instance_state(self, dag_id: str, dag_run_id: str, task_id: str, state: str, *,
                                map_index: int = -1) -> None:
        """Mark one task instance ``success`` or ``failed`` (Airflow also takes
        ``skipped``). Airflow (2 and 3 alike) then clears the task's downstream tasks
        that are failed or upstream_failed and queues the run again, so marking a failed
        task ``success`` resumes its run from there. Idempotent: Airflow 3's 409 "already
        in that state" (also what a retry whose first attempt went through gets) counts
        as done."""
        path = f"{self._base}/dags/{_seg(dag_id)}/dagRuns/{_seg(dag_run_id)}/taskInstances/" \
               f"{_seg(task_id)}"
        if map_index >= 0:
            path += f"/{int(map_index)}"
        if self.api_version == "v2":
            body: dict[str, Any] = {"new_state": state}
        else:  # v1 defaults dry_run to true
            body = {"dry_run": False, "new_state": state}
        try:
            self._session.request("PATCH", path, json=body)
        except AirflowError as exc:
            if exc.status != 409:
                raise
            log.info("cluster %s: %s.%s in %s is already %s", self.cluster.name, dag_id,
                     task_id, dag_run_id, state)

    # --- human in the loop (Airflow >= 3.1) ----------------------------------------------

    def supports_hitl(self) -> bool:
        """True when the cluster runs Airflow 3.1 or later (human-in-the-loop tasks)."""
        info = self.version()
        parsed = _major_minor(info.airflow_version)
        return info.api_version == "v2" and parsed is not None and parsed >= HITL_MIN_VERSION

    def _require_hitl(self) -> None:
        if not self.supports_hitl():
            version = self.version().airflow_version
            raise AirflowUnsupported(self.cluster.name, (
                f"Airflow cluster {self.cluster.name} runs Airflow {version}, which has no "
                "human-in-the-loop tasks (they need Airflow 3.1 or later)"))

    def list_hitl_requests(self, *, dag_id_prefix: str | None = None, waiting_only: bool = True,
                           page_size: int = 100) -> list[HitlRequest]:
        """Human-in-the-loop requests of every run, optionally only of DAGs starting with
        ``dag_id_prefix``. ``waiting_only``: those still waiting for an answer, i.e. not
        answered (``response_received=false``, filtered by Airflow) and whose task has not
        finished (a stopped run's request waits for nobody; filtered here)."""
        self._require_hitl()
        path = f"{self._base}/dags/~/dagRuns/~/hitlDetails"
        params: dict[str, Any] = {"limit": page_size}
        if waiting_only:
            params["response_received"] = "false"
        if dag_id_prefix:
            # a LIKE %pattern% match on every 3.x (3.3 also has dag_id_prefix_pattern):
            # the server narrows, the prefix test here decides.
            params["dag_id_pattern"] = dag_id_prefix

        def page(offset: int) -> tuple[list[Any], int | None]:
            response = self._session.request("GET", path, params={**params, "offset": offset})
            return self._items(response, path, "hitl_details")

        result = []
        for item in self._paginate(page, page_size):
            request = self._parse(hitl_request_from_json, item, path)
            if dag_id_prefix and not request.dag_id.startswith(dag_id_prefix):
                continue
            if waiting_only and (request.response_received
                                 or request.task_state in FINISHED_TI_STATES):
                continue
            result.append(request)
        return result

    def get_hitl_request(self, dag_id: str, dag_run_id: str, task_id: str, *,
                         map_index: int = -1) -> HitlRequest:
        """One task instance's human-in-the-loop request (404 when it has none)."""
        self._require_hitl()
        path = self._hitl_path(dag_id, dag_run_id, task_id, map_index)
        return self._parse(hitl_request_from_json,
                           self._json(self._session.request("GET", path), path), path)

    def respond_hitl(self, dag_id: str, dag_run_id: str, task_id: str, *, map_index: int = -1,
                     chosen_options: list[str],
                     params_input: dict[str, Any] | None = None) -> HitlRequest:
        """Answer a waiting human-in-the-loop task; the task resumes with the answer.
        Returns the request with the answer. A second answer (by anyone) raises
        :class:`AirflowConflict` with Airflow's reason; an option the task does not
        offer, or several where it takes one, :class:`AirflowBadRequest`; a user not
        among the task's assignees :class:`AirflowPermissionError`.

        Not idempotent (a repeat is that 409), so the PATCH is retried only when it
        surely never left. The request is read first, so nothing can fail after the
        answer went through."""
        self._require_hitl()
        current = self.get_hitl_request(dag_id, dag_run_id, task_id, map_index=map_index)
        path = self._hitl_path(dag_id, dag_run_id, task_id, map_index)
        body = {"chosen_options": list(chosen_options), "params_input": dict(params_input or {})}
        response = self._session.request("PATCH", path, json=body, retry=Retry.CONNECT_ONLY)
        data = self._json(response, path)
        responder = data.get("responded_by")
        chosen = data.get("chosen_options")
        given = data.get("params_input")
        return dataclasses.replace(
            current, response_received=True,
            chosen_options=tuple(str(o) for o in chosen) if isinstance(chosen, list)
            else tuple(chosen_options),
            responded_by=responder.get("name") if isinstance(responder, dict) else None,
            responded_at=parse_datetime(data.get("responded_at")),
            params_input=dict(given) if isinstance(given, dict) else dict(params_input or {}))

    def _hitl_path(self, dag_id: str, dag_run_id: str, task_id: str, map_index: int) -> str:
        # Airflow wants the map index in the path, -1 included (no route without it).
        return (f"{self._base}/dags/{_seg(dag_id)}/dagRuns/{_seg(dag_run_id)}/taskInstances/"
                f"{_seg(task_id)}/{int(map_index)}/hitlDetails")

    # --- import errors -------------------------------------------------------------------

    def list_import_errors(self, page_size: int = 100) -> list[ImportErrorInfo]:
        """Every DAG file that failed to import, oldest first (both dialects)."""
        path = f"{self._base}/importErrors"
        params = {"limit": page_size}  # both order by id unless told otherwise

        def page(offset: int) -> tuple[list[Any], int | None]:
            response = self._session.request("GET", path, params={**params, "offset": offset})
            return self._items(response, path, "import_errors")

        return [self._parse(import_error_from_json, item, path)
                for item in self._paginate(page, page_size)]
