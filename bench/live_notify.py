"""Store change → dashboard screen on PostgreSQL: woken by LISTEN/NOTIFY, or polling.

    .venv/bin/python bench/live_notify.py [--changes 40] [--workflows 2000] [--runs 20000]

Starts a throwaway PostgreSQL server (tests/pgserver.py), seeds a store, and runs the
dashboard headless (120×40, Runs tab) twice: as it is (the watcher woken by the store's
notifications) and with its listener replaced by a plain sleep (polling every 0.25 s,
what SQLite does and what PostgreSQL falls back to). Each change is a run update from
another thread, so from another database connection, committed at a random moment of
the poll interval (a change written right after the previous one showed would always
meet the same phase of the poll); it counts until the frame after the new value is in
the table. Prints p50/p95 of both and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard import percentile  # noqa: E402
from dashboard_seed import seed  # noqa: E402

from basecamp_tui.app import BasecampApp  # noqa: E402
from basecamp_tui.live import POLL_SECONDS  # noqa: E402
from daemon.core.config import parse_config  # noqa: E402
from daemon.read.wakeup import ChangeListener  # noqa: E402
from daemon.store.db import open_store  # noqa: E402
from daemon.store.models import Run, database_proxy, utcnow  # noqa: E402
from tests.pgserver import create_database, start_postgres, stop_postgres  # noqa: E402


async def change_delays(url: str, changes: int, listen: bool) -> list[float]:
    """Seconds from each commit to the frame that shows it."""
    app = BasecampApp(parse_config(f'[database]\nurl = "{url}"\n', None))
    if not listen:
        app.watcher.listener = ChangeListener(None)
    rnd = random.Random(11)
    async with app.run_test(size=(120, 40)) as pilot:
        while not (app.first_load_done and app.watcher.history_done.is_set()):
            await asyncio.sleep(0.01)
        await pilot.press("2")
        runs = app.main.tables["runs"]
        running = [key for key in runs.row_keys if runs.model[key].active][:changes]
        assert app.watcher.listener.listening == listen
        delays = []
        for i, key in enumerate(running):
            await asyncio.sleep(rnd.uniform(0, POLL_SECONDS))
            dag_run_id = key.split("/", 1)[1]
            committed: list[float] = []

            def write() -> None:
                Run.update(current_task=f"task_{i}_{listen}", updated_at=utcnow()).where(
                    Run.dag_run_id == dag_run_id).execute()
                committed.append(time.perf_counter())
                database_proxy.close()

            writer = threading.Thread(target=write)
            writer.start()
            while runs.get_cell(key, "task").plain != f"task_{i}_{listen}":
                await asyncio.sleep(0.001)
            await pilot.pause()
            writer.join()
            delays.append(time.perf_counter() - committed[0])
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workflows", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--running", type=int, default=200)
    parser.add_argument("--changes", type=int, default=40, help="store changes timed per mode")
    args = parser.parse_args()

    server_url, server = start_postgres()
    try:
        url = create_database(server_url)
        db = open_store(url)
        print(f"seeding {args.workflows:,} workflows, {args.runs:,} runs ({args.running:,} "
              "running) into PostgreSQL…", file=sys.stderr)
        seed(args.workflows, args.runs, args.running, datetime.now(timezone.utc))
        db.close()
        figures = {}
        for mode, listen in (("LISTEN/NOTIFY", True), ("polling", False)):
            delays = asyncio.run(change_delays(url, args.changes, listen))
            figures[mode] = (statistics.median(delays), percentile(delays, 95))
    finally:
        stop_postgres(server)
    for mode, (p50, p95) in figures.items():
        print(f"change → screen, {mode:<13}  p50 {p50 * 1000:5.0f} ms, p95 {p95 * 1000:5.0f} ms  "
              f"({args.changes} changes)")
    (listen50, listen95), (poll50, poll95) = figures["LISTEN/NOTIFY"], figures["polling"]
    print(f"polling / LISTEN           p50 ×{poll50 / listen50:.1f}, p95 ×{poll95 / listen95:.1f}  "
          f"(poll interval {POLL_SECONDS * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
