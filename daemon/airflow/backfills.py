"""Airflow 3's backfills API, part of :class:`daemon.airflow.client.AirflowClient`.

Airflow 2 has no such API: a backfill there is one triggered run per logical date
(``daemon.actions.backfill``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable
from urllib.parse import quote

import httpx

from daemon.airflow.errors import AirflowProtocolError
from daemon.airflow.http import Retry, Session
from daemon.airflow.models import DagRunInfo, dag_run_from_json, parse_datetime
from daemon.core.config import ClusterConfig
from daemon.core.timefmt import iso_z


class BackfillsAPI:
    """Needs the client's session, dialect and response helpers."""

    cluster: ClusterConfig
    _session: Session
    api_version: str
    _base: str
    _json: Callable[[httpx.Response, str], dict[str, Any]]
    _items: Callable[[httpx.Response, str, str], tuple[list[Any], int | None]]
    _parse: Callable[[Callable[[Any], Any], Any, str], Any]
    _paginate: Callable[..., Any]

    def _backfill_body(self, dag_id: str, from_date: datetime, to_date: datetime,
                       conf: dict[str, Any], max_active_runs: int) -> dict[str, Any]:
        if self.api_version != "v2":
            raise AirflowProtocolError(self.cluster.name, (
                f"{self.cluster.name}: the backfills API needs Airflow 3 (/api/v2); this "
                "cluster speaks /api/v1, so backfills there trigger one run per date"))
        return {"dag_id": dag_id, "from_date": iso_z(from_date, "auto"),
                "to_date": iso_z(to_date, "auto"), "dag_run_conf": conf,
                "max_active_runs": max_active_runs, "run_backwards": False,
                "reprocess_behavior": "none"}

    def backfill_dry_run(self, dag_id: str, from_date: datetime, to_date: datetime,
                         conf: dict[str, Any], max_active_runs: int = 1) -> list[datetime]:
        """The logical dates Airflow would create runs for (nothing is created)."""
        path = f"{self._base}/backfills/dry_run"
        body = self._backfill_body(dag_id, from_date, to_date, conf, max_active_runs)
        # Creates nothing: safe to retry.
        items, _ = self._items(self._session.request("POST", path, json=body), path, "backfills")
        dates = [parse_datetime(item.get("logical_date")) for item in items if isinstance(item, dict)]
        return sorted(d for d in dates if d is not None)

    def create_backfill(self, dag_id: str, from_date: datetime, to_date: datetime,
                        conf: dict[str, Any], max_active_runs: int) -> dict[str, Any]:
        """Start a backfill; a 409 (:class:`AirflowConflict`) means one is already running
        for the DAG. Retried only when the request never left."""
        path = f"{self._base}/backfills"
        body = self._backfill_body(dag_id, from_date, to_date, conf, max_active_runs)
        return self._json(self._session.request("POST", path, json=body,
                                                retry=Retry.CONNECT_ONLY), path)

    def get_backfill(self, backfill_id: int) -> dict[str, Any]:
        path = f"{self._base}/backfills/{int(backfill_id)}"
        return self._json(self._session.request("GET", path), path)

    def list_backfills(self, dag_id: str) -> list[dict[str, Any]]:
        path = f"{self._base}/backfills"
        items, _ = self._items(self._session.request(
            "GET", path, params={"dag_id": dag_id, "limit": 100, "order_by": "-id"}), path, "backfills")
        return [item for item in items if isinstance(item, dict)]

    def backfill_runs(self, dag_id: str, from_date: datetime, to_date: datetime) -> list[DagRunInfo]:
        """The DAG's backfill runs with a logical date in the range."""
        path = f"{self._base}/dags/{quote(dag_id, safe='')}/dagRuns"
        params = {"run_type": "backfill", "logical_date_gte": iso_z(from_date, "auto"),
                  "logical_date_lte": iso_z(to_date, "auto"), "limit": 100}

        def page(offset: int) -> tuple[list[Any], int | None]:
            response = self._session.request("GET", path, params={**params, "offset": offset})
            return self._items(response, path, "dag_runs")

        return [self._parse(dag_run_from_json, item, path) for item in self._paginate(page, 100)]
