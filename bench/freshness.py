"""Freshness against a real Airflow 3: delay from a task instance's end (Airflow's
``end_date``) to the store showing it finished, with the run sync every 5 s (the default).

    .venv/bin/python bench/freshness.py [--runs 8] [--interval 5] [--airflow-db postgres] [--split]

Starts ``airflow standalone`` 3.3.2 on loopback (installed into a cached venv on first
use, see tests/airflow_server.py), a DAG built by the DAG factory from one spec, triggers
``--runs`` runs (3 tasks each) and prints p50/p95 over every task transition seen: from
the task's end to the store; with ``--split`` also Airflow's own part (until its API shows
the task finished, watched every 0.2 s) and basecamp's (from then to the store). The
watching is load on Airflow (standalone keeps its metadata in SQLite, whose writers then
wait longer): the target is measured without it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from daemon.airflow import AirflowClient  # noqa: E402
from daemon.core.config import ClusterConfig  # noqa: E402
from daemon.run_sync import RunSync  # noqa: E402
from daemon.spec_store import LocalSpecStore  # noqa: E402
from daemon.spec_sync import SpecSync  # noqa: E402
from daemon.store.clusters import upsert_clusters  # noqa: E402
from daemon.store.db import open_store  # noqa: E402
from daemon.store.models import Run, TaskInstance  # noqa: E402
from tests.airflow_server import AIRFLOW3_VERSION, start_airflow, wait_for_dag  # noqa: E402
from tests.pgserver import create_database, start_postgres, stop_postgres  # noqa: E402
from tests.specs import spec_yaml  # noqa: E402

FINISHED = ("success", "failed", "skipped", "upstream_failed")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@contextmanager
def airflow_database(kind: str, tmp: Path) -> Iterator[dict[str, str]]:
    """Airflow's own metadata database: standalone's SQLite (its writers wait for each
    other up to 5 s), or a throwaway PostgreSQL as production Airflow runs on (its
    drivers, psycopg2 and asyncpg, installed beside the Airflow venv for this run)."""
    if kind == "sqlite":
        yield {}
        return
    drivers = tmp / "airflow-pg-drivers"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(drivers),
                    "asyncpg", "psycopg2-binary"], check=True)
    url, server = start_postgres()
    try:
        database = create_database(url).split("://", 1)[1]
        yield {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{database}",
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"postgresql+asyncpg://{database}",
               "PYTHONPATH": str(drivers)}
    finally:
        stop_postgres(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--airflow-db", choices=("sqlite", "postgres"), default="sqlite",
                        help="Airflow's own metadata database (standalone's default: sqlite)")
    parser.add_argument("--split", action="store_true",
                        help="also watch Airflow's API every 0.2 s to split the delay (adds load to Airflow)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, airflow_database(args.airflow_db, Path(tmp)) as db_env:
        server = start_airflow(AIRFLOW3_VERSION, Path(tmp) / "dags", {
            "BASECAMP_DAG_PREFIX": "bc", "BASECAMP_TEAM": "@bench", "BASECAMP_DEMO_TASK_SECONDS": "1",
            **db_env})
        try:
            (server.spec_dir / "code").mkdir(parents=True, exist_ok=True)
            (server.spec_dir / "code" / "fresh.yaml").write_bytes(spec_yaml("bench.fresh", team="@bench"))
            wait_for_dag(server, "bc__bench.fresh", timeout=180)
            db = open_store(f"sqlite:///{tmp}/store.db")
            os.environ["BENCH_AIRFLOW_PASSWORD"] = server.password
            cluster = ClusterConfig(name="bench", team="@bench", url=server.url, dag_name_prefix="bc",
                                    auth="jwt", username=server.username, password_env="BENCH_AIRFLOW_PASSWORD")
            upsert_clusters([cluster])
            SpecSync(db, LocalSpecStore(server.spec_dir), max_spec_bytes=1 << 20, max_delete_fraction=1).run()
            client = AirflowClient(cluster)
            sync = RunSync(db, cluster, client, lookback_hours=1, stale_threshold_hours=1)
            sync.run()

            seen: dict[tuple[str, str], float] = {}
            stop = threading.Event()

            def loop() -> None:
                next_at = time.monotonic()
                while not stop.is_set():
                    sync.run()
                    now = time.time()
                    rows = (TaskInstance.select(TaskInstance.task_id, Run.dag_run_id)
                            .join(Run, on=(TaskInstance.run_id == Run.id))
                            .where(TaskInstance.state.in_(FINISHED)).tuples())
                    for task_id, run_id in rows:
                        seen.setdefault((run_id, task_id), now)
                    next_at += args.interval
                    stop.wait(max(0.0, next_at - time.monotonic()))

            visible: dict[tuple[str, str], float] = {}
            watcher = AirflowClient(cluster)

            def watch() -> None:
                """When Airflow's API first shows each task finished (every 0.2 s): the
                part of the delay that is Airflow's own, before any sync could see it."""
                while not stop.is_set():
                    if run_ids:
                        for ti in watcher.list_task_instances([("bc__bench.fresh", r) for r in list(run_ids)]):
                            if ti.state in FINISHED:
                                visible.setdefault((ti.dag_run_id, ti.task_id), time.time())
                    stop.wait(0.2)

            run_ids: list[str] = []
            worker = threading.Thread(target=loop, daemon=True)
            worker.start()
            api_watch = threading.Thread(target=watch, daemon=True)
            if args.split:
                api_watch.start()
            for i in range(args.runs):
                run_id = f"fresh_{datetime.now(timezone.utc):%H%M%S}_{i}"
                client.trigger_dag_run("bc__bench.fresh", run_id, {})
                run_ids.append(run_id)
                time.sleep(2)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and sum(1 for k in seen if k[0] in run_ids) < 3 * len(run_ids):
                time.sleep(1)
            stop.set()
            worker.join()
            if args.split:
                api_watch.join()

            delays, airflow_part, ours = [], [], []
            for ti in client.list_task_instances([("bc__bench.fresh", r) for r in run_ids]):
                key = (ti.dag_run_id, ti.task_id)
                if ti.end_date is not None and key in seen:
                    delays.append(seen[key] - ti.end_date.timestamp())
                    if key in visible:
                        airflow_part.append(visible[key] - ti.end_date.timestamp())
                        ours.append(seen[key] - visible[key])
            client.close()
            watcher.close()
        finally:
            server.stop()

    print(f"{len(delays)} task transitions, run sync every {args.interval:.0f} s")
    for label, values in (("task end -> store (the target)", delays),
                          ("task end -> Airflow's API shows it", airflow_part),
                          ("Airflow's API -> store (basecamp's part)", ours)):
        if values:
            print(f"{label:<42} p50 {statistics.median(values):5.2f} s, "
                  f"p95 {percentile(values, 95):5.2f} s, max {max(values):5.2f} s")


if __name__ == "__main__":
    main()
