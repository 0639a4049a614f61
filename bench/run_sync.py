"""Run sync benchmark against the simulated Airflow 3 API (tests/sim_airflow.py).

    .venv/bin/python bench/run_sync.py [--dags 2000] [--runs 20000] [--running 200] [--latency 0.02]

2,000 DAGs, 20,000 runs (most finished over the past 30 days), 200 of them running with
10 tasks each, 20 ms per request. Prints requests and wall time of: the initial import,
a cycle with no change, and a cycle where every running run advanced one task; and, in
the same process, a baseline that lists the recent runs and fetches task instances run
by run, with our cycles as ratios against it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.airflow import AirflowClient  # noqa: E402
from daemon.core.config import ClusterConfig  # noqa: E402
from daemon.run_sync import RunSync  # noqa: E402
from daemon.spec_store import MemorySpecStore  # noqa: E402
from daemon.spec_sync import SpecSync  # noqa: E402
from daemon.store.clusters import upsert_clusters  # noqa: E402
from daemon.store.db import open_store  # noqa: E402
from tests.sim_airflow import SimAirflow  # noqa: E402
from tests.specs import spec_yaml  # noqa: E402

CLUSTER = ClusterConfig(name="sim", team="@bench", url="http://sim.bench", dag_name_prefix="bc",
                        api_version="v2", auth="jwt", username="admin", password_env="SIM_PASSWORD")
TASKS = [f"task_{i}" for i in range(10)]
LOOKBACK_HOURS = 24


def build(sim: SimAirflow, dags: int, runs: int, running: int) -> list[tuple[str, str]]:
    now = datetime.now(timezone.utc)
    dag_ids = [f"bc__ds.{i:04d}" for i in range(dags)]
    for dag_id in dag_ids:
        sim.add_dag(dag_id, paused=False)
    for i in range(runs - running):
        when = now - timedelta(minutes=30 + i * (30 * 24 * 60) / runs)
        state = "failed" if i % 50 == 0 else "success"
        sim.add_run(dag_ids[i % dags], f"scheduled__{i:06d}", state, TASKS, task_state=state, when=when)
    live = []
    for i in range(running):
        dag_id, run_id = dag_ids[i % dags], f"manual__{i:04d}"
        sim.add_run(dag_id, run_id, "running", TASKS, when=now - timedelta(minutes=5))
        sim.advance(dag_id, run_id)
        live.append((dag_id, run_id))
    return live


def baseline_cycle(sim: SimAirflow) -> int:
    """List the recent runs page by page, then task instances run by run for active ones."""
    http = httpx.Client(base_url="http://sim.bench/api/v2", transport=sim.transport())
    since = (datetime.now(timezone.utc) - timedelta(hours=LOOKBACK_HOURS)).isoformat().replace("+00:00", "Z")
    runs, offset = [], 0
    while True:
        page = http.get("/dags/~/dagRuns", params={"updated_at_gte": since, "limit": 100, "offset": offset}).json()
        runs += page["dag_runs"]
        offset += 100
        if offset >= page["total_entries"]:
            break
    for run in runs:
        if run["state"] in ("queued", "running"):
            http.get(f"/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances", params={"limit": 100})
    return len(runs)


def measure(label: str, sim: SimAirflow, func) -> tuple[int, float]:
    sim.requests.clear()
    start = time.perf_counter()
    detail = func()
    elapsed = time.perf_counter() - start
    count = sum(sim.requests.values())
    print(f"{label:<40} {count:5d} requests {elapsed:8.2f} s   {detail}")
    return count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dags", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--running", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    os.environ["SIM_PASSWORD"] = "admin"

    sim = SimAirflow()
    live = build(sim, args.dags, args.runs, args.running)
    print(f"{len(sim.dags)} DAGs, {len(sim.runs)} runs, {len(live)} running with {len(TASKS)} tasks, "
          f"{args.latency * 1000:.0f} ms per request")
    with tempfile.TemporaryDirectory() as tmp:
        db = open_store(f"sqlite:///{tmp}/bench.db")
        upsert_clusters([CLUSTER])
        specs = MemorySpecStore({f"code/{i:04d}.yaml": spec_yaml(f"ds.{i:04d}", team="@bench")
                                 for i in range(args.dags)})
        SpecSync(db, specs, max_spec_bytes=4096, max_delete_fraction=0.5).run()
        client = AirflowClient(CLUSTER, transport=sim.transport())
        sync = RunSync(db, CLUSTER, client, lookback_hours=LOOKBACK_HOURS, stale_threshold_hours=1)
        sim.latency = args.latency
        summary = lambda r: f"runs seen {r.runs_seen}, written {r.runs_written}, tasks of {r.tasks_fetched_for} runs, ok={r.ok}"  # noqa: E731

        measure("initial import (lookback 24 h)", sim, lambda: summary(sync.run()))
        time.sleep(1.1)  # the cursor has one-second resolution (HTTP Date header)
        quiet = measure("cycle with no change", sim, lambda: summary(sync.run()))
        for dag_id, run_id in live:
            sim.advance(dag_id, run_id)
        time.sleep(1.1)
        busy = measure(f"cycle after {len(live)} running runs advanced", sim, lambda: summary(sync.run()))
        base = measure("baseline: recent runs + TIs run by run", sim, lambda: f"{baseline_cycle(sim)} runs listed")

    print()
    print(f"no-change cycle: {quiet[0]} requests per cluster, {quiet[1] * 1000:.0f} ms "
          f"({base[0] / quiet[0]:.0f}x fewer requests, {base[1] / quiet[1]:.0f}x faster than the baseline)")
    print(f"busy cycle:      {busy[0]} requests, {busy[1] * 1000:.0f} ms "
          f"({base[0] / busy[0]:.1f}x fewer requests, {base[1] / busy[1]:.1f}x faster than the baseline)")


if __name__ == "__main__":
    main()
