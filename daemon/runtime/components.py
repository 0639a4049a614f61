"""What the daemon builds from its config, apart from the store and the lease.

:func:`build_components` makes the spec sync (with its spec store), one worker per
cluster (Airflow client, run sync, lock and thread) and the notifier: all of them or
none. The config was validated when it was loaded; what can still fail here is what only
the libraries know, such as an S3 ``endpoint_url`` boto3 refuses or an ``AWS_PROFILE``
that does not exist. Such a failure raises :class:`BuildError` naming the file and the
config section, after the parts already built were closed.

That is what lets a SIGHUP with such a config keep the running daemon as it was: the
runtime swaps new components in only once ``build_components`` has returned.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, TypeVar

from peewee import Database

from daemon.airflow import AirflowClient
from daemon.core.config import ClusterConfig, Config
from daemon.core.errors import BasecampError, ConfigError
from daemon.notify import Notifier
from daemon.run_sync import RunSync
from daemon.run_sync.slow import SlowRule
from daemon.spec_store import spec_store_for
from daemon.spec_sync import SpecSync

_T = TypeVar("_T")


class BuildError(ConfigError):
    """A config that validated but whose components cannot be built; the message names
    the file and the section, and the original error is the ``__cause__``."""


@dataclass
class ClusterWorker:
    """One cluster: its client, its run sync and the thread its syncs and health checks
    run on, so a dead cluster delays nothing but itself."""

    config: ClusterConfig
    client: AirflowClient
    run_sync: RunSync
    lock: threading.Lock
    """Held during a run sync: the scheduled one and an action's never overlap."""
    pool: ThreadPoolExecutor

    def retire(self) -> None:
        """Close the client after whatever the worker is still doing, without waiting for
        it: a sync against a dead cluster must not stall the main loop."""
        self.pool.submit(self.client.close)
        self.pool.shutdown(wait=False)

    def close(self, *, wait: bool) -> None:
        """Drop queued jobs and close the client once the running one has finished;
        with ``wait`` this returns after that, else at once."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        if wait:
            self._close_after_pool()
        else:
            # Closing the client under a running sync would fail it with a traceback in
            # the log at every stop; wait for it on a thread of its own instead.
            threading.Thread(target=self._close_after_pool, daemon=True,
                             name=f"close-{self.config.name}").start()

    def _close_after_pool(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()


@dataclass
class Components:
    """Everything one config describes that the daemon runs with."""

    config: Config
    spec_sync: SpecSync
    workers: dict[str, ClusterWorker]
    """By cluster name, in config order."""
    notifier: Notifier

    def close(self, *, wait: bool = True) -> None:
        for worker in self.workers.values():
            worker.close(wait=wait)
        self.notifier.close()


def build_components(config: Config, db: Database) -> Components:
    """Build every component of ``config``, or raise :class:`BuildError` having closed
    the ones already built. Nothing here writes to the store or starts a thread (only
    the embedded default spec folder may be created)."""
    source = str(config.source) if config.source else "embedded defaults"

    def part(section: str, make: Callable[[], _T]) -> _T:
        try:
            return make()
        except Exception as exc:
            # Library errors (ValueError, OSError, ...) keep their type name: it says
            # more than a bare message when the message is terse.
            detail = str(exc) if isinstance(exc, BasecampError) else f"{type(exc).__name__}: {exc}"
            raise BuildError(f"{source}: {section}: {detail}") from exc

    store = part(f'[storage] type = "{config.storage.type}"', lambda: spec_store_for(config.storage))
    spec_sync = SpecSync(db, store, max_spec_bytes=config.storage.max_spec_bytes,
                         max_delete_fraction=config.sync.max_delete_fraction)
    workers: dict[str, ClusterWorker] = {}
    try:
        for cluster in config.clusters:
            workers[cluster.name] = part(f'[[clusters]] name = "{cluster.name}"',
                                         lambda cluster=cluster: _worker(cluster, config, db))
        # Last: a Notifier attaches log filters, so it is built only when nothing can fail.
        notifier = part("[notifications]", lambda: Notifier(config.notifications))
    except BaseException:
        for worker in workers.values():
            worker.close(wait=False)
        raise
    return Components(config, spec_sync, workers, notifier)


def _worker(cluster: ClusterConfig, config: Config, db: Database) -> ClusterWorker:
    client = AirflowClient(cluster)
    try:
        run_sync = RunSync(db, cluster, client, lookback_hours=config.sync.lookback_hours,
                           stale_threshold_hours=config.sync.stale_threshold_hours,
                           slow=SlowRule.from_config(config.notifications))
    except BaseException:
        client.close()
        raise
    return ClusterWorker(cluster, client, run_sync, threading.Lock(),
                         ThreadPoolExecutor(1, thread_name_prefix=f"cluster-{cluster.name}"))
