"""Where a workflow, a run or a task is in the cluster's Airflow web UI (``w`` in the
dashboard): the UI of Airflow 3 (``/dags/…/runs/…/tasks/…``) and Airflow 2's grid view."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from daemon.core.naming import dag_id_for
from daemon.read.clusters import ClusterRow


def airflow_link(cluster: ClusterRow, dataset: str, dag_run_id: str | None = None,
                 task_id: str | None = None) -> str:
    base = cluster.url.rstrip("/")
    dag = quote(dag_id_for(cluster.dag_name_prefix or "", dataset), safe="")
    if cluster.api_version == "v1":  # Airflow 2: the grid view, the run and task as filters
        query = {key: value for key, value in (("dag_run_id", dag_run_id), ("task_id", task_id))
                 if value}
        return f"{base}/dags/{dag}/grid" + (f"?{urlencode(query)}" if query else "")
    link = f"{base}/dags/{dag}"
    if dag_run_id:
        link += f"/runs/{quote(dag_run_id, safe='')}"
        if task_id:
            link += f"/tasks/{quote(task_id, safe='')}"
    return link
