"""Who does what on a store: the clusters this daemon syncs and acts on, and whether it
runs the store-wide jobs (the spec sync, the notifier, actions that name no cluster).

SQLite: one daemon per store (its lease refuses a second), so that daemon owns
everything (:class:`SoleOwnership`).

PostgreSQL: several daemons share the store and split the work (:class:`SharedOwnership`)
with session-level advisory locks, held on one dedicated connection per daemon:

- its *alive* lock (keyed by its holder id): how the others know it is alive;
- one lock per cluster it owns, and the *store jobs* lock while it runs those.

Why locks and not a lease table with heartbeats: PostgreSQL drops a session's locks the
moment its connection ends, so the clusters of a daemon killed with -9 are free at once
(the kernel closes its socket) instead of after a heartbeat goes stale, and a lock cannot
be held twice, so two daemons never own one cluster, whatever their clocks say. The
``cluster.owner`` column only reports ownership (for ``basecamp clusters``); the locks
decide it.

Who can sync what: each daemon also holds a *shared* advisory lock per cluster in its
``[[clusters]]`` (its "serves" locks), so every daemon reads from ``pg_locks`` which live
daemon can take which cluster. Daemons whose configs differ (a cluster being added to
them one by one) then still agree: a cluster goes only to a daemon that has it.

Fair share: every daemon computes the same assignment from the same inputs (the live
daemons and the clusters each serves) by bounded rendezvous hashing: each cluster goes to
the daemon that ranks it highest among those serving it with room left (at most
ceil(clusters / daemons) each; over that only when no daemon serving it has room), so a
join or a leave moves few clusters; the store jobs go to the daemon that ranks them
highest. A daemon takes the units assigned to it once their locks are free and hands
over the ones assigned to others (after a run sync in progress has finished). Daemons
wake each other with NOTIFY when they join or leave, and look again every ``interval``
seconds.

A lost network: the server keeps a session's locks until it notices that the client is
gone, so the lock session asks the server to probe it with TCP keepalives (gone after
about 25 s). The daemon itself stops owning anything the moment a query on its lock
connection fails, and takes its share again once it has reconnected.
"""

from __future__ import annotations

import hashlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from typing import Any, Protocol

from peewee import PostgresqlDatabase

from daemon.core.timefmt import utcnow
from daemon.store.lease import SHARED_KEY_PREFIX
from daemon.store.models import Cluster, DaemonLease

log = logging.getLogger(__name__)

STORE_JOBS = "*store jobs*"
"""The unit of the store-wide jobs (no cluster can be named like this: it has spaces)."""
WAKE_CHANNEL = "basecamp_daemons"
QUIESCE_SECONDS = 10.0
"""Handing a unit over waits this long at most for its sync in progress."""
STOP_QUIESCE_SECONDS = 2.0
"""Stopping waits this long at most for all of them together."""
_KEEPALIVES = ("SET tcp_keepalives_idle = 10", "SET tcp_keepalives_interval = 5",
               "SET tcp_keepalives_count = 3")
_ADVISORY_LOCKS = """
SELECT pid, (classid::bigint << 32) | objid::bigint, mode = 'ShareLock' FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class Ownership(Protocol):
    def owns(self, cluster: str) -> bool:
        """This daemon syncs the cluster, checks its health and carries out its actions."""
        ...

    def runs_store_jobs(self) -> bool:
        """This daemon runs the spec sync, the notifier and actions that name no cluster."""
        ...


class SoleOwnership:
    """The only daemon of its store (SQLite) does everything."""

    def owns(self, cluster: str) -> bool:
        return True

    def runs_store_jobs(self) -> bool:
        return True


def _psycopg2() -> Any:
    """psycopg2, only there with PostgreSQL (``basecamp[postgres]``): a SQLite install,
    whose daemon never shares, must import this module without it."""
    import psycopg2

    return psycopg2


def lock_key(unit: str) -> int:
    """A 63-bit advisory lock key for a unit of work or a daemon (non-negative, so that
    ``pg_locks`` gives it back as (classid << 32) | objid)."""
    digest = hashlib.blake2b(f"basecamp:{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


def serves_key(cluster: str) -> int:
    """The shared lock a daemon holds for each cluster it has in its config."""
    return lock_key(f"*serves* {cluster}")


def _rank(daemon: str, unit: object) -> bytes:
    return hashlib.blake2b(f"{daemon}\0{unit}".encode(), digest_size=8).digest()


def assign(served: Mapping[str, Collection[Hashable]]) -> dict[Hashable, str]:
    """Unit → daemon, the same on every daemon given the same inputs (see the module
    docstring). ``served``: each live daemon → the units (clusters) it can take. A unit
    goes to a daemon serving it, at most ceil(units / serving daemons) each unless no
    daemon serving it has room; the store jobs go to the daemon that ranks them highest."""
    if not served:
        return {}
    assignment: dict[Hashable, str] = {
        STORE_JOBS: max(served, key=lambda d: (_rank(d, STORE_JOBS), d))}
    units = sorted({unit for held in served.values() for unit in held}, key=str)
    serving = [daemon for daemon, held in served.items() if held]
    if not units:
        return assignment
    room = -(-len(units) // len(serving))
    load = dict.fromkeys(serving, 0)
    for unit in units:
        ranked = sorted((d for d in serving if unit in served[d]),
                        key=lambda d: (_rank(d, unit), d), reverse=True)
        daemon = next((d for d in ranked if load[d] < room), ranked[0])
        assignment[unit] = daemon
        load[daemon] += 1
    return assignment


class SharedOwnership:
    """This daemon's share of a PostgreSQL store's work (see the module docstring).

    ``rebalance`` runs on one thread (``run``); ``owns`` and ``runs_store_jobs`` may be
    asked from any. ``quiesce(unit, timeout)`` is entered before a unit is handed over (it
    waits up to ``timeout`` seconds for the unit's sync in progress); ``on_taken(cluster)`` is told when a
    cluster was taken (so its first sync is due now); ``on_live(holders)`` gets the live
    daemons after each look (to hand back actions claimed by dead ones).
    """

    def __init__(self, db: PostgresqlDatabase, holder: str, clusters: Callable[[], Sequence[str]], *,
                 interval: float, quiesce: Callable[[str, float], Any],
                 on_taken: Callable[[str], None] = lambda _name: None,
                 on_live: Callable[[set[str]], None] = lambda _live: None) -> None:
        self.db = db
        self.holder = holder
        self.clusters = clusters
        self.interval = interval
        self.quiesce = quiesce
        self.on_taken = on_taken
        self.on_live = on_live
        self._held: set[str] = set()
        self._serving: set[int] = set()
        """The serves keys this daemon's lock session holds (shared)."""
        self._conn: Any = None
        self._broken_logged = False
        self._wake_read, self._wake_write = os.pipe()
        """``interrupt`` writes a byte here: the thread's wait ends at once."""

    # --- asked from any thread ------------------------------------------------------------

    def owns(self, cluster: str) -> bool:
        return cluster in self._held

    def runs_store_jobs(self) -> bool:
        return STORE_JOBS in self._held

    def held(self) -> set[str]:
        return set(self._held)

    # --- the ownership thread ---------------------------------------------------------

    def connect(self) -> None:
        """Open the lock session and take this daemon's alive lock (raises when the
        database cannot be reached)."""
        params = dict(self.db.connect_params)
        conn = _psycopg2().connect(dbname=self.db.database, **params)
        conn.autocommit = True
        with conn.cursor() as cursor:
            for statement in _KEEPALIVES:
                cursor.execute(statement)
            cursor.execute("SELECT pg_advisory_lock(%s)", (lock_key(self.holder),))
            cursor.execute(f"LISTEN {WAKE_CHANNEL}")
        self._conn = conn
        self._broken_logged = False

    def run(self, stop: threading.Event) -> None:
        """Look, take and hand over until ``stop``; then hand everything over."""
        while not stop.is_set():
            self.step()
            self._wait(stop)
        self.release_all()

    def step(self) -> None:
        """One look (connecting first when needed). A lock session that failed owns
        nothing from then on; the next step connects again."""
        try:
            if self._conn is None:
                self.connect()
                self.wake_others()
            self.rebalance()
        except Exception as exc:
            if self._conn is None or self._conn.closed:
                self._lost(exc)
            else:  # the store, not the lock session: the locks still hold
                log.warning("could not look at the store's daemons, trying again: %s", exc)

    def _wait(self, stop: threading.Event) -> None:
        """Until the interval has passed, another daemon joined or left, or ``stop``."""
        conn = self._conn
        if conn is None:
            stop.wait(self.interval)
            return
        try:
            readable, _, _ = select.select([conn, self._wake_read], [], [], self.interval)
            if self._wake_read in readable:
                os.read(self._wake_read, 64)
            if conn in readable:
                conn.poll()
                conn.notifies.clear()
        except (_psycopg2().Error, OSError, ValueError) as exc:
            self._lost(exc)

    def interrupt(self) -> None:
        """End the thread's current wait (to stop, or to look again now)."""
        os.write(self._wake_write, b"x")

    def _lost(self, exc: BaseException) -> None:
        """The lock session failed: its locks may be gone, so nothing is ours now."""
        if not self._broken_logged:
            log.warning("lost the ownership session to the store (%s): handing every cluster "
                        "over until it is back", exc)
            self._broken_logged = True
        self._held.clear()
        self._serving.clear()
        if self._conn is not None:
            try:
                self._conn.close()
            except _psycopg2().Error:
                pass
        self._conn = None

    def live_daemons(self) -> dict[str, set[int]]:
        """The daemons holding their alive lock (this one included), each with the serves
        keys it holds."""
        with self._conn.cursor() as cursor:
            cursor.execute(_ADVISORY_LOCKS)
            locks = cursor.fetchall()
        rows = DaemonLease.select(DaemonLease.holder).where(
            DaemonLease.key.startswith(SHARED_KEY_PREFIX) & DaemonLease.stopped_at.is_null())
        alive_keys = {lock_key(holder): holder for holder in {row.holder for row in rows} | {self.holder}}
        pids = {pid: alive_keys[key] for pid, key, shared in locks if not shared and key in alive_keys}
        served: dict[str, set[int]] = {holder: set() for holder in pids.values()}
        for pid, key, shared in locks:
            if shared and pid in pids:
                served[pids[pid]].add(key)
        served.setdefault(self.holder, set(self._serving))
        return served

    def _serve(self) -> dict[int, str]:
        """Hold a serves lock for each configured cluster (and no other); serves key →
        cluster."""
        wanted = {serves_key(name): name for name in self.clusters()}
        with self._conn.cursor() as cursor:
            for key in sorted(set(wanted) - self._serving):
                cursor.execute("SELECT pg_advisory_lock_shared(%s)", (key,))
                self._serving.add(key)
            for key in sorted(self._serving - set(wanted)):
                cursor.execute("SELECT pg_advisory_unlock_shared(%s)", (key,))
                self._serving.discard(key)
        return wanted

    def rebalance(self) -> None:
        """One look: take what is assigned to this daemon and free, hand over the rest."""
        mine_by_key = self._serve()
        served = self.live_daemons()
        self.on_live(set(served))
        assignment = assign(served)
        mine = {name for key, name in mine_by_key.items() if assignment.get(key) == self.holder}
        if assignment.get(STORE_JOBS) == self.holder:
            mine.add(STORE_JOBS)
        leaving = sorted(self._held - mine)
        self._held -= set(leaving)  # no new job starts on any of them from here on
        for unit in leaving:  # so the waits for syncs in progress overlap
            self._hand_over(unit)
        for unit in sorted(mine - self._held):
            self._take(unit)

    def _take(self, unit: str) -> None:
        with self._conn.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(unit),))
            (taken,) = cursor.fetchone()
        if not taken:
            return  # its owner has not handed it over yet: next look
        self._held.add(unit)
        if unit != STORE_JOBS:
            Cluster.update(owner=self.holder, owned_since=utcnow(), updated_at=utcnow()).where(
                Cluster.name == unit).execute()
            self.on_taken(unit)
        log.info("took %s", "the store jobs" if unit == STORE_JOBS else f"cluster {unit}")

    def _hand_over(self, unit: str) -> None:
        """Unlock a unit already out of ``_held`` once its sync in progress ended."""
        with self.quiesce(unit, QUIESCE_SECONDS):
            with self._conn.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (lock_key(unit),))
        if unit != STORE_JOBS:
            self._clear_owner(unit)
        self.wake_others()
        log.info("handed over %s", "the store jobs" if unit == STORE_JOBS else f"cluster {unit}")

    def _clear_owner(self, cluster: str) -> None:
        Cluster.update(owner=None, owned_since=None, updated_at=utcnow()).where(
            (Cluster.name == cluster) & (Cluster.owner == self.holder)).execute()

    def wake_others(self) -> None:
        if self._conn is not None:
            with self._conn.cursor() as cursor:
                cursor.execute(f"NOTIFY {WAKE_CHANNEL}")

    def release_all(self) -> None:
        """Stopping: hand everything over and wake the others to take it, after the syncs
        in progress ended (at most ``STOP_QUIESCE_SECONDS`` together: a daemon stops
        within systemd's 10 s). Two syncs of one cluster at once could both see a run
        fail and both raise its event."""
        held, self._held = set(self._held), set()
        deadline = time.monotonic() + STOP_QUIESCE_SECONDS
        for unit in held:  # a sync still writing would race the new owner's first one
            with self.quiesce(unit, max(0.0, deadline - time.monotonic())):
                pass
        try:
            for cluster in held - {STORE_JOBS}:
                self._clear_owner(cluster)
        except Exception:  # the store is gone: the owner column is only a report
            log.warning("could not clear the cluster owners on the way out", exc_info=True)
        if self._conn is not None:
            try:
                with self._conn.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock_all()")
                    cursor.execute(f"NOTIFY {WAKE_CHANNEL}")
                self._conn.close()
            except _psycopg2().Error:
                pass
            self._conn = None
