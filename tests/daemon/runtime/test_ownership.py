"""Sharing a PostgreSQL store's work between daemons (``daemon.runtime.ownership``): the
assignment, and the advisory locks on a real PostgreSQL (in one process; the daemons as
processes are in ``test_shared_daemons.py``)."""

from __future__ import annotations

import contextlib
from collections import Counter

import psycopg2
import pytest

from daemon.runtime.ownership import STORE_JOBS, SharedOwnership, assign
from daemon.store.lease import SharedLease
from daemon.store.models import Cluster

CLUSTERS = [f"c{i}" for i in range(6)]


def everyone(clusters: list[str], daemons: list[str]) -> dict[str, list[str]]:
    return {daemon: clusters for daemon in daemons}


def test_every_cluster_goes_to_one_daemon_in_fair_shares():
    daemons = ["h1:1:a", "h2:2:b", "h3:3:c"]
    assignment = assign(everyone(CLUSTERS, daemons))
    assert set(assignment) == {*CLUSTERS, STORE_JOBS}
    assert sorted(Counter(assignment[c] for c in CLUSTERS).values()) == [2, 2, 2]
    # the same everywhere
    assert assignment == assign(everyone(list(reversed(CLUSTERS)), list(reversed(daemons))))
    fifty = [f"c{i}" for i in range(50)]
    assert max(Counter(assign(everyone(fifty, daemons))[c] for c in fifty).values()) == 17


def test_a_join_moves_only_a_share():
    fifty = [f"c{i}" for i in range(50)]
    before = assign(everyone(fifty, ["h1:1:a", "h2:2:b", "h3:3:c"]))
    after = assign(everyone(fifty, ["h1:1:a", "h2:2:b", "h3:3:c", "h4:4:d"]))
    moved = sum(1 for c in fifty if before[c] != after[c])
    assert 12 <= moved <= 20  # a quarter is the least possible (12.5); not a reshuffle


def test_a_cluster_goes_only_to_a_daemon_that_has_it():
    """Configs that differ (a cluster being added to the daemons one by one): every
    cluster still goes to exactly one daemon that has it (the shares are fair again once
    the configs agree)."""
    fifty = [f"c{i}" for i in range(50)]
    served = {"h1:1:a": fifty + ["new"], "h2:2:b": fifty, "h3:3:c": fifty[:10]}
    assignment = assign(served)
    assert assignment["new"] == "h1:1:a"
    assert all(assignment[c] == "h1:1:a" or c in served[assignment[c]] for c in fifty)
    assert all(c in fifty[:10] for c, d in assignment.items() if d == "h3:3:c" and c != STORE_JOBS)
    assert len(assignment) == 52  # fifty, "new" and the store jobs


def test_no_daemons_no_assignment():
    assert assign({}) == {}


class Member:
    """One daemon's ownership, without the daemon."""

    def __init__(self, db, clusters: list[str]) -> None:
        self.lease = SharedLease(30, "test")
        self.lease.acquire()
        self.recovered: list[set[str]] = []
        self.ownership = SharedOwnership(db, self.lease.holder, lambda: clusters, interval=0.2,
                                         quiesce=lambda _unit, _timeout: contextlib.nullcontext(),
                                         on_live=self.recovered.append)
        self.ownership.connect()

    def look(self) -> set[str]:
        self.ownership.rebalance()
        return self.ownership.held()


pytestmark = pytest.mark.postgres


@pytest.fixture
def store(postgres_store):
    for name in CLUSTERS:
        Cluster.create(name=name, team=f"@{name}", url="http://127.0.0.1:9")
    return postgres_store


def settle(*members: Member) -> None:
    for _ in range(3):  # a handed-over cluster is taken at the next look
        for member in members:
            member.look()


def test_two_daemons_split_the_clusters_and_the_survivor_takes_all(store):
    one, two = Member(store, CLUSTERS), Member(store, CLUSTERS)
    settle(one, two)
    mine, theirs = one.ownership.held(), two.ownership.held()
    assert not mine & theirs and (mine | theirs) == {*CLUSTERS, STORE_JOBS}
    assert len(mine - {STORE_JOBS}) == len(theirs - {STORE_JOBS}) == 3
    owners = {row.name: row.owner for row in Cluster.select()}
    assert all(owners[c] == (one.lease.holder if c in mine else two.lease.holder) for c in CLUSTERS)

    two.ownership._conn.close()  # as if its process died: PostgreSQL drops its locks
    assert one.look() == {*CLUSTERS, STORE_JOBS}
    assert one.recovered[-1] == {one.lease.holder}  # actions claimed by two go back to the queue
    assert {row.owner for row in Cluster.select()} == {one.lease.holder}


def test_a_lost_lock_session_owns_nothing_until_it_is_back(store):
    one = Member(store, CLUSTERS)
    assert one.look() == {*CLUSTERS, STORE_JOBS}
    with psycopg2.connect(_dsn(store)) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", (one.ownership._conn.get_backend_pid(),))
    one.ownership.step()
    assert not one.ownership.owns("c0") and not one.ownership.runs_store_jobs()
    one.ownership.step()  # connects again
    assert one.ownership.held() == {*CLUSTERS, STORE_JOBS}


def test_daemons_with_different_clusters_take_only_their_own(store):
    """A cluster only one daemon has is synced by that one; none is left to nobody."""
    one, two = Member(store, CLUSTERS[:4]), Member(store, CLUSTERS[2:])
    settle(one, two)
    mine, theirs = one.ownership.held() - {STORE_JOBS}, two.ownership.held() - {STORE_JOBS}
    assert not mine & theirs and (mine | theirs) == set(CLUSTERS)
    assert {"c0", "c1"} <= mine and {"c4", "c5"} <= theirs
    assert one.ownership.runs_store_jobs() != two.ownership.runs_store_jobs()


def test_stopping_hands_everything_over_at_once(store):
    one, two = Member(store, CLUSTERS), Member(store, CLUSTERS)
    settle(one, two)
    one.ownership.release_all()
    one.lease.release()
    assert two.look() == {*CLUSTERS, STORE_JOBS}


def _dsn(db) -> str:
    params = db.connect_params
    return f"postgresql://{params.get('user')}@{params.get('host')}:{params.get('port')}/{db.database}"
