"""Tasks waiting for a person (Airflow ≥ 3.1 human-in-the-loop) into the store.

While a cluster has active runs, each run-sync cycle asks Airflow for the requests of
basecamp's DAGs that still wait for an answer: one request per cycle, none when the
cluster is idle or runs an Airflow without human-in-the-loop tasks. A stored request that
no longer waits (answered in basecamp, in Airflow's UI, or its run stopped) is read once
more to keep who answered what; one that ended unanswered is removed. A new request is an
``input_waiting`` event, routed to the workflow's ``on_failure`` notifications once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from daemon.airflow import AirflowClient, AirflowNotFound, HitlRequest
from daemon.store.models import HitlRequest as StoredRequest
from daemon.store.models import Run

INPUT_WAITING = "input_waiting"

Key = tuple[str, str, str, int]
"""(dag_id, dag_run_id, task_id, map_index)"""


@dataclass
class HitlFetched:
    waiting: list[HitlRequest]
    """The requests of managed DAGs that wait for an answer now."""
    ended: dict[Key, HitlRequest | None] = field(default_factory=dict)
    """Stored waiting requests that no longer wait: Airflow's last word (None: gone)."""


def _key(request: HitlRequest | StoredRequest) -> Key:
    return (request.dag_id, request.dag_run_id, request.task_id, request.map_index)


def _stored_waiting(cluster: str) -> dict[Key, StoredRequest]:
    rows = StoredRequest.select().where((StoredRequest.cluster == cluster)
                                        & (StoredRequest.response_received == False))  # noqa: E712
    return {_key(row): row for row in rows}


def fetch_hitl(client: AirflowClient, cluster: str, dag_id_prefix: str | None,
               managed: Callable[[str], bool]) -> HitlFetched:
    """The waiting requests of managed DAGs, and what became of those the store has as
    waiting but Airflow no longer lists."""
    waiting = [r for r in client.list_hitl_requests(dag_id_prefix=dag_id_prefix)
               if managed(r.dag_id)]
    fetched = HitlFetched(waiting)
    listed = {_key(r) for r in waiting}
    for key in _stored_waiting(cluster).keys() - listed:
        dag_id, dag_run_id, task_id, map_index = key
        try:
            fetched.ended[key] = client.get_hitl_request(dag_id, dag_run_id, task_id,
                                                         map_index=map_index)
        except AirflowNotFound:
            fetched.ended[key] = None
    return fetched


def _values(request: HitlRequest, now: datetime) -> dict[str, Any]:
    return {"subject": request.subject, "body": request.body, "options": list(request.options),
            "multiple": request.multiple,
            "defaults": list(request.defaults) if request.defaults is not None else None,
            "params": request.params or None, "created_at": request.created_at,
            "response_received": request.response_received,
            "chosen_options": (list(request.chosen_options)
                               if request.chosen_options is not None else None),
            "responded_by": request.responded_by, "responded_at": request.responded_at,
            "updated_at": now}


def write_hitl(cluster: str, fetched: HitlFetched, dataset_of: Callable[[str], str | None],
               now: datetime) -> list[dict[str, Any]]:
    """Store what ``fetch_hitl`` found (inside the run sync's transaction); returns the
    events of new waiting requests. The runs concerned are touched, so the dashboard's
    change query shows them waiting, or no longer."""
    stored = _stored_waiting(cluster)
    events: list[dict[str, Any]] = []
    touched: set[tuple[str, str]] = set()
    for request in fetched.waiting:
        key = _key(request)
        if key in stored:
            continue  # still waiting, as the store already has it
        values = _values(request, now)
        updated = StoredRequest.update(**values).where(
            (StoredRequest.cluster == cluster) & (StoredRequest.dag_id == request.dag_id)
            & (StoredRequest.dag_run_id == request.dag_run_id)
            & (StoredRequest.task_id == request.task_id)
            & (StoredRequest.map_index == request.map_index)).execute()
        if not updated:  # (updated: a task asking again after a clear)
            StoredRequest.create(cluster=cluster, dag_id=request.dag_id,
                                 dag_run_id=request.dag_run_id, task_id=request.task_id,
                                 map_index=request.map_index, **values)
        dataset = dataset_of(request.dag_id) or request.dag_id
        events.append(_waiting_event(cluster, dataset, request))
        touched.add((request.dag_id, request.dag_run_id))
    for key, last in fetched.ended.items():
        row = stored.get(key)
        if row is None:
            continue
        if last is not None and last.response_received:
            StoredRequest.update(**_values(last, now)).where(StoredRequest.id == row.id).execute()
        else:  # ended without an answer (its run stopped, the task timed out): nobody waits
            row.delete_instance()
        touched.add(key[:2])
    for dag_id, dag_run_id in touched:
        Run.update(updated_at=now).where((Run.cluster == cluster) & (Run.dag_id == dag_id)
                                         & (Run.dag_run_id == dag_run_id)).execute()
    return events


def _waiting_event(cluster: str, dataset: str, request: HitlRequest) -> dict[str, Any]:
    task = request.task_id if request.map_index < 0 else f"{request.task_id}[{request.map_index}]"
    return {
        "kind": INPUT_WAITING,
        "severity": "warning",
        "subject": f"{dataset}/{request.dag_run_id}",
        "message": f"Task {task} of {dataset}/{request.dag_run_id} waits for input on "
                   f"{cluster}: {request.subject}",
        "data": {"dataset_name": dataset, "dag_id": request.dag_id,
                 "dag_run_id": request.dag_run_id, "task_id": request.task_id,
                 "cluster": cluster, "options": ", ".join(request.options)},
    }
