"""The tries of one task instance, part of :class:`daemon.airflow.client.AirflowClient`.

``GET /dags/{d}/dagRuns/{r}/taskInstances/{t}/tries`` (``…/{t}/{map_index}/tries`` for a
mapped one) lists Airflow's history of the earlier tries and the task instance itself,
unpaged, on Airflow 3 (``/api/v2``) and on Airflow 2 from 2.10 (``/api/v1``; older ones
answer 404). Airflow 2 refuses query parameters it does not declare, so the map index is
always a path segment.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote

import httpx

from daemon.airflow.http import Session
from daemon.airflow.models import TaskInstanceInfo, VersionInfo, task_instance_from_json
from daemon.airflow.operate import _major_minor

TRIES_MIN_VERSION = (2, 10)
"""The first Airflow with the tries endpoint (and a history of earlier tries)."""


class TriesAPI:
    """Needs the client's session, dialect and response helpers."""

    _session: Session
    _base: str
    version: Callable[..., VersionInfo]
    _items: Callable[[httpx.Response, str, str], tuple[list[Any], int | None]]
    _parse: Callable[[Callable[[Any], Any], Any, str], Any]

    def supports_tries(self) -> bool:
        """False on an Airflow 2 older than 2.10 (no tries endpoint): its task instances
        keep their latest try only. An unreadable version is given the benefit of the doubt
        (the endpoint's 404 tells)."""
        parsed = _major_minor(self.version().airflow_version)
        return parsed is None or parsed >= TRIES_MIN_VERSION

    def task_instance_tries(self, dag_id: str, dag_run_id: str, task_id: str,
                            map_index: int = -1) -> list[TaskInstanceInfo]:
        """Every try of one task instance Airflow still has, oldest first, one per try
        number. A task instance cleared but not scheduled yet is listed twice with the
        same try number (the history row and the instance, without a state yet): the
        history row, listed first, is the try that happened."""
        path = (f"{self._base}/dags/{quote(dag_id, safe='')}/dagRuns/"
                f"{quote(dag_run_id, safe='')}/taskInstances/{quote(task_id, safe='')}")
        path += f"/{int(map_index)}/tries" if map_index >= 0 else "/tries"
        items, _total = self._items(self._session.request("GET", path), path, "task_instances")
        tries: dict[int, TaskInstanceInfo] = {}
        for item in items:
            one = self._parse(task_instance_from_json, item, path)
            tries.setdefault(one.try_number, one)
        return [tries[number] for number in sorted(tries)]
