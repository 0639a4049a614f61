"""SVG snapshots of the detail screens at 80×24 and 120×40 (fixed clock, fixed viewer
time zone). Regenerate with ``pytest --snapshot-update`` and look at the SVGs before
accepting them."""

from __future__ import annotations

from typing import Any

import pytest

from basecamp_tui.screens import RunDetailScreen, WorkflowDetailScreen
from tests.tui.detail_data import (
    CLICKS,
    RUNNING_RUN,
    DetailHarness,
    build_store,
    pending_pause,
    settle,
)

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.fixture
def detail_store(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")  # the viewer's zone in the schedule table
    build_store()
    pending_pause()


@pytest.mark.parametrize("size", SIZES)
def test_workflow_detail(detail_store: None, snap_compare: Any, size: tuple[int, int]) -> None:
    app = DetailHarness(lambda: WorkflowDetailScreen(CLICKS, "code"))
    assert snap_compare(app, terminal_size=size, run_before=settle)


def test_workflow_detail_overridden_manual_spec_tab(detail_store: None, snap_compare: Any) -> None:
    async def spec_tab(pilot: Any) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("TabbedContent").active = "tab-spec"
        await settle(pilot)

    app = DetailHarness(lambda: WorkflowDetailScreen(CLICKS, "manual"), read_only=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=spec_tab)


@pytest.mark.parametrize("size", SIZES)
def test_run_detail(detail_store: None, snap_compare: Any, size: tuple[int, int]) -> None:
    app = DetailHarness(lambda: RunDetailScreen(RUNNING_RUN))
    assert snap_compare(app, terminal_size=size, run_before=settle)
