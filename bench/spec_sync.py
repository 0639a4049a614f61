"""Spec sync benchmark against a moto S3 server on loopback.

    .venv/bin/python bench/spec_sync.py [--specs 10000] [--pairs 1000] [--postgres]

10,000 specs (half code, half manual, 1,000 names in both), synced into a fresh SQLite
store (and, with ``--postgres``, also into a fresh PostgreSQL store started on loopback,
the two side by side with PostgreSQL as a ratio of SQLite). Prints: cold sync; a no-change re-sync (wall time and S3 requests by operation);
a re-sync after one file changed; peak RSS; and, in the same process, a baseline that
lists, fetches and re-parses every object each cycle, with our no-change re-sync as a
ratio against it, and the bare listing time (the floor any S3 client pays per cycle).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.spec_store import S3SpecStore  # noqa: E402
from daemon.spec_sync import SpecSync  # noqa: E402
from daemon.specs import parse_spec  # noqa: E402
from daemon.store.db import open_store  # noqa: E402
from tests.pgserver import create_database, start_postgres, stop_postgres  # noqa: E402
from tests.s3server import DUMMY_AWS_ENV, start_moto_server, stop_moto_server  # noqa: E402
from tests.specs import spec_yaml  # noqa: E402

MAX_BYTES = 1_048_576


def spec_objects(total: int, pairs: int) -> dict[str, bytes]:
    """Half code, half manual; the first ``pairs`` manual names also exist in code."""
    half = total // 2
    objects = {}
    for i in range(half):
        name = f"team{i % 20}.dataset_{i:05d}"
        objects[f"code/team{i % 20}/dataset_{i:05d}.yaml"] = spec_yaml(name, cron=f"{i % 60} * * * *")
    for i in range(half):
        name = f"team{i % 20}.dataset_{i:05d}" if i < pairs else f"manual.dataset_{i:05d}"
        objects[f"manual/{name}.yaml"] = spec_yaml(name, cron=f"{i % 60} 9 * * *")
    return objects


class RequestCounter:
    def __init__(self, client) -> None:
        self.counts: Counter[str] = Counter()
        client.meta.events.register("before-send.s3.*", self._count)

    def _count(self, event_name: str, **_: object) -> None:
        self.counts[event_name.rsplit(".", 1)[-1]] += 1

    def take(self) -> dict[str, int]:
        counts, self.counts = dict(self.counts), Counter()
        return counts


def baseline_cycle(source: S3SpecStore) -> int:
    """What a naive sync does every cycle: list, fetch and parse everything."""
    objects = source.list()
    with ThreadPoolExecutor(16) as pool:
        datas = list(pool.map(lambda o: source.read(o.key), objects))
    for obj, data in zip(objects, datas):
        parse_spec(data, obj.key, MAX_BYTES)
    return len(objects)


def timed(label: str, func, counter: RequestCounter) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - start
    requests = counter.take()
    print(f"{label:<34} {elapsed:8.3f} s   requests {requests}   {result}")
    return elapsed, requests


def store_cycles(url: str, source: S3SpecStore, objects: dict[str, bytes], counter: RequestCounter,
                 repeat: int) -> dict[str, Any]:
    """Cold sync, the best of ``repeat`` no-change re-syncs and a re-sync after one file
    changed (then changed back, so the next store starts from the same specs)."""
    print(f"-- store {url.split(':')[0]}")
    db = open_store(url)
    sync = SpecSync(db, source, max_spec_bytes=MAX_BYTES, max_delete_fraction=0.5)
    short = lambda r: f"listed={r.listed} fetched={r.fetched} written={r.workflows_written} ok={r.ok}"  # noqa: E731
    cold, _ = timed("cold sync", lambda: short(sync.run()), counter)
    no_change, requests = [], 0
    for _ in range(repeat):
        elapsed, requests = timed("no-change re-sync", lambda: short(sync.run()), counter)
        no_change.append(elapsed)
    key = next(iter(objects))
    source.write(key, objects[key].replace(b"team0", b"team0x"))
    counter.take()
    one_changed, _ = timed("re-sync after one file changed", lambda: short(sync.run()), counter)
    source.write(key, objects[key])
    counter.take()
    db.close()
    return {"cold": cold, "no_change": min(no_change), "one_changed": one_changed, "requests": requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--specs", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5, help="no-change cycles to time")
    parser.add_argument("--postgres", action="store_true", help="also sync into PostgreSQL, side by side")
    args = parser.parse_args()
    os.environ.update(DUMMY_AWS_ENV)

    endpoint, server = start_moto_server()
    try:
        source = S3SpecStore("bench-specs", "workflows", endpoint_url=endpoint, region="us-east-1")
        source.client.create_bucket(Bucket="bench-specs")
        objects = spec_objects(args.specs, args.pairs)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda item: source.write(*item), objects.items()))
        print(f"{len(objects)} specs in {source.description} ({endpoint})")

        counter = RequestCounter(source.client)
        figures: dict[str, dict[str, Any]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            figures["sqlite"] = store_cycles(f"sqlite:///{tmp}/bench.db", source, objects, counter, args.repeat)
        if args.postgres:
            url, pg = start_postgres()
            try:
                figures["postgres"] = store_cycles(create_database(url), source, objects, counter, args.repeat)
            finally:
                stop_postgres(pg)
        no_change, requests = figures["sqlite"]["no_change"], figures["sqlite"]["requests"]

        floor = []
        for _ in range(3):
            elapsed, _ = timed("listing only (the floor)", lambda: len(source.list()), counter)
            floor.append(elapsed)

        baseline = []
        for _ in range(3):
            elapsed, _ = timed("baseline (list+fetch+parse all)", lambda: baseline_cycle(source), counter)
            baseline.append(elapsed)

        best_ours, best_base, best_floor = no_change, min(baseline), min(floor)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print()
        print(f"no-change re-sync: best {best_ours * 1000:.0f} ms, requests {requests}")
        print(f"listing floor:     best {best_floor * 1000:.0f} ms (the S3 server answering the list pages)")
        print(f"our overhead:      {(best_ours - best_floor) * 1000:.0f} ms above the listing floor")
        print(f"baseline cycle:    best {best_base * 1000:.0f} ms")
        print(f"ratio:             {best_base / best_ours:.1f}x faster than the baseline")
        print(f"peak RSS:          {peak_mb:.0f} MB (this process; moto runs in its own)")
        if "postgres" in figures:
            print()
            print(f"{'store':<10} {'cold sync':>10} {'no-change':>10} {'one changed':>12}")
            for backend, f in figures.items():
                print(f"{backend:<10} {f['cold']:>9.2f}s {f['no_change'] * 1000:>8.0f}ms {f['one_changed'] * 1000:>10.0f}ms")
            sq, pg = figures["sqlite"], figures["postgres"]
            print(f"{'pg/sqlite':<10} {pg['cold'] / sq['cold']:>9.2f}x {pg['no_change'] / sq['no_change']:>9.2f}x "
                  f"{pg['one_changed'] / sq['one_changed']:>11.2f}x")
    finally:
        stop_moto_server(server)


if __name__ == "__main__":
    main()
