"""Action pickup latency (enqueue → claimed by the daemon) with the daemon idle and
during a 10,000-spec cold spec sync, and enqueue → store shows the DAG paused against a
real Airflow 3.

    .venv/bin/python bench/actions.py [--samples 40] [--specs 10000] [--skip-airflow]

The daemon runs as its own process (``basecamp daemon``), as in production; the
benchmark enqueues through the same API as the CLI. Targets (SPEC §4, issue #4):
p95 ≤ 250 ms idle, ≤ 1 s under load, enqueue → paused p95 ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.actions import enqueue  # noqa: E402
from daemon.store.db import open_store  # noqa: E402
from daemon.store.models import Action, DaemonLease, SyncState, Workflow  # noqa: E402
from tests.specs import spec_yaml  # noqa: E402

COMMAND = [sys.executable, "-c", "import sys; from basecamp_cli.main import main; sys.exit(main())"]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def show(label: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(f"{label:<44} n={len(ms):<3} p50 {percentile(ms, 50):7.1f} ms  p95 {percentile(ms, 95):7.1f} ms"
          f"  max {max(ms):7.1f} ms  mean {statistics.mean(ms):7.1f} ms")


def write_project(root: Path, specs: int, cluster: str = "") -> Path:
    spec_dir = root / "specs"
    (spec_dir / "code").mkdir(parents=True, exist_ok=True)
    (spec_dir / "manual").mkdir(exist_ok=True)
    for i in range(specs):
        (spec_dir / "code" / f"{i:05d}.yaml").write_bytes(spec_yaml(f"bench.ds{i:05d}", team="@bench"))
    config = root / "basecamp.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{root}/store.db"\n[storage]\npath = "{spec_dir}"\n'
                      "[daemon]\nheartbeat_seconds = 1\n" + cluster)
    return config


def start_daemon(config: Path, root: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BASECAMP_CONFIG": str(config)}
    process = subprocess.Popen([*COMMAND, "daemon"], env=env, stderr=open(root / "daemon.log", "wb"))
    open_store(f"sqlite:///{root}/store.db")
    deadline = time.monotonic() + 60
    while not DaemonLease.select().where(DaemonLease.stopped_at.is_null()).exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"daemon did not start; see {root / 'daemon.log'}")
        time.sleep(0.05)
    return process


def stop_daemon(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def pickup(samples: int, spacing: float, while_running: callable = lambda: True) -> list[float]:
    """Enqueue cheap actions (a run sync of no cluster) and time enqueue → claimed_at."""
    latencies = []
    for _ in range(samples):
        if not while_running():
            break
        action = enqueue("sync_runs", "*")
        while (row := Action.get_by_id(action.id)).claimed_at is None:
            time.sleep(0.005)
        latencies.append((row.claimed_at - row.requested_at).total_seconds())
        time.sleep(spacing)
    return latencies


def bench_pickup(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_project(root, 0)
        daemon = start_daemon(config, root)
        try:
            time.sleep(1)
            show("pickup, daemon idle", pickup(args.samples, 0.1))
        finally:
            stop_daemon(daemon)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = write_project(root, args.specs)
        daemon = start_daemon(config, root)
        started = time.monotonic()
        try:
            def syncing() -> bool:
                state = SyncState.get_or_none(SyncState.key == "specs")
                return state is None or state.last_ok_at is None
            values = pickup(args.samples * 5, 0.1, syncing)
            while syncing():
                time.sleep(0.1)
            took = time.monotonic() - started
            show(f"pickup, during a {args.specs}-spec cold sync", values)
            print(f"{'':<44} (the cold sync took {took:.1f} s; {len(values)} samples inside it)")
        finally:
            stop_daemon(daemon)


def bench_pause(args: argparse.Namespace) -> None:
    from tests.airflow_server import AIRFLOW3_VERSION, start_airflow, wait_for_dag

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_airflow(AIRFLOW3_VERSION, root / "dags", {
            "BASECAMP_DAG_PREFIX": "bc", "BASECAMP_TEAM": "@bench"})
        try:
            (server.spec_dir / "code").mkdir(parents=True, exist_ok=True)
            (server.spec_dir / "code" / "p.yaml").write_bytes(spec_yaml("bench.pause", team="@bench"))
            wait_for_dag(server, "bc__bench.pause", timeout=180)
            os.environ["BENCH_AIRFLOW_PASSWORD"] = server.password
            cluster = (f'[[clusters]]\nname = "bench"\nteam = "@bench"\nurl = "{server.url}"\n'
                       'dag_name_prefix = "bc"\nauth = "jwt"\nusername = "admin"\n'
                       'password_env = "BENCH_AIRFLOW_PASSWORD"\n')
            config = write_project(root / "project", 0, cluster)
            (root / "project" / "specs" / "code" / "p.yaml").write_bytes(spec_yaml("bench.pause", team="@bench"))
            daemon = start_daemon(config, root / "project")
            try:
                while not Workflow.select().where(Workflow.dataset_name == "bench.pause").exists():
                    time.sleep(0.1)
                values = []
                for i in range(args.samples):
                    kind, wanted = ("pause", True) if i % 2 == 0 else ("unpause", False)
                    began = time.monotonic()
                    enqueue(kind, "bench.pause")
                    while Workflow.get(Workflow.dataset_name == "bench.pause").is_paused is not wanted:
                        time.sleep(0.005)
                    values.append(time.monotonic() - began)
                show("enqueue → store shows paused/unpaused (AF3)", values)
            finally:
                stop_daemon(daemon)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--specs", type=int, default=10_000)
    parser.add_argument("--skip-airflow", action="store_true")
    args = parser.parse_args()
    bench_pickup(args)
    if not args.skip_airflow:
        bench_pause(args)


if __name__ == "__main__":
    main()
