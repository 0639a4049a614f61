"""The daemon's runtime: one cycle (``--once``) or a loop until SIGTERM.

The main loop never does IO that can block: it asks the ``schedule`` scheduler which
periodic jobs are due and hands them to thread pools (one spec-sync thread, one thread
per cluster, one for the heartbeat, one for notifications), and it hands pending actions to the action pool.
So a 40-second cold spec sync never delays a pause, and a dead cluster never delays
another. Signal handlers only set flags; the loop reacts within its tick.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable

import schedule

from daemon.core import paths
from daemon.actions.context import ExecContext
from daemon.actions.executor import LONG_KINDS, ActionExecutor
from daemon.airflow import AirflowClient
from daemon.store.clusters import upsert_clusters
from daemon.core.config import ClusterConfig, Config, load_config
from daemon.run_sync.health import check_cluster
from daemon.store.lease import Lease
from daemon.notify import Notifier
from daemon.run_sync import RunSync, RunSyncReport
from daemon.spec_store import SpecStore, open_spec_store
from daemon.spec_sync import SpecSync, SpecSyncReport
from daemon.store.db import open_store
from daemon.store.models import Action, utcnow
from daemon.runtime.systemd import SystemdNotifier

log = logging.getLogger(__name__)

TICK_SECONDS = 0.05
"""How often the main loop looks for due jobs and pending actions (pickup latency)."""
NOTIFY_INTERVAL_SECONDS = 5.0
STOP_GRACE_SECONDS = 8.0
"""SIGTERM: how long in-flight actions may take to finish (systemd allows 10 s)."""


def basecamp_version() -> str:
    try:
        return version("basecamp")
    except PackageNotFoundError:
        return "dev"


def spec_store_for(config: Config) -> SpecStore:
    """The configured spec store; the embedded default folder is created on first use
    (a configured folder that is missing stays an error: it is probably a typo)."""
    storage = config.storage
    if storage.type == "local" and Path(storage.path) == paths.default_spec_dir():
        for source in ("code", "manual"):
            (Path(storage.path) / source).mkdir(parents=True, exist_ok=True)
    return open_spec_store(storage)


@dataclass
class ClusterWorker:
    config: ClusterConfig
    client: AirflowClient
    run_sync: RunSync
    lock: threading.Lock
    pool: ThreadPoolExecutor


class Daemon:
    def __init__(self, config: Config, *, config_path: str | None = None,
                 systemd: SystemdNotifier | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.db = open_store(config.database.url)
        self.systemd = systemd or SystemdNotifier()
        self.lease = Lease(config.daemon.stale_after_seconds, basecamp_version())
        self.stop = threading.Event()
        self.reload_requested = threading.Event()
        self.spec_lock = threading.Lock()
        self.spec_pool = ThreadPoolExecutor(1, thread_name_prefix="specs")
        self.heartbeat_pool = ThreadPoolExecutor(1, thread_name_prefix="heartbeat")
        self.notify_pool = ThreadPoolExecutor(1, thread_name_prefix="notify")
        self.action_pool = ThreadPoolExecutor(config.daemon.action_workers, thread_name_prefix="action")
        self.in_flight: dict[int, tuple[Future[None], str]] = {}
        self.jobs: dict[str, Future[Any]] = {}
        self.scheduler = schedule.Scheduler()
        self.exit_code = 0
        self._configure(config)

    # --- configuration ----------------------------------------------------------------

    def _configure(self, config: Config) -> None:
        """(Re)build everything that depends on the config, except the store."""
        self.config = config
        upsert_clusters(config.clusters)
        self.spec_sync = SpecSync(self.db, spec_store_for(config),
                                  max_spec_bytes=config.storage.max_spec_bytes,
                                  max_delete_fraction=config.sync.max_delete_fraction)
        self.workers = {c.name: self._worker(c) for c in config.clusters}
        self.notifier = Notifier(config.notifications)
        self.ctx = ExecContext(config=config, clients={n: w.client for n, w in self.workers.items()},
                               spec_store=self.spec_sync.source, sync_specs=self.sync_specs,
                               sync_runs=self.sync_runs, stop=threading.Event())
        self.executor = ActionExecutor(self.ctx, self.lease.holder)
        self.scheduler.clear()
        sync = config.sync
        self.scheduler.every(sync.spec_interval_seconds).seconds.do(self._submit, "specs", self.spec_pool, self.sync_specs)
        for name, worker in self.workers.items():
            self.scheduler.every(sync.run_interval_seconds).seconds.do(
                self._submit, f"runs:{name}", worker.pool, self.sync_runs, name)
            self.scheduler.every(sync.health_interval_seconds).seconds.do(
                self._submit, f"health:{name}", worker.pool, self._check_one, worker)
        self.scheduler.every(config.daemon.heartbeat_seconds).seconds.do(
            self._submit, "heartbeat", self.heartbeat_pool, self.heartbeat)
        self.scheduler.every(NOTIFY_INTERVAL_SECONDS).seconds.do(
            self._submit, "notify", self.notify_pool, self.notifier.run_once)

    def _worker(self, cluster: ClusterConfig) -> ClusterWorker:
        client = AirflowClient(cluster)
        sync = RunSync(self.db, cluster, client, lookback_hours=self.config.sync.lookback_hours,
                       stale_threshold_hours=self.config.sync.stale_threshold_hours)
        return ClusterWorker(cluster, client, sync, threading.Lock(),
                             ThreadPoolExecutor(1, thread_name_prefix=f"cluster-{cluster.name}"))

    def reload(self) -> None:
        """SIGHUP: read the config again; a broken file keeps the running config."""
        self.systemd.reloading()
        try:
            config = load_config(self.config_path)
        except Exception as exc:
            log.error("config reload failed, keeping the running config: %s", exc)
            self.systemd.reloaded(status="config reload failed; running the previous config")
            return
        if config.database.url != self.config.database.url:
            log.warning("[database] url changed: restart the daemon to use the new store")
        self._drain(STOP_GRACE_SECONDS)
        old_workers, old_notifier = self.workers, self.notifier
        self._configure(config)
        # Retire the old pieces behind whatever they are still doing, without waiting:
        # a sync against a dead cluster must not stall the main loop.
        for worker in old_workers.values():
            worker.pool.submit(worker.client.close)
            worker.pool.shutdown(wait=False)
        self.notify_pool.submit(old_notifier.close)
        log.info("config reloaded from %s: %d cluster(s)", config.source or "defaults", len(config.clusters))
        self.systemd.reloaded(status="config reloaded")

    # --- jobs -------------------------------------------------------------------------

    def _submit(self, key: str, pool: ThreadPoolExecutor, job: Callable[..., Any], *args: Any) -> None:
        """Start ``job`` unless its previous run is still going (no pile-up)."""
        running = self.jobs.get(key)
        if running is not None and not running.done():
            return
        self.jobs[key] = pool.submit(self._guarded, key, job, *args)

    @staticmethod
    def _guarded(key: str, job: Callable[..., Any], *args: Any) -> Any:
        try:
            return job(*args)
        except Exception:  # a bug in one cycle must not end the daemon
            log.exception("%s failed", key)
            return None

    def sync_specs(self, *, allow_mass_removal: bool = False) -> SpecSyncReport:
        with self.spec_lock:
            report = self.spec_sync.run(allow_mass_removal=allow_mass_removal)
        log.info("spec sync: %d listed, %d fetched, %d workflows written, %d removed%s",
                 report.listed, report.fetched, report.workflows_written, report.removed,
                 f"; {report.error}" if report.error else "")
        return report

    def sync_runs(self, cluster: str | None = None) -> list[RunSyncReport]:
        reports = []
        for name, worker in self.workers.items():
            if cluster is not None and name != cluster:
                continue
            with worker.lock:
                report = worker.run_sync.run()
            log.log(logging.WARNING if report.error else logging.DEBUG,
                    "run sync %s: %d runs seen, %d written, tasks of %d runs%s", report.cluster,
                    report.runs_seen, report.runs_written, report.tasks_fetched_for,
                    f"; {report.error}" if report.error else "")
            reports.append(report)
        return reports

    def _check_one(self, worker: ClusterWorker) -> bool:
        return check_cluster(worker.config.name, worker.client, utcnow())

    def check_health(self) -> list[bool]:
        futures = [w.pool.submit(self._check_one, w) for w in self.workers.values()]
        return [f.result() for f in futures]

    def heartbeat(self) -> None:
        pending = Action.select().where(Action.state == "pending").count()
        status = (f"{len(self.workers)} cluster(s); {len(self.in_flight)} action(s) running, "
                  f"{pending} pending")
        if not self.lease.heartbeat(status):
            log.error("another daemon took over this store; stopping")
            self.exit_code = 1
            self.stop.set()
            return
        self.systemd.status(status)

    # --- actions ----------------------------------------------------------------------

    def dispatch_actions(self) -> int:
        """Hand pending actions to free workers, oldest first; one action per target at
        a time (a pause queued after an unpause runs after it), except long backfills."""
        for action_id in [i for i, (f, _) in self.in_flight.items() if f.done()]:
            del self.in_flight[action_id]
        free = self.config.daemon.action_workers - len(self.in_flight)
        if free <= 0:
            return 0
        busy = {lane for _, lane in self.in_flight.values()}
        started = 0
        for action_id, kind, target in self.executor.candidates():
            lane = f"{kind}:{target}" if kind in LONG_KINDS else target
            if lane in busy:
                continue
            busy.add(lane)
            self.in_flight[action_id] = (self.action_pool.submit(self._run_action, action_id), lane)
            started += 1
            if started >= free:
                break
        return started

    def _run_action(self, action_id: int) -> None:
        try:
            action = self.executor.claim(action_id)
            if action is not None:
                self.executor.execute(action)
        except Exception:
            log.exception("action %s could not be carried out", action_id)

    def run_pending_actions(self) -> int:
        """``--once``: every pending action, in order, in this thread."""
        done = 0
        while True:
            candidates = self.executor.candidates(limit=1)
            if not candidates:
                return done
            self._run_action(candidates[0][0])
            done += 1

    # --- running ----------------------------------------------------------------------

    def run_once(self, *, allow_mass_removal: bool = False) -> list[str]:
        """One spec sync, health checks, one run sync, every pending action and a
        notification round; returns what failed."""
        self.lease.acquire()
        try:
            self.executor.recover()
            failures = []
            spec = self.sync_specs(allow_mass_removal=allow_mass_removal)
            if not spec.ok:
                failures.append(spec.error or "spec sync failed")
            self.check_health()
            failures += [f"{r.cluster}: {r.error}" for r in self.sync_runs() if not r.ok]
            self.run_pending_actions()
            self.notifier.run_once()
            return failures
        finally:
            self.lease.release()

    def run_forever(self) -> int:
        """Until SIGTERM/SIGINT; returns the exit code."""
        self.lease.acquire()
        self.executor.recover()
        self._install_signals()
        self.scheduler.run_all()  # every job once at start, then on its interval
        self.heartbeat()
        self.systemd.ready(status="running")
        log.info("daemon running (%s); %d cluster(s)", self.lease.holder, len(self.workers))
        watchdog = self.systemd.watchdog_interval()
        next_watchdog = time.monotonic()
        while not self.stop.is_set():
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
            self.scheduler.run_pending()
            self.dispatch_actions()
            if watchdog is not None and time.monotonic() >= next_watchdog:
                self.systemd.watchdog()
                next_watchdog = time.monotonic() + watchdog
            self.stop.wait(TICK_SECONDS)
        self.shutdown()
        return self.exit_code

    def _install_signals(self) -> None:
        def stop(signum: int, _frame: object) -> None:
            log.info("received %s: stopping", signal.Signals(signum).name)
            self.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())

    def _drain(self, grace: float) -> None:
        """Let in-flight actions finish; long ones hand themselves back to the queue. One
        still running after ``grace`` stays claimed and is recovered by the next start."""
        deadline = time.monotonic() + grace
        self.ctx.stop.set()
        for action_id, (future, _) in list(self.in_flight.items()):
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FuturesTimeout:
                log.warning("action %s did not finish in %.0f s; it will be retried", action_id, grace)
        self.in_flight.clear()

    def shutdown(self) -> None:
        self.systemd.stopping(status="finishing in-flight actions")
        self._drain(STOP_GRACE_SECONDS)
        self.lease.release()
        self.close(wait=False)
        log.info("daemon stopped")

    def close(self, *, wait: bool = True) -> None:
        self.scheduler.clear()
        for pool in (self.spec_pool, self.heartbeat_pool, self.notify_pool, self.action_pool):
            pool.shutdown(wait=wait, cancel_futures=True)
        for worker in self.workers.values():
            worker.pool.shutdown(wait=wait, cancel_futures=True)
            worker.client.close()
        self.notifier.close()
