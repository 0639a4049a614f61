"""Import errors from the health check: kept per cluster, evented when a file starts and
stops failing, shown on the cluster and, when the DAG factory itself fails, on every
workflow of the cluster's team."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from daemon.airflow import ImportErrorInfo
from daemon.core.config import ClusterConfig
from daemon.read.clusters import list_clusters
from daemon.read.workflows import WorkflowFilter, list_workflows
from daemon.run_sync.health import write_import_errors
from daemon.store.clusters import upsert_clusters
from daemon.store.models import Event, Workflow

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
TRACE = ('Traceback (most recent call last):\n  File "/dags/basecamp_dag_factory.py", line 3\n'
         "SyntaxError: invalid syntax")


def test_import_errors_are_kept_evented_and_shown(store):
    upsert_clusters([ClusterConfig(name="dp", team="@dp", url="http://dp", dag_name_prefix="bc")])
    Workflow.create(dataset_name="ds.a", source_type="code", status="active", team="@dp",
                    spec={"name": "ds.a"})
    broken = ImportErrorInfo("basecamp_dag_factory.py", TRACE, NOW)
    other = ImportErrorInfo("other.py", "ImportError: no module named x", NOW)
    write_import_errors("dp", [broken, other], NOW)
    write_import_errors("dp", [broken, other], NOW + timedelta(seconds=30))  # nothing new
    [cluster] = list_clusters()
    assert [(e.filename, e.summary) for e in cluster.import_errors] == [
        ("basecamp_dag_factory.py", "SyntaxError: invalid syntax"),
        ("other.py", "ImportError: no module named x")]
    assert cluster.factory_error == (
        "basecamp_dag_factory.py fails to import on dp (SyntaxError: invalid syntax): none of "
        "this team's DAGs is built; see `basecamp clusters`.")
    [row] = list_workflows(WorkflowFilter())
    assert row["cluster_error"] == cluster.factory_error
    write_import_errors("dp", [other], NOW + timedelta(minutes=1))
    assert list_clusters()[0].factory_error is None
    assert [(e.kind, e.message) for e in Event.select().order_by(Event.id)] == [
        ("import_error", "basecamp_dag_factory.py fails to import on dp: SyntaxError: invalid "
                         "syntax"),
        ("import_error", "other.py fails to import on dp: ImportError: no module named x"),
        ("import_error_cleared", "basecamp_dag_factory.py imports again on dp."),
    ]
