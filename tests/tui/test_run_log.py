"""Pilot tests of the run detail's log pane: tries (``[`` / ``]``), search (``/``, ``n``,
``N``, ``g``, ``G``, literal and case-insensitive) and following a running task (a
``fetch_log`` with ``follow`` every few seconds, never two open; the pane appends and
stays at the end only when it was at the end)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from textual.widgets import DataTable, Input

from basecamp_tui.messages import StoreChanged
from basecamp_tui.screens import RunDetailScreen
from basecamp_tui.screens.log_view import CURRENT, MATCH, LogView
from daemon.store.models import Action, TaskInstance, TaskLog
from tests.tui.detail_data import (
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


@pytest.fixture
def data(store: Any) -> dict[str, Any]:
    return build_store()


def run_app(**kwargs: Any) -> DetailHarness:
    return DetailHarness(lambda: RunDetailScreen(RUNNING_RUN), **kwargs)


def title(app: DetailHarness) -> str:
    return plain(app.screen.query_one("#log-title"))


def view(app: DetailHarness) -> LogView:
    return app.screen.query_one("#run-log", LogView)


async def select(pilot: Any, row: int) -> None:
    pilot.app.screen.query_one("#run-tasks", DataTable).move_cursor(row=row)
    await settle(pilot)


# -- tries ----------------------------------------------------------------------------


async def test_brackets_switch_the_try_shown(data: Any) -> None:
    run = data["running"].id
    TaskLog.create(run_id=run, task_id="transform", map_index=1, try_number=1,
                   content="first try failed", fetched_at=NOW)
    TaskLog.create(run_id=run, task_id="transform", map_index=1, try_number=2,
                   content="second try runs", fetched_at=NOW)
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, 2)  # transform[1], try 2
        tasks = app.screen.query_one("#run-tasks", DataTable)
        # a busy machine may need more than a settle for the log's load: wait for it
        await pilot_until(pilot, lambda: list(view(app).lines) == ["second try runs"])
        assert "try 2 of 2" in title(app)
        await pilot.press("left_square_bracket")
        await pilot_until(pilot, lambda: list(view(app).lines) == ["first try failed"])
        assert "try 1 of 2" in title(app)
        assert str(tasks.get_row_at(2)[2]) == "1/2"
        await pilot.press("left_square_bracket")  # there is no try 0
        await settle(pilot)
        assert "try 1 of 2" in title(app)
        await pilot.press("l")  # fetches the try shown
        await pilot_until(pilot, lambda: Action.select().exists())
        assert Action.get().params == {"task_id": "transform", "try_number": 1, "map_index": 1}
        await pilot.press("right_square_bracket")
        await pilot_until(pilot, lambda: list(view(app).lines) == ["second try runs"])
        assert str(tasks.get_row_at(2)[2]) == "2"


async def test_the_try_picked_is_the_bright_one_in_the_timeline(data: Any) -> None:
    """transform[1] failed its first try (a stored try) and runs its second."""
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, 2)
        tasks = app.screen.query_one("#run-tasks", DataTable)

        def dim_symbols() -> dict[str, bool]:
            bar = tasks.get_row_at(2)[4]
            return {bar.plain[span.start]: "dim" in str(span.style) for span in bar.spans
                    if bar.plain[span.start] in "✗▶"}

        assert dim_symbols() == {"✗": True, "▶": False}
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert dim_symbols() == {"✗": False, "▶": True}
        assert "try 1 of 2" in title(app) and "failed" in title(app)
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert dim_symbols() == {"✗": True, "▶": False}


async def test_an_earlier_try_not_fetched_says_so(data: Any) -> None:
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, 2)
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert "try 1 of 2" in title(app) and "not fetched yet: press l" in title(app)
        assert list(view(app).lines) == []


# -- search ---------------------------------------------------------------------------


async def test_search_is_literal_case_insensitive_and_n_moves_between_matches(data: Any) -> None:
    app = run_app()
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)  # extract: the log of build_store, ten "step i of 9" lines
        await pilot.press("slash")
        box = app.screen.query_one("#log-search", Input)
        assert box.has_focus
        await pilot.press(*"STEP")
        await settle(pilot)
        log = view(app)
        assert len(log.matches) == 10 and "/STEP  1 of 10" in title(app)
        await pilot.press("enter")
        await settle(pilot)
        assert not box.display and app.screen.query_one("#run-tasks").has_focus
        await pilot.press("n", "n")
        assert log.match_index == 2 and "3 of 10" in title(app)
        await pilot.press("N", "N", "N")
        assert log.match_index == 9  # wrapped around to the last
        line = log.matches[9].line
        assert log.scroll_y <= line < log.scroll_y + log.scrollable_content_region.height
        strip = log.render_line(line - int(log.scroll_y))
        assert [s.text for s in strip if s.style and s.style.bgcolor == CURRENT.bgcolor] == ["step"]
        # Markup-like and pattern-like text is matched as it is.
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen) and not log.matches  # cleared first
        await pilot.press("slash", *"[red]")
        await settle(pilot)
        assert [m.line for m in log.matches] == [10]
        assert [s.text for s in log.render_line(10 - int(log.scroll_y))
                if s.style and s.style.bgcolor in (MATCH.bgcolor, CURRENT.bgcolor)] == ["[red]"]
        await pilot.press("escape")  # closes the box and clears
        await pilot.press("slash", *".*")
        await settle(pilot)
        assert log.matches == [] and "no match" in title(app)
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert not isinstance(app.screen, RunDetailScreen)


async def test_g_and_shift_g_jump_to_the_start_and_end(data: Any) -> None:
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        log = view(app)
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y  # opens at the end
        await pilot.press("g")
        assert log.scroll_y == 0
        await pilot.press("G")
        assert log.scroll_y == log.max_scroll_y


async def test_n_without_a_search_says_how(data: Any) -> None:
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert ("Search the log first: press /", "warning", True) in app.notices


# -- following ------------------------------------------------------------------------


def follow_actions() -> list[Action]:
    return [a for a in Action.select().order_by(Action.id) if (a.params or {}).get("follow")]


async def test_the_pane_follows_a_running_task(data: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunDetailScreen, "FOLLOW_SECONDS", 0.05)
    run = data["running"].id
    lines = [f"line {i}" for i in range(40)]
    TaskLog.create(run_id=run, task_id="transform", map_index=1, try_number=2,
                   content="\n".join(lines), fetched_at=NOW)

    async def daemon_appends(*more: str) -> None:
        """What the daemon does with the open follow fetch: append, mark it done."""
        nonlocal lines
        lines += more
        fetched = NOW + timedelta(seconds=len(lines))
        TaskLog.update(content="\n".join(lines), fetched_at=fetched).execute()
        Action.update(state="done").where(Action.state == "pending").execute()
        app.screen.post_message(StoreChanged(frozenset({"task_logs", "actions"})))
        await settle(pilot)

    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, 2)  # transform[1]: running, its try 2 log is shown
        log = view(app)
        assert log.is_vertical_scroll_end and "following" in title(app)
        await pilot_until(pilot, lambda: follow_actions())
        await pilot.pause(0.3)  # several ticks: the open fetch is not doubled
        assert [a.params for a in follow_actions()] == [
            {"task_id": "transform", "try_number": 2, "map_index": 1, "follow": True}]
        assert app.notices == []  # quiet: no "Queued" notification

        await daemon_appends("line 40", "line 41")
        assert list(log.lines)[-2:] == ["line 40", "line 41"] and len(log.lines) == 42
        await pilot.pause()
        assert log.is_vertical_scroll_end  # it was at the end: it stays there

        await pilot_until(pilot, lambda: len(follow_actions()) == 2)  # the next one
        log.scroll_to(y=3, animate=False, immediate=True)  # the user reads further up
        await daemon_appends("line 42")
        await pilot.pause()
        assert list(log.lines)[-1] == "line 42" and log.scroll_y == 3

        # The task ends: one last fetch for what it wrote at the end, then no more.
        await pilot_until(pilot, lambda: len(follow_actions()) == 3)
        Action.update(state="done").execute()
        (TaskInstance.update(state="success", ended_at=NOW)
         .where(TaskInstance.task_id == "transform", TaskInstance.map_index == 1).execute())
        app.screen.post_message(StoreChanged(frozenset({"tasks", "actions"})))
        await settle(pilot)
        await pilot_until(pilot, lambda: len(follow_actions()) == 4)
        Action.update(state="done").execute()
        await pilot.pause(0.3)
        assert len(follow_actions()) == 4
        assert "following" not in title(app)


async def test_no_follow_for_a_finished_task_or_in_read_only(
        data: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RunDetailScreen, "FOLLOW_SECONDS", 0.05)
    TaskLog.create(run_id=data["running"].id, task_id="transform", map_index=1, try_number=2,
                   content="running", fetched_at=NOW)
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)  # extract (finished) is selected
        await pilot.pause(0.3)
        assert follow_actions() == []
    app = run_app(read_only=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        await select(pilot, 2)
        await pilot.pause(0.3)
        assert follow_actions() == [] and app.notices == []
