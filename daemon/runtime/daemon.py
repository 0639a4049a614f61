"""The daemon's runtime: one cycle (``basecamp daemon --once``) or a loop until SIGTERM.

Threads. The main thread runs the loop. Every ``TICK_SECONDS`` it asks the ``schedule``
scheduler which periodic jobs are due and submits them to their pools (one thread for
the spec sync, one per cluster for its run sync and health check, one for the heartbeat,
one for notifications); a job whose previous run is still going is skipped, not queued.
Then the action dispatcher (``daemon.actions.dispatch``) hands pending actions to the
action pool. So a 40-second cold spec sync never delays a pause, and a dead cluster
delays only its own jobs. The loop itself makes only short store queries (the pending
actions) and the watchdog ping; the network IO happens in the pools. The exception is a
SIGHUP: the reload runs in the loop and waits up to ``STOP_GRACE_SECONDS`` for in-flight
actions before it swaps the new components in.

Signals. The handlers only set plain attributes; they take no lock, since a handler
runs in the main thread and could otherwise wait for a lock that thread already holds.
The loop acts on them within a tick. SIGTERM and SIGINT stop. SIGHUP reloads the
config: everything it describes is built first (``daemon.runtime.components``) and
swapped in only when all of it was built, so a config that cannot be used leaves the
running one in place. The store is not reopened: a changed ``[database] url`` needs a
restart.

Sharing. On SQLite the daemon is its store's only one and does everything. On PostgreSQL
several daemons split the work (``daemon.runtime.ownership``): a thread of its own keeps
this daemon's share (advisory locks), and the jobs and actions of clusters it does not
own are left to their owners; the spec sync, the notifier and actions that name no
cluster run on the daemon that holds the store jobs.

Stopping. Whatever ends the loop (a signal, a lost lease, an exception), ``run_forever``
sends STOPPING=1, lets in-flight actions finish or hand themselves back to the queue (at
most ``STOP_GRACE_SECONDS``), hands its clusters over (shared stores), releases the lease
and shuts the pools down without waiting for syncs still talking to a cluster (``basecamp
daemon`` then ends the process with ``os._exit``, so such a sync cannot hold up the exit). An exception is logged with
its traceback and makes the exit code 1, so systemd (``Restart=on-failure``) starts a
new daemon.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable

import schedule
from peewee import InterfaceError, OperationalError

from daemon.actions.context import ExecContext
from daemon.actions.dispatch import ActionDispatcher
from daemon.actions.executor import ActionExecutor
from daemon.core.config import Config, load_config
from daemon.core.errors import BasecampError
from daemon.core.timefmt import utcnow
from daemon.notify import Notifier
from daemon.run_sync import RunSyncReport
from daemon.run_sync.engine import is_busy
from daemon.run_sync.health import check_cluster
from daemon.runtime.components import (
    BuildError,
    ClusterWorker,
    Components,
    build_components,
)
from daemon.runtime.ownership import (
    STOP_QUIESCE_SECONDS,
    STORE_JOBS,
    Ownership,
    SharedOwnership,
    SoleOwnership,
)
from daemon.runtime.systemd import SystemdNotifier
from daemon.spec_sync import SpecSyncReport
from daemon.store.clusters import upsert_clusters
from daemon.store.db import open_store, release_connection
from daemon.store.lease import SharedLease, lease_for
from daemon.store.models import Action

log = logging.getLogger(__name__)

STORE_RETRY_SECONDS = 1.0
TICK_SECONDS = 0.05
"""How often the main loop looks for due jobs and pending actions (pickup latency)."""
NOTIFY_INTERVAL_SECONDS = 5.0
STOP_GRACE_SECONDS = 8.0
"""SIGTERM: how long in-flight actions may take to finish (systemd allows 10 s)."""
STORE_CONNECTIONS = 16
"""PostgreSQL: the most connections a daemon holds (a pool its threads share; each job
hands its connection back). A few threads keep one: the main loop, the heartbeat and
the cluster-ownership thread; cluster syncs, health checks, actions and the notifier
take turns with the rest. Unused on SQLite (a connection per thread, no server)."""
RECOVER_AFTER = timedelta(seconds=5)
"""A shared store's action claimed by a daemon that is gone goes back to the queue once
the claim is this old (see ``_recover_from_the_dead``)."""
_SignalHandler = Callable[[int, Any], Any] | int | None


def basecamp_version() -> str:
    try:
        return version("basecamp")
    except PackageNotFoundError:
        return "dev"


class Daemon:
    """The runtime for one store: ``run_forever`` or ``run_once``, then ``close``."""

    def __init__(self, config: Config, *, config_path: str | None = None,
                 systemd: SystemdNotifier | None = None) -> None:
        self.config_path = config_path
        self.db = open_store(config.database.url, max_connections=STORE_CONNECTIONS)
        self.systemd = systemd or SystemdNotifier()
        self.lease = lease_for(self.db, config.daemon.stale_after_seconds, basecamp_version())
        self.stop = threading.Event()
        """Ends the loop; set from any thread (a lost lease) or by a test."""
        self.exit_code = 0
        self._stop_signal: int | None = None
        self._reload_requested = False
        self.spec_lock = threading.Lock()
        self.spec_pool = ThreadPoolExecutor(1, thread_name_prefix="specs")
        self.heartbeat_pool = ThreadPoolExecutor(1, thread_name_prefix="heartbeat")
        self.notify_pool = ThreadPoolExecutor(1, thread_name_prefix="notify")
        self.jobs: dict[str, Future[Any]] = {}
        self._last_run_sync: dict[str, float] = {}
        """When each cluster's run sync was last started (monotonic)."""
        self.parts = build_components(config, self.db)
        self._record_clusters(config)
        self.ownership: Ownership = self._ownership(config)
        self._ownership_stop = threading.Event()
        self._ownership_thread: threading.Thread | None = None
        self._action_clusters: dict[int, str | None] = {}
        """Action id -> the cluster it acts on (resolved once per pending action)."""
        self.dispatcher = ActionDispatcher(self._executor(self.parts), config.daemon.action_workers,
                                           accepts=self._accepts)
        self.scheduler = self._schedule(self.parts)

    def _ownership(self, config: Config) -> Ownership:
        if not isinstance(self.lease, SharedLease):
            return SoleOwnership()
        return SharedOwnership(self.db, self.lease.holder, lambda: list(self.workers),
                               interval=config.daemon.heartbeat_seconds, quiesce=self._quiesce,
                               on_taken=self._taken, on_live=self._recover_from_the_dead)

    @property
    def config(self) -> Config:
        return self.parts.config

    @property
    def workers(self) -> dict[str, ClusterWorker]:
        return self.parts.workers

    @property
    def notifier(self) -> Notifier:
        return self.parts.notifier

    @property
    def executor(self) -> ActionExecutor:
        return self.dispatcher.executor

    # --- configuration ----------------------------------------------------------------

    def _record_clusters(self, config: Config) -> None:
        with self.db.atomic():  # all rows or none: a failed reload leaves them as they were
            upsert_clusters(config.clusters)

    def _executor(self, parts: Components) -> ActionExecutor:
        ctx = ExecContext(config=parts.config, clients={n: w.client for n, w in parts.workers.items()},
                          spec_store=parts.spec_sync.source, sync_specs=self.sync_specs,
                          sync_runs=self.sync_runs)
        return ActionExecutor(ctx, self.lease.holder)

    def _schedule(self, parts: Components) -> schedule.Scheduler:
        """The periodic jobs of ``parts``, each submitted to its own pool when due."""
        scheduler = schedule.Scheduler()
        sync = parts.config.sync
        scheduler.every(sync.spec_interval_seconds).seconds.do(
            self._submit_store_job, "specs", self.spec_pool, self.sync_specs)
        for name, worker in parts.workers.items():
            scheduler.every(sync.busy_interval_seconds).seconds.do(
                self._sync_runs_when_due, name, worker)
            scheduler.every(sync.health_interval_seconds).seconds.do(
                self._submit, f"health:{name}", worker.pool, self._check_one, worker)
        scheduler.every(parts.config.daemon.heartbeat_seconds).seconds.do(
            self._submit, "heartbeat", self.heartbeat_pool, self.heartbeat)
        scheduler.every(NOTIFY_INTERVAL_SECONDS).seconds.do(
            self._submit_store_job, "notify", self.notify_pool, parts.notifier.run_once)
        return scheduler

    def reload(self) -> None:
        """SIGHUP: load the config again and build everything it describes; swap it in
        only when all of it was built. On any failure the running config stays."""
        self.systemd.reloading()
        new: Components | None = None
        try:
            config = load_config(self.config_path)
            new = build_components(config, self.db)
            executor, scheduler = self._executor(new), self._schedule(new)
            self._record_clusters(config)
        except Exception as exc:
            if new is not None:
                new.close(wait=False)
            self._reload_failed(exc)
            return
        if config.database.url != self.config.database.url:
            log.warning("[database] url changed: restart the daemon to use the new store")
        self.dispatcher.drain(STOP_GRACE_SECONDS)
        old, self.parts, self.scheduler = self.parts, new, scheduler
        self.dispatcher.use(executor, config.daemon.action_workers)
        # Retire the old pieces behind whatever they are still doing, without waiting.
        for worker in old.workers.values():
            worker.retire()
        self.notify_pool.submit(old.notifier.close)
        log.info("config reloaded from %s: %d cluster(s)", config.source or "defaults", len(config.clusters))
        self.systemd.reloaded(status="config reloaded")

    def _reload_failed(self, exc: Exception) -> None:
        """One line that says why and what to do; a traceback only for the unexpected."""
        reason = str(exc) if isinstance(exc, BasecampError) else f"{type(exc).__name__}: {exc}"
        reason = reason.rstrip(". ")  # the line goes on with a sentence of its own
        cause = exc.__cause__ if isinstance(exc, BuildError) else exc
        log.error("config reload failed, keeping the running config: %s. Reload again once that "
                  "is fixed (systemctl reload basecamp-daemon, or kill -HUP %d).", reason, os.getpid(),
                  exc_info=not isinstance(cause, BasecampError))
        self.systemd.reloaded(status=f"config reload failed, running the previous config: {reason}")

    # --- sharing the store ----------------------------------------------------------

    def _accepts(self, action_id: int, kind: str, target: str) -> bool:
        """Whether this daemon carries out a pending action: on a shared store, the
        owner of the action's cluster does (the store jobs' holder when it names none)."""
        if isinstance(self.ownership, SoleOwnership):
            return True
        if action_id not in self._action_clusters:
            if len(self._action_clusters) > 10_000:
                self._action_clusters.clear()
            self._action_clusters[action_id] = self.executor.cluster_of(kind, target)
        cluster = self._action_clusters[action_id]
        return self.ownership.runs_store_jobs() if cluster is None else self.ownership.owns(cluster)

    @contextmanager
    def _quiesce(self, unit: str, timeout: float) -> Iterator[None]:
        """Before a unit is handed over: wait up to ``timeout`` s for its sync in progress."""
        worker = self.workers.get(unit)
        lock = self.spec_lock if unit == STORE_JOBS else worker.lock if worker else None
        locked = lock is not None and lock.acquire(timeout=timeout)
        try:
            yield
        finally:
            if locked and lock is not None:
                lock.release()

    def _recover_from_the_dead(self, live: set[str]) -> None:
        """Actions claimed by daemons no longer live go back to the queue. Only claims
        older than ``RECOVER_AFTER``: a daemon that started after ``live`` was read may
        have claimed one since (and clocks of machines differ a little)."""
        self.executor.recover(live, claimed_before=utcnow() - RECOVER_AFTER)

    def _taken(self, cluster: str) -> None:
        """A cluster this daemon just took is synced at the next tick."""
        self._last_run_sync.pop(cluster, None)

    def _start_ownership(self) -> None:
        if isinstance(self.ownership, SharedOwnership):
            self._ownership_thread = threading.Thread(
                target=self.ownership.run, args=(self._ownership_stop,), name="ownership", daemon=True)
            self._ownership_thread.start()

    def _stop_ownership(self) -> None:
        """Hand every cluster over (the thread does, on its way out)."""
        self._ownership_stop.set()
        if isinstance(self.ownership, SharedOwnership):
            self.ownership.interrupt()
        if self._ownership_thread is not None:
            self._ownership_thread.join(STOP_QUIESCE_SECONDS + 5)

    # --- jobs -------------------------------------------------------------------------

    def _sync_runs_when_due(self, name: str, worker: ClusterWorker) -> None:
        """Every busy interval: sync a cluster that has active runs (or an action waits),
        an idle one every ``run_interval_seconds`` (a quiet cluster costs no more)."""
        if not self.ownership.owns(name):
            return
        now = time.monotonic()
        last = self._last_run_sync.get(name)
        if last is None or now - last >= self.config.sync.run_interval_seconds or is_busy(name):
            self._last_run_sync[name] = now
            self._submit(f"runs:{name}", worker.pool, self.sync_runs, name)

    def _submit_store_job(self, key: str, pool: ThreadPoolExecutor, job: Callable[..., Any]) -> None:
        if self.ownership.runs_store_jobs():
            self._submit(key, pool, job)

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
        finally:
            release_connection()

    def sync_specs(self, *, allow_mass_removal: bool = False) -> SpecSyncReport:
        with self.spec_lock:
            report = self.parts.spec_sync.run(allow_mass_removal=allow_mass_removal)
        log.info("spec sync: %d listed, %d fetched, %d workflows written, %d removed%s",
                 report.listed, report.fetched, report.workflows_written, report.removed,
                 f"; {report.error}" if report.error else "")
        return report

    def sync_runs(self, cluster: str | None = None) -> list[RunSyncReport]:
        reports = []
        for name, worker in self.workers.items():
            if (cluster is not None and name != cluster) or not self.ownership.owns(name):
                continue
            with worker.lock:
                report = worker.run_sync.run()
            log.log(logging.WARNING if report.error else logging.DEBUG,
                    "run sync %s: %d runs seen, %d written, tasks of %d runs%s", report.cluster,
                    report.runs_seen, report.runs_written, report.tasks_fetched_for,
                    f"; {report.error}" if report.error else "")
            reports.append(report)
        return reports

    def _check_one(self, worker: ClusterWorker) -> bool | None:
        """The cluster's health (None: another daemon owns it)."""
        if not self.ownership.owns(worker.config.name):
            return None
        try:
            return check_cluster(worker.config.name, worker.client, utcnow())
        finally:
            release_connection()

    def check_health(self) -> list[bool | None]:
        futures = [w.pool.submit(self._check_one, w) for w in self.workers.values()]
        return [f.result() for f in futures]

    def heartbeat(self) -> None:
        pending = Action.select().where(Action.state == "pending").count()
        owned = sum(1 for name in self.workers if self.ownership.owns(name))
        clusters = (f"{len(self.workers)} cluster(s)" if isinstance(self.ownership, SoleOwnership)
                    else f"{owned} of {len(self.workers)} cluster(s)")
        status = f"{clusters}; {self.dispatcher.running} action(s) running, {pending} pending"
        if not self.lease.heartbeat(status):
            log.error("another daemon took over this store; stopping")
            self.exit_code = 1
            self.stop.set()
            return
        self.systemd.status(status)

    # --- running ----------------------------------------------------------------------

    def run_once(self, *, allow_mass_removal: bool = False) -> list[str]:
        """One spec sync, health checks, one run sync, every pending action and a
        notification round; returns what failed."""
        self.lease.acquire()
        try:
            if isinstance(self.ownership, SharedOwnership):
                self.ownership.connect()
                self.ownership.rebalance()  # this cycle's share (everything when alone)
            else:
                self.executor.recover()
            failures = []
            if self.ownership.runs_store_jobs():
                spec = self.sync_specs(allow_mass_removal=allow_mass_removal)
                if not spec.ok:
                    failures.append(spec.error or "spec sync failed")
            self.check_health()
            failures += [f"{r.cluster}: {r.error}" for r in self.sync_runs() if not r.ok]
            self.dispatcher.run_pending()
            if self.ownership.runs_store_jobs():
                self.notifier.run_once()
            return failures
        finally:
            if isinstance(self.ownership, SharedOwnership):
                self.ownership.release_all()
            self.lease.release()

    def run_forever(self) -> int:
        """Until SIGTERM/SIGINT or a lost lease; returns the exit code (1 when the loop
        failed or another daemon took the store). Cleans up on every way out."""
        self.lease.acquire()  # StoreHeld: nothing was started, nothing to undo
        previous = self._install_signals()
        try:
            self._start()
            self._loop()
        except Exception:
            log.exception("the daemon's main loop failed; stopping")
            self.exit_code = 1
        finally:
            try:
                self.shutdown()
            finally:
                self._restore_signals(previous)
        return self.exit_code

    def _start(self) -> None:
        if isinstance(self.ownership, SharedOwnership):
            self._start_ownership()  # it hands back the actions of dead daemons
        else:
            self.executor.recover()
        self.scheduler.run_all()  # every job once at start, then on its interval
        self.heartbeat()
        self.systemd.ready(status="running")
        log.info("daemon running (%s); %d cluster(s)", self.lease.holder, len(self.workers))

    def _loop(self) -> None:
        watchdog = self.systemd.watchdog_interval()
        next_watchdog = time.monotonic()
        while not self.stop.is_set():
            if self._stop_signal is not None:
                log.info("received %s: stopping", signal.Signals(self._stop_signal).name)
                return
            if self._reload_requested:
                self._reload_requested = False  # a SIGHUP from here on reloads again
                self.reload()
            try:
                self.scheduler.run_pending()
                self.dispatcher.dispatch()
            except (OperationalError, InterfaceError) as exc:
                # The store is briefly unavailable (locked past the busy timeout, a
                # PostgreSQL restart): ride it out; anything else stops the daemon.
                log.warning("store unavailable in the main loop, trying again: %s", exc)
                self.stop.wait(STORE_RETRY_SECONDS)
                continue
            if watchdog is not None and time.monotonic() >= next_watchdog:
                self.systemd.watchdog()
                next_watchdog = time.monotonic() + watchdog
            self.stop.wait(TICK_SECONDS)

    def _install_signals(self) -> dict[signal.Signals, _SignalHandler]:
        """Handlers that only set attributes; returns the handlers they replace."""
        def on_stop(signum: int, _frame: object) -> None:
            self._stop_signal = signum

        def on_reload(_signum: int, _frame: object) -> None:
            self._reload_requested = True

        handlers = {signal.SIGTERM: on_stop, signal.SIGINT: on_stop, signal.SIGHUP: on_reload}
        return {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}

    @staticmethod
    def _restore_signals(previous: dict[signal.Signals, _SignalHandler]) -> None:
        for signum, handler in previous.items():
            # None: the handler was not set from Python; the default is the best guess.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    def shutdown(self) -> None:
        """STOPPING=1, let in-flight actions finish or hand back, release the lease, stop
        the pools. Every step runs even when one before it failed."""
        self.systemd.stopping(status="finishing in-flight actions")
        steps: tuple[tuple[str, Callable[[], None]], ...] = (
            ("finishing in-flight actions", lambda: self.dispatcher.drain(STOP_GRACE_SECONDS)),
            ("handing the clusters over", self._stop_ownership),
            ("releasing the store lease", self._release_lease),
            ("shutting the pools down", lambda: self.close(wait=False)),
        )
        for what, step in steps:
            try:
                step()
            except Exception:
                log.exception("stopping: %s failed", what)
        log.info("daemon stopped")

    def _release_lease(self) -> None:
        """After the last heartbeat: one still running would write "running" over it."""
        self.heartbeat_pool.shutdown(wait=True, cancel_futures=True)
        self.lease.release()

    def close(self, *, wait: bool = True) -> None:
        """Stop the scheduler and every pool; close the clients and the notifier."""
        self.scheduler.clear()
        self.dispatcher.close(wait=wait)
        for pool in (self.spec_pool, self.heartbeat_pool, self.notify_pool):
            pool.shutdown(wait=wait, cancel_futures=True)
        self.parts.close(wait=wait)
