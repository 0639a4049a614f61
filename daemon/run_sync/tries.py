"""The earlier tries of retried task instances, into the store.

Airflow lists a task instance with its latest try only; the earlier tries of one that was
retried are in its history, one request per task instance
(``AirflowClient.task_instance_tries``). So they are asked for only when needed: after a
cycle's write, for the store's retried task instances (``try_number`` above 1) whose
earlier tries it does not have for that try yet (``tries_synced`` differs), at most
``MAX_PER_CYCLE`` a cycle. A cluster where nothing was retried costs one store query and
no request.

A 404 (an Airflow 2 older than 2.10, or a task instance gone meanwhile) or 403 (no
permission) keeps the latest try only: the task instance is marked synced and asked
about again only when it is retried again. Any other error leaves it for the next cycle
(for up to ``RECENT`` after it was written); the run sync itself goes on either way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon.airflow import AirflowClient, AirflowError, TaskInstanceInfo
from daemon.airflow.errors import AirflowNotFound, AirflowPermissionError
from daemon.store.models import Run, TaskInstance, TaskTry

log = logging.getLogger(__name__)

MAX_PER_CYCLE = 20
"""Tries requests per cycle at most: a first import of many retried tasks is spread over
a few cycles instead of holding one up."""
RECENT = timedelta(hours=1)
"""How long after its last write a task instance is still looked at: the bound that
keeps the look-up an index range, not a scan of every task instance."""


@dataclass(frozen=True)
class Retried:
    """A stored task instance whose earlier tries the store lacks."""

    row_id: int
    run_id: int
    dag_id: str
    dag_run_id: str
    task_id: str
    map_index: int
    try_number: int


def retried_without_tries(cluster: str, now: datetime) -> list[Retried]:
    """The cluster's retried task instances written in the last ``RECENT`` whose earlier
    tries are not stored for their current try, newest first.

    Two queries, a range of the ``updated_at`` index and look-ups by primary key: with a
    join, or a condition on the cluster, SQLite would start from the runs of the cluster
    (nearly all of them: 0.7 s on 100,000 runs) instead."""
    pending = (TaskInstance
               .select(TaskInstance.id, TaskInstance.run_id, TaskInstance.task_id,
                       TaskInstance.map_index, TaskInstance.try_number)
               .where((TaskInstance.updated_at >= now - RECENT)
                      & (TaskInstance.try_number > 1)
                      & (TaskInstance.tries_synced.is_null()
                         | (TaskInstance.tries_synced != TaskInstance.try_number)))
               .order_by(TaskInstance.updated_at.desc())
               .tuples())
    rows = list(pending)
    if not rows:
        return []
    runs = {run_id: (dag_id, dag_run_id) for run_id, dag_id, dag_run_id, of in
            Run.select(Run.id, Run.dag_id, Run.dag_run_id, Run.cluster)
            .where(Run.id.in_(sorted({row[1] for row in rows}))).tuples()
            if of == cluster}
    return [Retried(row_id, run_id, *runs[run_id], task_id, map_index, try_number)
            for row_id, run_id, task_id, map_index, try_number in rows
            if run_id in runs][:MAX_PER_CYCLE]


def fetch_tries(client: AirflowClient, cluster: str,
                wanted: list[Retried]) -> dict[Retried, list[TaskInstanceInfo] | None]:
    """Each task instance's tries as Airflow has them; None where Airflow will not say
    (404, 403: keep the latest try only). Left out: those to ask again next cycle."""
    if not wanted:
        return {}
    try:
        if not client.supports_tries():
            return {task: None for task in wanted}
    except AirflowError as exc:
        log.warning("cluster %s: tries not read (asked again next cycle): %s", cluster, exc)
        return {}
    fetched: dict[Retried, list[TaskInstanceInfo] | None] = {}
    for task in wanted:
        try:
            fetched[task] = client.task_instance_tries(task.dag_id, task.dag_run_id,
                                                       task.task_id, task.map_index)
        except (AirflowNotFound, AirflowPermissionError) as exc:
            log.info("cluster %s: tries of %s/%s not read, keeping the latest only: %s",
                     cluster, task.dag_run_id, task.task_id, exc)
            fetched[task] = None
        except AirflowError as exc:
            log.warning("cluster %s: tries of %s/%s not read (asked again next cycle): %s",
                        cluster, task.dag_run_id, task.task_id, exc)
            if exc.transient:
                break  # the cluster is struggling: the rest can wait too
    return fetched


def write_tries(fetched: dict[Retried, list[TaskInstanceInfo] | None], now: datetime) -> int:
    """Store the earlier tries (those below the task instance's try number) in place of
    the ones stored, and mark the task instances synced; their runs are stamped so the
    dashboard reloads them. Returns the task instances written."""
    written, runs = 0, set()
    for task, tries in fetched.items():
        marked = TaskInstance.update(tries_synced=task.try_number, updated_at=now).where(
            (TaskInstance.id == task.row_id) & (TaskInstance.try_number == task.try_number)
        ).execute()
        if not marked:
            continue  # retried again meanwhile: the next cycle asks for that try
        written += 1
        runs.add(task.run_id)
        if tries is None:
            continue
        TaskTry.delete().where((TaskTry.run_id == task.run_id)
                               & (TaskTry.task_id == task.task_id)
                               & (TaskTry.map_index == task.map_index)).execute()
        rows = [{"run_id": task.run_id, "task_id": task.task_id, "map_index": task.map_index,
                 "try_number": one.try_number, "state": one.state,
                 "queued_at": one.queued_when, "started_at": one.start_date,
                 "ended_at": one.end_date, "duration_seconds": one.duration}
                for one in tries if 1 <= one.try_number < task.try_number]
        if rows:
            TaskTry.insert_many(rows).execute()
    if runs:
        Run.update(updated_at=now).where(Run.id.in_(sorted(runs))).execute()
    return written
