"""Many clusters, one daemon and then three, on one PostgreSQL store (issue #15).

    .venv/bin/python bench/scale.py [--clusters 50] [--dags 2000] [--active-clusters 5]
                                    [--latency 0.02] [--seconds 60] [--keep-logs]

50 simulated Airflow 3 clusters (tests/sim_airflow.py) of 2,000 DAGs each, each on an HTTP
server of its own (one port per cluster, as real clusters have), all served by one
separate process so that the simulators' CPU is not counted as the daemons'; every
request waits 20 ms. Each cluster has 20 finished runs of the past day; 5 clusters also
have 10 running runs that move one task every 2 s (synced every busy interval, 1 s), the
other 45 are idle (synced every run_interval_seconds, 5 s). A throwaway PostgreSQL server
(tests/pgserver.py) holds the 100,000 workflows as the spec sync writes them from the
spec folder the daemons are then given, so their own spec sync finds nothing changed and
removes nothing (see ``seed_workflows``). Every daemon setting is the default; the
daemons log at INFO (as in production) except their run-sync lines, switched to DEBUG to
time the cycles.

Then one ``basecamp daemon``, then three fresh ones (the first stopped), each measured
for ``--seconds`` once it settled (every cluster owned, the split fair, and every cluster
synced by its owner, or 200 s passed: then it says so). Per phase it prints: the wall
time of the run-sync cycles that ended in the window (SyncState ``last_started_at``,
polled every 0.2 s, to the cycle's "run sync <cluster>:" log line), the time between a
cluster's completed syncs against its interval, run-sync requests per cycle as the
simulators counted them (health checks apart), CPU % (100 % = one core) and RSS of each
daemon, of PostgreSQL and of the simulators, the clusters each daemon owns
(``cluster.owner``) and how long SIGTERM took; then the three-vs-one ratios. Everything
shares one machine (its CPU count is printed, and how much CPU everything else on it
used), so three daemons here compete for the cores that one had to itself.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.spec_store.local import LocalSpecStore  # noqa: E402
from daemon.spec_sync import SpecSync  # noqa: E402
from daemon.store.db import open_store  # noqa: E402
from daemon.store.models import (  # noqa: E402
    Cluster,
    DaemonLease,
    SyncState,
    Workflow,
    database_proxy,
)
from tests.pgserver import create_database, start_postgres, stop_postgres  # noqa: E402
from tests.sim_airflow import SimAirflow  # noqa: E402
from tests.sim_server import serve_sim  # noqa: E402
from tests.specs import spec_yaml  # noqa: E402

DAEMON_COMMAND = [
    sys.executable, "-c",
    "import logging, sys; logging.getLogger('daemon.runtime.daemon').setLevel(logging.DEBUG); "
    "from basecamp_cli.main import main; sys.exit(main())",
]
"""``basecamp daemon`` with its run-sync lines at DEBUG; everything else at INFO."""
TASKS = [f"task_{i}" for i in range(10)]
HEALTH_ENDPOINTS = {"POST /auth/token", "GET /api/v2/version", "GET /api/v2/importErrors",
                    "GET /api/v2/monitor/health"}
RUN_INTERVAL, BUSY_INTERVAL = 5.0, 1.0
"""The defaults of [sync] run_interval_seconds and busy_interval_seconds."""
LATE_SLACK = BUSY_INTERVAL + 0.5
"""A cycle is on time when it starts within its interval plus this: the daemon decides
once a busy interval (1 s) whether a cluster is due, and its loop ticks every 50 ms."""
SETTLE_SECONDS = 200.0
"""How long a phase waits for the fair split and every cluster's first sync by its owner
(the first one of a phase imports the past day's runs) before it measures anyway."""
_SYNC_LINE = re.compile(r"run sync (\S+): \d+ runs seen")
TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def cluster_name(index: int) -> str:
    return f"c{index:02d}"


# --- the simulated clusters, in a process of their own ------------------------------------


@dataclass(frozen=True)
class Fleet:
    """What the simulated clusters hold; the first ``active_clusters`` have running runs."""

    clusters: int
    dags: int
    latency: float
    active_clusters: int = 5
    active_runs: int = 10
    history: int = 20
    advance_seconds: float = 2.0

    def names(self) -> list[str]:
        return [cluster_name(i) for i in range(self.clusters)]

    def datasets(self, cluster: str) -> list[str]:
        return [f"{cluster}.ds{i:04d}" for i in range(self.dags)]


class _Cluster:
    """One simulated cluster and its running runs, moved on by the fleet's process."""

    def __init__(self, fleet: Fleet, name: str, active: bool) -> None:
        self.sim = SimAirflow()
        self.dag_ids = [f"{name}__{dataset}" for dataset in fleet.datasets(name)]
        self.running: list[tuple[str, str]] = []
        self.started = 0
        now = datetime.now(timezone.utc)
        for dag_id in self.dag_ids:
            self.sim.add_dag(dag_id)
        for i in range(fleet.history):
            when = now - timedelta(minutes=30 + i * 23 * 60 / max(fleet.history, 1))
            self.sim.add_run(self.dag_ids[i % len(self.dag_ids)], f"scheduled__{i:05d}", "success",
                             TASKS, task_state="success", when=when)
        for _ in range(fleet.active_runs if active else 0):
            self._start_run()
        self.sim.latency = fleet.latency

    def _start_run(self) -> None:
        dag_id = self.dag_ids[self.started % len(self.dag_ids)]
        run_id = f"manual__{self.started:06d}"
        self.started += 1
        self.sim.add_run(dag_id, run_id, "running", TASKS)
        self.sim.advance(dag_id, run_id)
        self.running.append((dag_id, run_id))

    def advance(self) -> None:
        """One more task of every running run; a finished run is replaced by a new one."""
        with self.sim.lock:
            for dag_id, run_id in list(self.running):
                self.sim.advance(dag_id, run_id)
                if self.sim.runs[(dag_id, run_id)].state == "success":
                    self.running.remove((dag_id, run_id))
                    self._start_run()

    def counts(self) -> Counter[str]:
        with self.sim.lock:
            return Counter(self.sim.requests)


def _serve_fleet(fleet: Fleet, conn: Connection) -> None:
    """The fleet's process: send the clusters' URLs, then answer "counts" until "stop"."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the bench stops us
    clusters = {name: _Cluster(fleet, name, i < fleet.active_clusters) for i, name in enumerate(fleet.names())}
    with ExitStack() as stack:
        conn.send({name: stack.enter_context(serve_sim(cluster.sim)) for name, cluster in clusters.items()})
        next_move = time.monotonic() + fleet.advance_seconds
        while True:
            try:
                asked = conn.poll(max(0.0, next_move - time.monotonic()))
                if asked and conn.recv() == "stop":
                    return
            except (EOFError, OSError):  # the bench is gone
                return
            if asked:
                conn.send({name: cluster.counts() for name, cluster in clusters.items()})
            else:
                for cluster in clusters.values():
                    cluster.advance()
                next_move += fleet.advance_seconds


class SimFleet:
    """The simulated clusters, served over HTTP by a process of their own."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve_fleet, args=(fleet, child), daemon=True)
        self.process.start()
        child.close()
        self.urls: dict[str, str] = self.conn.recv()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def counts(self) -> dict[str, Counter[str]]:
        """Requests so far per cluster, by endpoint."""
        self.conn.send("counts")
        return self.conn.recv()

    def stop(self) -> None:
        try:
            self.conn.send("stop")
        except OSError:
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


# --- the store, the specs, the config -------------------------------------------------------


@contextmanager
def scratch_dir(keep_logs: bool = False) -> Iterator[Path]:
    """A temp dir, on tmpfs where there is one (100,000 spec files write 40x faster there);
    when the bench fails or ``keep_logs``, the daemons' logs in it are kept (not the specs)."""
    where = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="basecamp-bench-", dir=where))
    try:
        yield path
    except BaseException:
        keep_logs = True
        raise
    finally:
        shutil.rmtree(path / "specs" if keep_logs else path, ignore_errors=True)
        if keep_logs:
            print(f"the daemons' logs are kept in {path}", file=sys.stderr)


def write_specs(root: Path, fleet: Fleet, clusters: list[str] | None = None) -> None:
    """One code spec per DAG of each cluster (all by default), the cluster's name as team."""
    (root / "manual").mkdir(parents=True, exist_ok=True)
    for name in fleet.names() if clusters is None else clusters:
        folder = root / "code" / name
        folder.mkdir(parents=True)
        for dataset in fleet.datasets(name):
            (folder / f"{dataset}.yaml").write_bytes(spec_yaml(dataset, team=f"@{name}"))


def start_store(stack: ExitStack) -> tuple[str, int]:
    """A PostgreSQL server for the bench and a store on it (the models bound to it), and
    the pid the server's processes descend from."""
    server_url, server = start_postgres()
    stack.callback(stop_postgres, server)
    url = create_database(server_url)
    stack.callback(open_store(url).close)
    return url, server.process.pid


def seed_workflows(root: Path, fleet: Fleet) -> None:
    """The spec folder and the store's workflows as the spec sync leaves them, in seconds.

    A cold spec sync of 100,000 specs takes minutes, and is not what this bench measures.
    So the spec sync writes the first cluster's specs, and every other cluster gets copies
    of its files (the cluster's name swapped in, the same size and mtime, so the same
    version) and of its ``spec_file`` and ``workflow`` rows (the name swapped in every text
    column): the daemons' spec sync then finds every file unchanged."""
    first, others = fleet.names()[0], fleet.names()[1:]
    assert all(len(name) == len(first) for name in others)  # same sizes, same versions
    write_specs(root, fleet, [first])
    db = database_proxy.obj
    report = SpecSync(db, LocalSpecStore(root), max_spec_bytes=65536, max_delete_fraction=0.5).run()
    assert report.ok and report.workflows_written == fleet.dags, report
    if not others:
        return
    for name in others:
        folder = root / "code" / name
        folder.mkdir()
        for source in (root / "code" / first).iterdir():
            copy = folder / source.name.replace(first, name, 1)
            copy.write_bytes(source.read_bytes().replace(first.encode(), name.encode()))
            os.utime(copy, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns))
    copies = ", ".join(f"('{name}')" for name in others)
    with db.atomic():
        for table, column, of_first in (("spec_file", "path", f"code/{first}/%"), ("workflow", "team", f"@{first}")):
            types = dict(db.execute_sql("SELECT column_name, data_type FROM information_schema.columns "
                                        "WHERE table_name = %s AND column_name <> 'id'", (table,)).fetchall())
            texts = [c for c, kind in types.items() if kind in ("text", "character varying", "json", "jsonb")]
            values = ", ".join(f"replace(\"{c}\"::text, '{first}', copy.name)::{types[c]}" if c in texts
                               else f'"{c}"' for c in types)
            columns = ", ".join(f'"{c}"' for c in types)
            db.execute_sql(f'INSERT INTO "{table}" ({columns}) SELECT {values} FROM "{table}" '
                           f'CROSS JOIN (VALUES {copies}) AS copy(name) WHERE "{column}" LIKE %s', (of_first,))
    assert Workflow.select().count() == fleet.clusters * fleet.dags


def write_config(path: Path, url: str, specs: Path, urls: dict[str, str]) -> None:
    clusters = "".join(
        f'[[clusters]]\nname = "{name}"\nteam = "@{name}"\nurl = "{cluster_url}"\n'
        f'dag_name_prefix = "{name}"\napi_version = "v2"\nauth = "jwt"\nusername = "admin"\n'
        'password_env = "SIM_PASSWORD"\n\n' for name, cluster_url in urls.items())
    path.write_text(f'[database]\nurl = "{url}"\n\n[storage]\npath = "{specs}"\n\n{clusters}')


# --- daemon processes and what they cost ----------------------------------------------------


class DaemonProcess:
    """One ``basecamp daemon`` in a session of its own (Ctrl-C goes to the bench, which
    stops it), its JSON log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("w") as out:
            self.process = subprocess.Popen(
                [*DAEMON_COMMAND, "daemon", "--log-format", "json", "--config", str(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out,
                env={**os.environ, "SIM_PASSWORD": "admin"}, start_new_session=True)
        self.holder: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def find_holder(self) -> str | None:
        """Its lease holder id, once it has written its row."""
        if self.holder is None:
            row = DaemonLease.get_or_none(DaemonLease.key.startswith("daemon:") & (DaemonLease.pid == self.pid))
            self.holder = None if row is None else row.holder
        return self.holder

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def stop_all(daemons: list[DaemonProcess]) -> list[float]:
    """SIGTERM to all at once (so they do not hand their clusters to each other); returns
    how long each took to exit."""
    started = time.monotonic()
    for daemon in daemons:
        if daemon.alive():
            daemon.process.send_signal(signal.SIGTERM)
    took = []
    for daemon in daemons:
        daemon.stop()
        took.append(time.monotonic() - started)
    return took


def _stat_fields(pid: int | str) -> list[str]:
    """/proc/PID/stat from field 3 (state) on: the command name may hold spaces."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def tree_cpu_seconds(root: int) -> float:
    """CPU of a process and its live descendants (PostgreSQL: postmaster and backends,
    each of which starts a session of its own)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat_fields(entry.name)
            except OSError:  # ended meanwhile
                continue
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])

    def descends(pid: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = parents.get(pid, 0)
        return False

    return sum(n for pid, n in ticks.items() if descends(pid)) / TICKS


def machine_cpu_seconds() -> float:
    """CPU time every process of the machine used so far (all cores)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(values) - values[3] - values[4]) / TICKS  # less idle and iowait


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS now, peak RSS) in MB."""
    values = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(values["VmRSS"].split()[0]) / 1024, int(values["VmHWM"].split()[0]) / 1024


def owners() -> dict[str, str | None]:
    return dict(Cluster.select(Cluster.name, Cluster.owner).tuples())


def last_ok(cluster: str) -> datetime | None:
    row = SyncState.get_or_none(SyncState.key == f"runs:{cluster}")
    return None if row is None else row.last_ok_at


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:.0f} s: {what}")
        time.sleep(every)


def wait_for_fair_split(daemons: list[DaemonProcess], clusters: list[str], timeout: float) -> datetime:
    """Until every cluster is owned by one of ``daemons`` and their shares differ by at
    most one; returns when that was seen."""
    def split_is_fair() -> bool:
        for daemon in daemons:
            if not daemon.alive():
                raise RuntimeError(f"daemon {daemon.pid} exited; its log: {daemon.log}")
        holders = {daemon.find_holder() for daemon in daemons}
        current = owners()
        shares = Counter(current.get(name) for name in clusters)
        counts = [shares.get(daemon.holder, 0) for daemon in daemons]
        return None not in holders and all(current.get(n) in holders for n in clusters) \
            and max(counts) - min(counts) <= 1

    wait_for(split_is_fair, timeout, "every cluster owned, a fair split")
    return datetime.now(timezone.utc)


def unsynced_after(clusters: list[str], since: datetime, timeout: float) -> dict[str, str | None]:
    """Waits until every cluster had a successful run sync after ``since``, at most
    ``timeout`` seconds; returns those that had none (with their last error)."""
    def behind() -> dict[str, str | None]:
        rows = {row.key: row for row in SyncState.select().where(SyncState.key.startswith("runs:"))}
        late = {}
        for name in clusters:
            row = rows.get(f"runs:{name}")
            if row is None or row.last_ok_at is None or row.last_ok_at <= since:
                late[name] = None if row is None else row.last_error
        return late

    try:
        wait_for(lambda: not behind(), timeout, "every cluster synced")
    except TimeoutError:
        pass
    return behind()


def settle(label: str, daemons: list[DaemonProcess], clusters: list[str]) -> None:
    """Until the split is fair and every cluster was synced by its owner, at most
    SETTLE_SECONDS; says how long that took, or what it was still waiting for."""
    started = time.monotonic()
    try:
        split = wait_for_fair_split(daemons, clusters, timeout=SETTLE_SECONDS)
    except TimeoutError:
        shares = sorted(Counter(owners().values()).items(), key=str)
        print(f"\n{label}: not split fairly {SETTLE_SECONDS:.0f} s after start ({shares}); measuring anyway")
        return
    print(f"\n{label}: clusters split fairly {time.monotonic() - started:.0f} s after start", end="")
    behind = unsynced_after(clusters, split, max(0.0, SETTLE_SECONDS - (time.monotonic() - started)))
    if behind:
        errors = Counter(behind.values()).most_common(3)
        print(f"; {len(behind)} clusters not synced by their owner {time.monotonic() - started:.0f} s after "
              f"start (last errors: {errors}): measuring anyway")
    else:
        print(f"; every cluster synced by its owner {time.monotonic() - started:.0f} s after start")


# --- timing the cycles ------------------------------------------------------------------------


class CycleWatch:
    """Every run-sync cycle start, from the SyncState rows: a start stays in its row for at
    least the busy interval (1 s), and they are read every 0.2 s."""

    def __init__(self) -> None:
        self.starts_seen: dict[str, set[float]] = {}
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cycle-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.wait(0.2):
                rows = SyncState.select(SyncState.key, SyncState.last_started_at).where(
                    SyncState.key.startswith("runs:")).tuples()
                for key, started in rows:
                    if started is not None:
                        self.starts_seen.setdefault(key.removeprefix("runs:"), set()).add(started.timestamp())
        except BaseException as exc:  # reported by starts(): no silent gaps
            self._failure = exc
        finally:
            database_proxy.close()

    def starts(self) -> dict[str, list[float]]:
        if self._failure is not None:
            raise RuntimeError("the cycle watch failed") from self._failure
        return {name: sorted(starts) for name, starts in list(self.starts_seen.items())}

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def sync_ends(logs: list[Path]) -> tuple[dict[str, list[float]], int]:
    """When each cluster's cycles ended (their "run sync <cluster>:" lines), and how many
    of those lines were warnings (a failed cycle)."""
    ends: dict[str, list[float]] = {}
    failed = 0
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if '"run sync ' not in line:
                continue
            entry = json.loads(line)
            match = _SYNC_LINE.match(entry["message"])
            if match:
                when = datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp()
                ends.setdefault(match.group(1), []).append(when)
                failed += entry["level"] == "warning"
    return {name: sorted(times) for name, times in ends.items()}, failed


def cycle_times(starts: list[float], ends: list[float]) -> list[float]:
    """Each end paired with the last start before it (a cycle's start is in the row once
    it ended, so every cycle that ended was seen)."""
    times = []
    for end in ends:
        i = bisect_right(starts, end + 0.001) - 1  # log times are cut to the millisecond
        if i >= 0:
            times.append(end - starts[i])
    return times


def holds_store_jobs(daemon: DaemonProcess) -> bool:
    """Whether the daemon holds the store jobs (spec sync, notifier): its log says so."""
    said = [line for line in daemon.log.read_text(errors="replace").splitlines() if "the store jobs" in line]
    return bool(said) and '"took the store jobs"' in said[-1]


# --- one phase --------------------------------------------------------------------------------


@dataclass
class Phase:
    label: str
    seconds: float
    cycles: dict[str, list[float]] = field(default_factory=dict)
    """busy / idle → cycle wall times (s)."""
    gaps: dict[str, list[float]] = field(default_factory=dict)
    """busy / idle → seconds between a cluster's completed syncs."""
    late: dict[str, int] = field(default_factory=dict)
    """busy / idle → clusters with a gap between completed syncs longer than interval +
    slack, or none completed in the window."""
    unsynced: dict[str, int] = field(default_factory=dict)
    """busy / idle → clusters with no sync completed in the window."""
    requests_per_cycle: dict[str, float] = field(default_factory=dict)
    health_per_minute: float = 0.0
    failed_cycles: int = 0
    daemons: list[dict[str, float]] = field(default_factory=list)
    postgres_cpu: float = 0.0
    sims_cpu: float = 0.0
    others_cpu: float = 0.0
    """Everything else on the machine: other people's work shares these cores."""
    connections: int = 0


def measure(label: str, daemons: list[DaemonProcess], fleet: SimFleet, watch: CycleWatch,
            postgres: int, seconds: float) -> Phase:
    """Everything of one measurement window of ``seconds``."""
    pids = [d.pid for d in daemons]
    cpu_before = [cpu_seconds(pid) for pid in pids]
    pg_before, sims_before = tree_cpu_seconds(postgres), cpu_seconds(fleet.pid)
    counts_before = fleet.counts()
    machine_before = machine_cpu_seconds()
    begin, wall = time.time(), time.monotonic()
    time.sleep(seconds)
    counts_after = fleet.counts()
    end, wall = time.time(), time.monotonic() - wall
    phase = Phase(label, wall)
    phase.daemons = [{"pid": pid, "cpu": 100 * (cpu_seconds(pid) - before) / wall,
                      "rss": memory_mb(pid)[0], "peak": memory_mb(pid)[1]}
                     for pid, before in zip(pids, cpu_before)]
    phase.postgres_cpu = 100 * (tree_cpu_seconds(postgres) - pg_before) / wall
    phase.sims_cpu = 100 * (cpu_seconds(fleet.pid) - sims_before) / wall
    ours = sum(row["cpu"] for row in phase.daemons) + phase.postgres_cpu + phase.sims_cpu
    phase.others_cpu = 100 * (machine_cpu_seconds() - machine_before) / wall - ours
    phase.connections = database_proxy.execute_sql("SELECT count(*) FROM pg_stat_activity").fetchone()[0]
    shares = Counter(owners().values())
    for row, daemon in zip(phase.daemons, daemons):
        row["clusters"] = shares.get(daemon.find_holder(), 0)
        row["store_jobs"] = holds_store_jobs(daemon)

    starts = watch.starts()
    ends, phase.failed_cycles = sync_ends([d.log for d in daemons])
    active = set(fleet.fleet.names()[: fleet.fleet.active_clusters])
    requests: Counter[str] = Counter()
    cycles: Counter[str] = Counter()
    health = 0
    for name in fleet.fleet.names():
        kind = "busy" if name in active else "idle"
        interval = BUSY_INTERVAL if kind == "busy" else RUN_INTERVAL
        done = [t for t in ends.get(name, []) if begin <= t <= end]
        phase.cycles.setdefault(kind, []).extend(cycle_times(starts.get(name, []), done))
        gaps = [b - a for a, b in zip(done, done[1:])]
        phase.gaps.setdefault(kind, []).extend(gaps)
        phase.late[kind] = phase.late.get(kind, 0) + (not done or any(g > interval + LATE_SLACK for g in gaps))
        phase.unsynced[kind] = phase.unsynced.get(kind, 0) + (not done)
        delta = counts_after[name] - counts_before[name]
        health += sum(n for endpoint, n in delta.items() if endpoint in HEALTH_ENDPOINTS)
        requests[kind] += sum(n for endpoint, n in delta.items() if endpoint not in HEALTH_ENDPOINTS)
        cycles[kind] += len(done)
    phase.requests_per_cycle = {kind: requests[kind] / cycles[kind] for kind in cycles if cycles[kind]}
    phase.health_per_minute = health * 60 / wall
    return phase


def report(phase: Phase, fleet: Fleet) -> None:
    print(f"\n== {phase.label}: {phase.seconds:.0f} s measured")
    for kind, interval in (("idle", RUN_INTERVAL), ("busy", BUSY_INTERVAL)):
        times, gaps = [t * 1000 for t in phase.cycles.get(kind, [])], phase.gaps.get(kind, [])
        clusters = fleet.clusters - fleet.active_clusters if kind == "idle" else fleet.active_clusters
        print(f"  {kind} clusters ({clusters}, interval {interval:.0f} s): {len(times)} cycles ended, wall "
              f"p50 {percentile(times, 50):.0f} ms, p95 {percentile(times, 95):.0f} ms, max {max(times, default=0):.0f} ms")
        print(f"    between a cluster's completed syncs p50 {percentile(gaps, 50):.2f} s, max {max(gaps, default=0):.2f} s; "
              f"late (a gap over {interval + LATE_SLACK:.1f} s, or no sync in the window): "
              f"{phase.late.get(kind, 0)} of {clusters} clusters ({phase.unsynced.get(kind, 0)} with no sync); "
              f"{phase.requests_per_cycle.get(kind, float('nan')):.2f} requests/cycle")
    print(f"  health checks: {phase.health_per_minute:.0f} requests/min; failed cycles: {phase.failed_cycles}; "
          f"PostgreSQL connections: {phase.connections}")
    for row in phase.daemons:
        jobs = " + store jobs" if row["store_jobs"] else ""
        print(f"  daemon pid {row['pid']:>7}: {row['clusters']:2d} clusters{jobs:<14} CPU {row['cpu']:5.1f} %  "
              f"RSS {row['rss']:5.0f} MB (peak {row['peak']:.0f})")
    total = sum(row["cpu"] for row in phase.daemons)
    print(f"  daemons together CPU {total:.1f} %; PostgreSQL {phase.postgres_cpu:.1f} %; "
          f"simulators {phase.sims_cpu:.1f} %; the rest of the machine {phase.others_cpu:.1f} % "
          f"(of {100 * (os.cpu_count() or 1)} %)")


def compare(one: Phase, three: Phase) -> None:
    def ratio(a: float, b: float) -> str:
        return f"{b / a:.2f}x" if a and a == a and b == b else "n/a"  # nan: no cycle ended

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms" if seconds == seconds else "no cycle ended"

    print("\n== three daemons vs one (ratio = three / one)")
    for kind in ("idle", "busy"):
        for p in (50, 95):
            a, b = percentile(one.cycles.get(kind, []), p), percentile(three.cycles.get(kind, []), p)
            print(f"  {kind} cycle p{p}: {ms(a)} -> {ms(b)} ({ratio(a, b)})")
        a, b = one.requests_per_cycle.get(kind, 0), three.requests_per_cycle.get(kind, 0)
        print(f"  {kind} requests/cycle: {a:.2f} -> {b:.2f} ({ratio(a, b)})")
    cpu_one = sum(r["cpu"] for r in one.daemons)
    cpu_three = sum(r["cpu"] for r in three.daemons)
    print(f"  daemon CPU, all daemons: {cpu_one:.1f} % -> {cpu_three:.1f} % ({ratio(cpu_one, cpu_three)})")
    busiest = max(r["cpu"] for r in three.daemons)
    print(f"  daemon CPU, busiest daemon: {cpu_one:.1f} % -> {busiest:.1f} % ({ratio(cpu_one, busiest)})")
    rss_one, rss_three = one.daemons[0]["rss"], sum(r["rss"] for r in three.daemons) / len(three.daemons)
    print(f"  RSS per daemon: {rss_one:.0f} MB -> {rss_three:.0f} MB ({ratio(rss_one, rss_three)})")
    print(f"  PostgreSQL CPU: {one.postgres_cpu:.1f} % -> {three.postgres_cpu:.1f} % "
          f"({ratio(one.postgres_cpu, three.postgres_cpu)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--dags", type=int, default=2000, help="DAGs (and workflows) per cluster")
    parser.add_argument("--active-clusters", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per simulated request")
    parser.add_argument("--seconds", type=float, default=60, help="measured time per phase")
    parser.add_argument("--keep-logs", action="store_true", help="keep the daemons' logs")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleans up like Ctrl-C
    fleet_spec = Fleet(args.clusters, args.dags, args.latency, active_clusters=args.active_clusters)
    print(f"{os.cpu_count()} CPUs; {args.clusters} clusters x {args.dags} DAGs, {args.latency * 1000:.0f} ms "
          f"per request; {args.active_clusters} clusters with {fleet_spec.active_runs} running runs each")
    with ExitStack() as stack:
        fleet = SimFleet(fleet_spec)
        stack.callback(fleet.stop)
        work = stack.enter_context(scratch_dir(args.keep_logs))
        specs = work / "specs"
        started = time.monotonic()
        url, postgres = start_store(stack)
        seed_workflows(specs, fleet_spec)
        print(f"store seeded with {args.clusters * args.dags:,} workflows in {time.monotonic() - started:.0f} s "
              "(not measured)")
        config = work / "basecamp.toml"
        write_config(config, url, specs, fleet.urls)
        watch = CycleWatch()
        stack.callback(watch.close)
        names = fleet_spec.names()
        phases = []
        for label, count in (("one daemon", 1), ("three daemons", 3)):
            daemons = [DaemonProcess(config, work / f"{label.replace(' ', '-')}-{i}.log") for i in range(count)]
            for daemon in daemons:
                stack.callback(daemon.stop)
            settle(label, daemons, names)
            time.sleep(5)  # past the start-up burst (every job runs once at start)
            phase = measure(label, daemons, fleet, watch, postgres, args.seconds)
            report(phase, fleet_spec)
            phases.append(phase)
            stopped = stop_all(daemons)
            print(f"  SIGTERM -> exit: {', '.join(f'{t:.1f} s' for t in stopped)} (killed after 20 s)")
        compare(*phases)


if __name__ == "__main__":
    main()
