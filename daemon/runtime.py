"""Running the daemon's jobs: one cycle (``--once``) or a loop until SIGTERM/SIGINT.

Jobs: the spec sync, and per cluster a health check and a run sync. Each cluster is
worked on in its own thread, so one slow or dead cluster never delays the others. The
action queue joins these jobs with its own capability.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from daemon import paths
from daemon.airflow import AirflowClient
from daemon.clusters import upsert_clusters
from daemon.config import ClusterConfig, Config
from daemon.health import check_cluster
from daemon.run_sync import RunSync, RunSyncReport
from daemon.spec_store import SpecStore, open_spec_store
from daemon.spec_sync import SpecSync, SpecSyncReport
from daemon.store.db import open_store
from daemon.store.models import utcnow

log = logging.getLogger(__name__)


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


class Daemon:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = open_store(config.database.url)
        upsert_clusters(config.clusters)
        self.spec_sync = SpecSync(
            self.db,
            spec_store_for(config),
            max_spec_bytes=config.storage.max_spec_bytes,
            max_delete_fraction=config.sync.max_delete_fraction,
        )
        self.workers = [self._worker(cluster) for cluster in config.clusters]
        self.pool = ThreadPoolExecutor(max_workers=max(1, len(self.workers)), thread_name_prefix="cluster")
        self.stop = threading.Event()

    def _worker(self, cluster: ClusterConfig) -> ClusterWorker:
        client = AirflowClient(cluster)
        sync = RunSync(
            self.db, cluster, client,
            lookback_hours=self.config.sync.lookback_hours,
            stale_threshold_hours=self.config.sync.stale_threshold_hours,
        )
        return ClusterWorker(cluster, client, sync)

    def sync_specs(self, *, allow_mass_removal: bool = False) -> SpecSyncReport:
        report = self.spec_sync.run(allow_mass_removal=allow_mass_removal)
        log.info(
            "spec sync: %d listed, %d fetched, %d workflows written, %d removed%s",
            report.listed, report.fetched, report.workflows_written, report.removed,
            f"; {report.error}" if report.error else "",
        )
        return report

    def check_health(self) -> list[bool]:
        now = utcnow()
        return list(self.pool.map(lambda w: check_cluster(w.config.name, w.client, now), self.workers))

    def sync_runs(self) -> list[RunSyncReport]:
        reports = list(self.pool.map(lambda w: w.run_sync.run(), self.workers))
        for report in reports:
            log.info(
                "run sync %s: %d runs seen, %d written, tasks of %d runs%s",
                report.cluster, report.runs_seen, report.runs_written, report.tasks_fetched_for,
                f"; {report.error}" if report.error else "",
            )
        return reports

    def run_once(self, *, allow_mass_removal: bool = False) -> list[str]:
        """One spec sync, health checks, one run sync; returns what failed."""
        failures = []
        spec = self.sync_specs(allow_mass_removal=allow_mass_removal)
        if not spec.ok:
            failures.append(spec.error or "spec sync failed")
        self.check_health()
        failures += [f"{r.cluster}: {r.error}" for r in self.sync_runs() if not r.ok]
        return failures

    def run_forever(self) -> None:
        """Each job on its own drift-free interval until SIGTERM or SIGINT."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop.set())
        sync = self.config.sync
        jobs: list[tuple[float, Callable[[], object]]] = [
            (sync.spec_interval_seconds, self.sync_specs),
            (sync.health_interval_seconds, self.check_health),
            (sync.run_interval_seconds, self.sync_runs),
        ]
        due = [time.monotonic()] * len(jobs)
        while not self.stop.is_set():
            for index, (interval, job) in enumerate(jobs):
                if time.monotonic() >= due[index]:
                    try:
                        job()
                    except Exception:  # a bug in one cycle must not end the daemon
                        log.exception("%s failed", getattr(job, "__name__", "job"))
                    due[index] += interval
                    due[index] = max(due[index], time.monotonic())
            self.stop.wait(max(0.0, min(due) - time.monotonic()))
        self.close()
        log.info("daemon stopped")

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for worker in self.workers:
            worker.client.close()
