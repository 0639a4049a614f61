"""Dashboard benchmark on a big store: 10,000 workflows, 100,000 runs (1,000 running).

    .venv/bin/python bench/dashboard.py [--workflows 10000] [--runs 100000] [--running 1000]

Runs the app headless (Textual's test driver, 120×40) and prints five figures against
their targets: time to first rows painted (≤ 1.5 s), filter keystroke to repaint
(≤ 100 ms), store change to screen (p95 ≤ 1 s; written from another thread, so from
another database connection), idle CPU on the Runs tab with 1,000 running durations
ticking (≤ 3 % of a core), and peak RSS (≤ 300 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_seed import seed  # noqa: E402

from basecamp_tui.app import BasecampApp  # noqa: E402
from daemon.config import parse_config  # noqa: E402
from daemon.store.db import open_store  # noqa: E402
from daemon.store.models import Run, database_proxy, utcnow  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(db_path: Path, changes: int) -> dict[str, float]:
    config = parse_config(f'[database]\nurl = "sqlite:///{db_path}"\n', None)
    start = time.perf_counter()
    app = BasecampApp(config)
    figures: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.first_load_done:
            await asyncio.sleep(0.005)
        await pilot.pause()  # the first frame with rows
        figures["first_rows_s"] = time.perf_counter() - start
        workflows = app.main.tables["workflows"]
        assert workflows.row_count > 0

        await pilot.press("slash")
        keystrokes = []
        for char in "table_01":
            t0 = time.perf_counter()
            await pilot.press(char)  # processed (table rebuilt)…
            await pilot.pause()  # …and repainted
            keystrokes.append(time.perf_counter() - t0)
        for _ in "table_01":
            t0 = time.perf_counter()
            await pilot.press("backspace")
            await pilot.pause()
            keystrokes.append(time.perf_counter() - t0)
        await pilot.press("escape")
        figures["filter_median_ms"] = statistics.median(keystrokes) * 1000
        figures["filter_max_ms"] = max(keystrokes) * 1000

        await pilot.press("2")
        runs = app.main.tables["runs"]
        shown = [runs.coordinate_to_cell_key((i, 0)).row_key.value for i in range(runs.row_count)]
        running = [key for key in shown if runs.model[key].active][:changes]
        delays = []
        for i, key in enumerate(running):
            dag_run_id = key.split("/", 1)[1]
            committed = threading.Event()
            stamp: list[float] = []

            def write() -> None:
                Run.update(current_task=f"task_{i}", updated_at=utcnow()).where(
                    Run.dag_run_id == dag_run_id).execute()
                stamp.append(time.perf_counter())
                database_proxy.close()
                committed.set()

            threading.Thread(target=write).start()
            while not committed.is_set():
                await asyncio.sleep(0.001)
            while runs.get_cell(key, "task").plain != f"task_{i}":
                await asyncio.sleep(0.005)
            await pilot.pause()
            delays.append(time.perf_counter() - stamp[0])
        figures["change_p50_s"] = statistics.median(delays)
        figures["change_p95_s"] = percentile(delays, 95)

        idle_seconds = 10.0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu0 = usage.ru_utime + usage.ru_stime
        wall0 = time.perf_counter()
        await asyncio.sleep(idle_seconds)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        figures["idle_cpu_pct"] = 100 * (usage.ru_utime + usage.ru_stime - cpu0) / (
            time.perf_counter() - wall0)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workflows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--running", type=int, default=1_000)
    parser.add_argument("--changes", type=int, default=30, help="store changes timed")
    parser.add_argument("--store", type=Path, help="reuse (or create) this SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db_path = args.store or Path(tmp) / "bench.db"
        fresh = not db_path.exists()
        db = open_store(f"sqlite:///{db_path}")
        if fresh:
            print(f"seeding {args.workflows:,} workflows, {args.runs:,} runs "
                  f"({args.running:,} running)…", file=sys.stderr)
            seed(args.workflows, args.runs, args.running, datetime.now(timezone.utc))
        db.close()
        figures = asyncio.run(measure(db_path, args.changes))
    print(f"first rows painted     {figures['first_rows_s']:.2f} s   (target ≤ 1.5 s)")
    print(f"filter keystroke       median {figures['filter_median_ms']:.0f} ms, "
          f"max {figures['filter_max_ms']:.0f} ms   (target ≤ 100 ms)")
    print(f"store change → screen  p50 {figures['change_p50_s']:.2f} s, "
          f"p95 {figures['change_p95_s']:.2f} s   (target p95 ≤ 1 s)")
    print(f"idle CPU (Runs tab)    {figures['idle_cpu_pct']:.1f} % of a core   (target ≤ 3 %)")
    print(f"peak RSS               {figures['peak_rss_mb']:.0f} MB   (target ≤ 300 MB)")


if __name__ == "__main__":
    main()
