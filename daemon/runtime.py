"""Running the daemon's jobs: one cycle (``--once``) or a loop until SIGTERM/SIGINT.

This runtime covers the spec sync; the run sync, health checks and the action queue
join it as their capabilities land.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

from daemon import paths
from daemon.clusters import upsert_clusters
from daemon.config import Config
from daemon.spec_store import SpecStore, open_spec_store
from daemon.spec_sync import SpecSync, SpecSyncReport
from daemon.store.db import open_store

log = logging.getLogger(__name__)


def spec_store_for(config: Config) -> SpecStore:
    """The configured spec store; the embedded default folder is created on first use
    (a configured folder that is missing stays an error: it is probably a typo)."""
    storage = config.storage
    if storage.type == "local" and Path(storage.path) == paths.default_spec_dir():
        for source in ("code", "manual"):
            (Path(storage.path) / source).mkdir(parents=True, exist_ok=True)
    return open_spec_store(storage)


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
        self.stop = threading.Event()

    def sync_specs(self, *, allow_mass_removal: bool = False) -> SpecSyncReport:
        report = self.spec_sync.run(allow_mass_removal=allow_mass_removal)
        log.info(
            "spec sync: %d listed, %d fetched, %d workflows written, %d removed%s",
            report.listed, report.fetched, report.workflows_written, report.removed,
            f"; {report.error}" if report.error else "",
        )
        return report

    def run_forever(self) -> None:
        """Spec sync every ``spec_interval_seconds`` on a drift-free schedule."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop.set())
        interval = self.config.sync.spec_interval_seconds
        next_at = time.monotonic()
        while not self.stop.is_set():
            try:
                self.sync_specs()
            except Exception:  # a bug in one cycle must not end the daemon
                log.exception("spec sync failed")
            next_at += interval
            self.stop.wait(max(0.0, next_at - time.monotonic()))
        log.info("daemon stopped")
