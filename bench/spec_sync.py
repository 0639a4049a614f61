"""Spec sync benchmark against a moto S3 server on loopback.

    .venv/bin/python bench/spec_sync.py [--specs 10000] [--pairs 1000]

10,000 specs (half code, half manual, 1,000 names in both), synced into a fresh SQLite
store. Prints: cold sync; a no-change re-sync (wall time and S3 requests by operation);
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.spec_store import S3SpecStore  # noqa: E402
from daemon.spec_sync import SpecSync  # noqa: E402
from daemon.specs import parse_spec  # noqa: E402
from daemon.store.db import open_store  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--specs", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5, help="no-change cycles to time")
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
        with tempfile.TemporaryDirectory() as tmp:
            db = open_store(f"sqlite:///{tmp}/bench.db")
            sync = SpecSync(db, source, max_spec_bytes=MAX_BYTES, max_delete_fraction=0.5)
            short = lambda r: f"listed={r.listed} fetched={r.fetched} written={r.workflows_written} ok={r.ok}"  # noqa: E731

            timed("cold sync", lambda: short(sync.run()), counter)
            no_change = []
            for _ in range(args.repeat):
                elapsed, requests = timed("no-change re-sync", lambda: short(sync.run()), counter)
                no_change.append(elapsed)
            key = next(iter(objects))
            source.write(key, objects[key].replace(b"team0", b"team0x"))
            counter.take()
            timed("re-sync after one file changed", lambda: short(sync.run()), counter)

            floor = []
            for _ in range(3):
                elapsed, _ = timed("listing only (the floor)", lambda: len(source.list()), counter)
                floor.append(elapsed)

            baseline = []
            for _ in range(3):
                elapsed, _ = timed("baseline (list+fetch+parse all)", lambda: baseline_cycle(source), counter)
                baseline.append(elapsed)

        best_ours, best_base, best_floor = min(no_change), min(baseline), min(floor)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print()
        print(f"no-change re-sync: best {best_ours * 1000:.0f} ms, requests {requests}")
        print(f"listing floor:     best {best_floor * 1000:.0f} ms (the S3 server answering the list pages)")
        print(f"our overhead:      {(best_ours - best_floor) * 1000:.0f} ms above the listing floor")
        print(f"baseline cycle:    best {best_base * 1000:.0f} ms")
        print(f"ratio:             {best_base / best_ours:.1f}x faster than the baseline")
        print(f"peak RSS:          {peak_mb:.0f} MB (this process; moto runs in its own)")
    finally:
        stop_moto_server(server)


if __name__ == "__main__":
    main()
