"""The grid: runs × tasks from the store (mapped tasks folded, task order, paging to older
runs), the screen's cursor, keys and cell description, and snapshots at both sizes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from basecamp_tui.charts import bar_rows, run_strip, sparkline
from basecamp_tui.screens.grid import GridScreen, GridView
from basecamp_tui.screens.run_detail import RunDetailScreen
from daemon.core.config import parse_config
from daemon.read.grid import workflow_grid
from daemon.store.models import Run, TaskInstance
from tests.tui.detail_data import (
    CLICKS,
    FAILED_RUN,
    NOW,
    RUNNING_RUN,
    DetailHarness,
    build_store,
    plain,
    settle,
)
from tests.waiting import pilot_until

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_bars_are_scaled_to_the_longest_run_in_eighths() -> None:
    assert bar_rows([60.0, 45.0, None, 1.0], 60.0, rows=2) == ["█▄  ", "██ ▁"]
    assert sparkline([10.0, 80.0, None, 40.0]).plain == "▁█ ▄"
    assert sparkline([None]).plain == ""


def test_the_strip_shows_each_run_as_its_symbol() -> None:
    from daemon.read.runs import RecentRun

    strip = run_strip([RecentRun("SUCCESS", 1.0), RecentRun("FAILED", 2.0),
                       RecentRun("RUNNING", None)])
    assert strip.plain == "✓✗▶"
    assert [span.style for span in strip.spans] == ["green", "bold red", "cyan"]


def test_the_grid_folds_mapped_tasks_and_orders_tasks_as_they_run(store: Any) -> None:
    build_store()
    grid = workflow_grid(CLICKS, columns=10)
    assert [r.public_id for r in grid.runs][-2:] == [FAILED_RUN, RUNNING_RUN]  # oldest first
    assert grid.tasks == ["extract", "transform", "load"]
    running = grid.runs[-1]
    transform = grid.cell(running, "transform")
    assert (transform.state, transform.instances, transform.try_number) == ("running", 2, 2)
    assert grid.cell(grid.runs[-2], "transform") is None  # not in that run
    assert grid.cell(grid.runs[-2], "load").state == "failed"
    assert grid.older is False


def test_older_runs_come_a_page_at_a_time(store: Any) -> None:
    build_store()
    for day in range(1, 30):
        started = NOW - timedelta(days=day + 3)
        run = Run.create(cluster="de-prod", dag_id=f"de__{CLICKS}", dag_run_id=f"old__{day:02d}",
                         dataset_name=CLICKS, status="SUCCESS", started_at=started,
                         ended_at=started + timedelta(minutes=day), total=1, succeeded=1)
        TaskInstance.create(run_id=run.id, task_id="extract", state="success", try_number=1,
                            started_at=started, ended_at=started + timedelta(minutes=day))
    newest = workflow_grid(CLICKS, columns=5)
    assert newest.older and newest.runs[-1].public_id == RUNNING_RUN
    older = workflow_grid(CLICKS, columns=5, offset=5)
    assert [r.dag_run_id for r in older.runs] == ["old__07", "old__06", "old__05", "old__04",
                                                  "old__03"]


async def test_the_cursor_moves_describes_the_cell_and_opens_the_run(store: Any) -> None:
    build_store()
    app = DetailHarness(lambda: GridScreen(CLICKS))
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.screen.query_one(GridView)
        await pilot_until(pilot, lambda: view.grid is not None)
        await settle(pilot)
        assert view.selected[0].public_id == RUNNING_RUN  # the newest run, first task
        described = plain(app.screen.query_one("#grid-cell"))
        assert f"{RUNNING_RUN}  RUNNING" in described and "task extract  success  try 1" in described
        await pilot.press("down")
        assert "2 mapped instances" in plain(app.screen.query_one("#grid-cell"))
        await pilot.press("left", "down")
        assert view.selected == (view.grid.runs[-2], "load")
        assert "task load  failed  try 3  took 10m 35s" in plain(app.screen.query_one("#grid-cell"))
        calls: list[tuple[Any, ...]] = []
        app.requests.clear = lambda *args: calls.append(("clear", *args))  # type: ignore[method-assign]
        app.requests.mark = lambda *args: calls.append(("mark", *args))  # type: ignore[method-assign]
        await pilot.press("c", "M")
        assert calls == [("clear", [FAILED_RUN], ["load"]), ("mark", [FAILED_RUN], "load")]
        await pilot.press("enter")
        await pilot_until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == FAILED_RUN


async def test_the_grid_keys_are_remappable(store: Any) -> None:
    build_store()
    config = parse_config('[ui.keys]\ngrid_older = "h"\ngrid_down = "j"\ngrid_open = "o"\n', None)
    app = DetailHarness(lambda: GridScreen(CLICKS), config=config)
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.screen.query_one(GridView)
        await pilot_until(pilot, lambda: view.grid is not None)
        await settle(pilot)
        await pilot.press("left", "h", "j", "j", "enter")
        assert view.selected == (view.grid.runs[-2], "load")
        await pilot.press("o")
        await pilot_until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == FAILED_RUN


async def test_read_only_grid_has_no_clear_or_mark(store: Any) -> None:
    build_store()
    app = DetailHarness(lambda: GridScreen(CLICKS), read_only=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        actions = {b.binding.action for b in app.screen.active_bindings.values()}
        assert "open" in actions and not {"clear", "mark"} & actions


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_grid_snapshot(snap_compare: Any, store: Any, size: tuple[int, int]) -> None:
    build_store()

    async def run_before(pilot: Any) -> None:
        view = pilot.app.screen.query_one(GridView)
        await pilot_until(pilot, lambda: view.grid is not None)
        await settle(pilot)

    assert snap_compare(DetailHarness(lambda: GridScreen(CLICKS)), terminal_size=size,
                        run_before=run_before)
