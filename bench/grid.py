"""Grid benchmark: a workflow with 500 runs × 20 tasks (10,000 task instances).

    .venv/bin/python bench/grid.py [--runs 500] [--tasks 20]

Runs the dashboard headless (Textual's test driver, 120×40) with the grid screen of that
workflow and prints, against their targets:
- open: from pushing the grid screen to the first frame that draws its cells (≤ 150 ms);
- cursor move: one arrow key's work — the move, the grid drawn again and laid out into
  the lines the terminal gets — median and max over 200 moves (≤ 16 ms, one frame).
The same in one process before the numbers: the grid's store read alone, as a baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from basecamp_tui.app import BasecampApp  # noqa: E402
from basecamp_tui.screens.grid import BAR_ROWS, GridScreen, GridView  # noqa: E402
from daemon.core.config import parse_config  # noqa: E402
from daemon.read.grid import workflow_grid  # noqa: E402
from daemon.store.db import open_store  # noqa: E402
from daemon.store.models import Run, TaskInstance, Workflow  # noqa: E402

NAME = "bench.grid"
STATES = ("success",) * 12 + ("failed", "upstream_failed", "skipped", "running")


def seed(runs: int, tasks: int) -> None:
    now = datetime.now(timezone.utc)
    with Workflow._meta.database.atomic():
        Workflow.create(dataset_name=NAME, source_type="code", status="active", team="@t",
                        cron="0 * * * *", timezone="UTC")
        for index in range(runs):
            started = now - timedelta(hours=runs - index)
            run = Run.create(cluster="c", dag_id=f"bc__{NAME}", dag_run_id=f"run_{index:04d}",
                             dataset_name=NAME, status="SUCCESS", started_at=started,
                             ended_at=started + timedelta(minutes=10 + index % 17), total=tasks)
            TaskInstance.insert_many([
                dict(run_id=run.id, task_id=f"task_{t:02d}", state=STATES[(index + t) % len(STATES)],
                     try_number=1, started_at=started + timedelta(seconds=30 * t),
                     ended_at=started + timedelta(seconds=30 * t + 25), duration_seconds=25.0)
                for t in range(tasks)]).execute()


async def measure(db_path: Path) -> dict[str, float]:
    config = parse_config(f'[database]\nurl = "sqlite:///{db_path}"\n', None)
    app = BasecampApp(config, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.first_load_done:
            await pilot.pause(0.05)
        painted: list[float] = []
        draw = GridView.render_line

        def recording(view: GridView, y: int):  # the first frame that draws a task's cells
            if view.grid is not None and view.grid.tasks and y > BAR_ROWS and not painted:
                painted.append(time.perf_counter())
            return draw(view, y)

        GridView.render_line = recording  # type: ignore[method-assign]
        started = time.perf_counter()
        screen = GridScreen(NAME)
        app.push_screen(screen)
        while not screen.is_mounted:
            await asyncio.sleep(0.001)
        mounted = (time.perf_counter() - started) * 1000
        deadline = time.monotonic() + 30
        while not painted and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        GridView.render_line = draw  # type: ignore[method-assign]
        if not painted:
            raise SystemExit("the grid was not drawn within 30 s")
        opened = (painted[0] - started) * 1000
        print(f"  (screen mounted after {mounted:.0f} ms)")
        view = screen.query_one(GridView)
        console = app.console
        moves: list[float] = []
        del console
        for step in range(200):
            begin = time.perf_counter()
            old_row = view.row
            view.action_move(-1 if step % 40 < 20 else 1, 1 if step % 6 < 3 else -1)
            for y in {BAR_ROWS, BAR_ROWS + 1 + old_row, BAR_ROWS + 1 + view.row}:
                view.render_line(y)  # the lines the move repaints
            moves.append((time.perf_counter() - begin) * 1000)
        return {"open_ms": opened, "move_median_ms": statistics.median(moves),
                "move_max_ms": max(moves), "columns": len(view.grid.runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "grid.db"
        open_store(f"sqlite:///{db_path}")
        seed(args.runs, args.tasks)
        begin = time.perf_counter()
        grid = workflow_grid(NAME, columns=45)
        read_ms = (time.perf_counter() - begin) * 1000
        figures = asyncio.run(measure(db_path))
    print(f"store read (baseline)  {read_ms:.0f} ms for {len(grid.runs)} runs × {len(grid.tasks)} tasks")
    print(f"open grid              {figures['open_ms']:.0f} ms   (target ≤ 150 ms; "
          f"{figures['open_ms'] / 150:.2f}× the target, {figures['open_ms'] / read_ms:.1f}× the read)")
    print(f"cursor move            median {figures['move_median_ms']:.1f} ms, max "
          f"{figures['move_max_ms']:.1f} ms   (target ≤ 16 ms; {figures['columns']:.0f} runs shown)")


if __name__ == "__main__":
    main()
