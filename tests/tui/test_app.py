"""Pilot tests of the dashboard: tabs, every key, read-only mode, literal text."""

from __future__ import annotations

import pytest

from tests.tui.conftest import cell, loaded

pytestmark = pytest.mark.anyio


async def test_first_load_shows_every_tab(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        workflows = app.main.tables["workflows"]
        assert workflows.row_count == 6  # removed one hidden
        assert cell(workflows, "ds.clicks\x00manual", "status") == "overridden by code"
