"""SVG snapshots of each tab at 80×24 and 120×40 (fixed clock, seeded store).

Update with ``pytest tests/tui/test_tab_snapshots.py --snapshot-update`` and look at the
SVGs in ``__snapshots__`` before accepting them."""

from __future__ import annotations

import pytest

from tests.tui.conftest import loaded

TABS = ("1", "2", "3", "4")
NAMES = {"1": "workflows", "2": "runs", "3": "clusters", "4": "events"}


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("tab", TABS, ids=[NAMES[t] for t in TABS])
def test_tab(snap_compare, make_app, tab, size):
    async def ready(pilot):
        await loaded(pilot)
        await pilot.press(tab)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()

    assert snap_compare(make_app(), terminal_size=size, run_before=ready)


def test_read_only_workflows(snap_compare, make_app):
    async def ready(pilot):
        await loaded(pilot)

    assert snap_compare(make_app(read_only=True), terminal_size=(80, 24), run_before=ready)


def test_help(snap_compare, make_app):
    async def ready(pilot):
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=ready)
