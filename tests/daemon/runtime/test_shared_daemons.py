"""Several ``basecamp daemon`` processes on one PostgreSQL store: they split the clusters,
a killed one's clusters are taken over within 30 s from the stored cursors, a stopped
one hands over at once, a joining one takes its share, and a ``run`` action whose daemon
was killed between claiming and finishing it makes exactly one DAG run. The clusters are
the simulated Airflow 3 API on loopback (one server, a DAG prefix per cluster)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from basecamp_cli.main import main
from daemon.store.db import bind_store
from daemon.store.migrations import LATEST_VERSION, current_version
from daemon.store.models import Action, Cluster, DaemonLease, SyncState, Workflow
from tests.daemon.runtime.test_daemon_process import COMMAND
from tests.pgserver import create_database
from tests.sim_airflow import SimAirflow
from tests.sim_server import serve_sim
from tests.specs import spec_yaml
from tests.waiting import wait_until

pytestmark = pytest.mark.postgres
CLUSTERS = [f"c{i}" for i in range(6)]
TAKEOVER_SECONDS = 30


@pytest.fixture
def sim() -> SimAirflow:
    sim = SimAirflow(latency=0.02)
    for name in CLUSTERS:
        sim.add_dag(f"{name}__ds.{name}")
    return sim


@pytest.fixture
def project(tmp_path: Path, sim: SimAirflow, postgres_store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    params = postgres_store.connect_params
    url = f"postgresql://{params['user']}@{params['host']}:{params['port']}/{postgres_store.database}"
    specs = tmp_path / "specs"
    (specs / "code").mkdir(parents=True)
    (specs / "manual").mkdir()
    for name in CLUSTERS:
        (specs / "code" / f"{name}.yaml").write_bytes(spec_yaml(f"ds.{name}", team=f"@{name}"))
    with serve_sim(sim) as sim_url:
        clusters = "".join(
            f'[[clusters]]\nname = "{name}"\nteam = "@{name}"\nurl = "{sim_url}"\n'
            f'dag_name_prefix = "{name}"\napi_version = "v2"\nauth = "jwt"\nusername = "admin"\n'
            'password_env = "SIM_PASSWORD"\n' for name in CLUSTERS)
        config = tmp_path / "basecamp.toml"
        config.write_text(
            f'[database]\nurl = "{url}"\n[storage]\npath = "{specs}"\n'
            "[sync]\nrun_interval_seconds = 1\nhealth_interval_seconds = 2\nspec_interval_seconds = 2\n"
            "[daemon]\nheartbeat_seconds = 1\nstale_after_seconds = 10\n" + clusters)
        monkeypatch.setenv("SIM_PASSWORD", "admin")
        monkeypatch.setenv("BASECAMP_CONFIG", str(config))
        monkeypatch.chdir(tmp_path)
        yield tmp_path


class Daemons:
    """The daemon processes of a test, stopped at its end whatever happened."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.processes: list[subprocess.Popen[str]] = []
        self.logs: dict[int, Path] = {}

    def start(self) -> subprocess.Popen[str]:
        log = self.project / f"daemon-{len(self.processes)}.log"
        process = subprocess.Popen([*COMMAND, "daemon"], env=dict(os.environ), cwd=self.project,
                                   stderr=log.open("w"), text=True)
        self.processes.append(process)
        self.logs[process.pid] = log
        wait_until(lambda: holder_of(process) is not None or process.poll() is not None,
                   timeout=60, what="the daemon's row")  # a busy machine starts Python slowly
        assert process.poll() is None, log.read_text()
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def daemons(project: Path) -> Iterator[Daemons]:
    running = Daemons(project)
    try:
        yield running
    finally:
        running.stop_all()


def holder_of(process: subprocess.Popen[str]) -> str | None:
    row = DaemonLease.select().where(DaemonLease.key.startswith("daemon:") & (DaemonLease.pid == process.pid)).first()
    return None if row is None else row.holder


def owners() -> dict[str, str | None]:
    return {row.name: row.owner for row in Cluster.select()}


def synced_since(cluster: str, moment: datetime) -> bool:
    state = SyncState.get_or_none(SyncState.key == f"runs:{cluster}")
    return state is not None and state.last_ok_at is not None and state.last_ok_at > moment


def shares(holders: list[str]) -> list[int]:
    counted = Counter(owners().values())
    return sorted(counted.get(holder, 0) for holder in holders)


def test_three_daemons_share_the_clusters_and_take_over_a_killed_ones(daemons, capsys):
    processes = [daemons.start() for _ in range(3)]
    holders = [holder_of(p) for p in processes]
    wait_until(lambda: shares(holders) == [2, 2, 2], timeout=30, what="two clusters each")
    capsys.readouterr()
    assert main(["clusters"]) == 0
    listing = capsys.readouterr().out
    assert "OWNER" in listing.upper() and str(processes[0].pid) in listing

    victim = processes[0]
    orphans = [name for name, owner in owners().items() if owner == holders[0]]
    killed_at = datetime.now(timezone.utc)
    victim.send_signal(signal.SIGKILL)  # in the middle of whatever it was doing: syncs run every second
    victim.wait()
    started = time.monotonic()
    wait_until(lambda: all(owners()[name] in holders[1:] and synced_since(name, killed_at)
                           for name in orphans), timeout=TAKEOVER_SECONDS, what="the orphans taken over")
    took = time.monotonic() - started
    assert took <= TAKEOVER_SECONDS
    wait_until(lambda: shares(holders[1:]) == [3, 3], what="three clusters each")


def test_a_stopped_daemon_hands_over_at_once_and_a_joining_one_takes_its_share(daemons):
    first = daemons.start()
    wait_until(lambda: set(owners().values()) == {holder_of(first)}, timeout=20, what="all clusters owned")
    second = daemons.start()
    holders = [holder_of(first), holder_of(second)]
    wait_until(lambda: shares(holders) == [3, 3], timeout=20, what="a fair share for the newcomer")

    started = time.monotonic()
    first.send_signal(signal.SIGTERM)
    wait_until(lambda: set(owners().values()) == {holders[1]}, timeout=15, what="the handover")
    handover = time.monotonic() - started
    assert first.wait(timeout=10) == 0
    assert handover < 5, handover  # at once: not a heartbeat going stale (10 s)


def test_a_run_action_whose_daemon_was_killed_makes_exactly_one_run(daemons, sim, capsys):
    processes = [daemons.start() for _ in range(3)]
    holders = [holder_of(p) for p in processes]
    wait_until(lambda: shares(holders) == [2, 2, 2], timeout=30, what="two clusters each")
    wait_until(lambda: Workflow.select().count() == len(CLUSTERS), what="the specs synced")
    sim.hold_trigger_answers = threading.Event()
    try:
        assert main(["workflow", "run", "ds.c0", "--no-wait"]) == 0
        owner = owners()["c0"]
        wait_until(lambda: sim.runs_of("c0__ds.c0"), what="the trigger reaching Airflow")
        action = Action.get(Action.kind == "run")
        assert action.state == "running" and action.claimed_by == owner
        # Airflow made the run; its daemon waits for the answer: kill it there.
        processes[holders.index(owner)].send_signal(signal.SIGKILL)
        processes[holders.index(owner)].wait()
    finally:
        sim.hold_trigger_answers.set()
        sim.hold_trigger_answers = None
    wait_until(lambda: Action.get_by_id(action.id).state == "done", timeout=TAKEOVER_SECONDS,
               what="the action finished by the new owner")
    done = Action.get_by_id(action.id)
    assert done.claimed_by != owner and done.attempts == 2
    assert len(sim.runs_of("c0__ds.c0")) == 1


def test_daemons_started_together_on_an_empty_database_all_run(project, postgres_url):
    """systemd on three machines starting at once: one migrates, the others wait for it
    and then find the schema up to date; the clusters' rows are inserted once."""
    config = project / "basecamp.toml"
    empty = create_database(postgres_url)
    config.write_text(re.sub(r'url = "postgresql://[^"]+"', f'url = "{empty}"', config.read_text(), count=1))
    processes = [subprocess.Popen([*COMMAND, "daemon"], cwd=project, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
    try:
        db = bind_store(empty)
        wait_until(lambda: current_version(db) == LATEST_VERSION, timeout=30, what="the schema")
        wait_until(lambda: DaemonLease.select().where(DaemonLease.key.startswith("daemon:")).count() == 3
                   or any(p.poll() is not None for p in processes), timeout=30, what="three daemons")
        assert all(p.poll() is None for p in processes), [p.stderr.read() for p in processes if p.poll() is not None]
        wait_until(lambda: len(set(owners().values()) - {None}) == 3, timeout=30, what="a share each")
        assert Cluster.select().count() == len(CLUSTERS)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.communicate(timeout=20)
