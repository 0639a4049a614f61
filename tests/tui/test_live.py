"""The dashboard follows the store: a change written by another process shows within 1 s,
in place, with the cursor on the same row."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from basecamp_tui.messages import StoreChanged
from tests.tui.conftest import cell, loaded
from tests.waiting import pilot_until

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
CLICKS_RUN = "ds.clicks/scheduled__2025-06-02T00:00:00+00:00"


def write_from_another_process(db_path: str, code: str) -> float:
    """Run ``code`` against the store in a new Python process; returns when it committed."""
    script = textwrap.dedent(f"""
        from daemon.store.db import open_store
        from daemon.store.models import *
        db = open_store("sqlite:///{db_path}")
        with db.atomic():
        """) + textwrap.indent(textwrap.dedent(code), "    ")
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=30)
    return time.monotonic()


async def test_a_change_from_another_process_shows_within_a_second_keeping_the_cursor(
        make_app, tui_store):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        runs = app.main.tables["runs"]
        await pilot.press("2", "down", "down")
        selected = runs.selected.key
        scroll = runs.scroll_y
        committed = write_from_another_process(tui_store.database, """
            Run.update(status="FAILED", failed=1, running=0, current_task=None, updated_at=utcnow(),
                       ended_at=utcnow()).where(Run.dag_run_id == "scheduled__2025-06-02T00:00:00+00:00").execute()
            Run.create(cluster="dp-airflow", dag_id="dp__ds.adhoc", dag_run_id="adhoc__new",
                       dataset_name="ds.adhoc", status="RUNNING", started_at=utcnow(), total=2)
            """)
        await pilot_until(pilot, lambda: cell(runs, CLICKS_RUN, "status") == "FAILED")
        took = time.monotonic() - committed
        assert took <= 1.0, f"took {took:.2f} s"
        await pilot_until(pilot, lambda: "ds.adhoc/adhoc__new" in runs.model)
        assert runs.selected.key == selected  # cursor on the same run, not the same index
        assert runs.scroll_y == scroll
        assert runs.get_row_index("ds.adhoc/adhoc__new") == 0  # running first
        # the workflows tab follows the run (last run column)
        workflows = app.main.tables["workflows"]
        assert cell(workflows, "ds.clicks\x00code", "last_run").startswith("✗")


async def test_workflow_change_updates_in_place(make_app, tui_store):
    app = make_app()
    async with app.run_test() as pilot:
        await loaded(pilot)
        workflows = app.main.tables["workflows"]
        workflows.move_cursor(row=workflows.get_row_index("ds.clicks\x00manual"))
        rebuilds = []
        workflows.rebuild = lambda: rebuilds.append(1)  # a tick must never reload the table
        committed = write_from_another_process(tui_store.database, """
            Workflow.update(status="paused", is_paused=True, updated_at=utcnow()).where(
                (Workflow.dataset_name == "ds.clicks") & (Workflow.source_type == "code")).execute()
            Workflow.create(dataset_name="ds.aaa", source_type="code", status="active", cron="0 1 * * *")
            """)
        await pilot_until(pilot, lambda: cell(workflows, "ds.clicks\x00code", "status") == "paused")
        assert time.monotonic() - committed <= 1.0
        await pilot_until(pilot, lambda: "ds.aaa\x00code" in workflows.model)
        assert workflows.selected.key == "ds.clicks\x00manual"
        assert workflows.get_row_index("ds.aaa\x00code") == 1  # sorted in place, by name
        assert rebuilds == []


async def test_detail_screens_get_store_changed(make_app, tui_store):
    from textual.screen import Screen

    seen: list[frozenset[str]] = []

    class Detail(Screen):
        def on_store_changed(self, message: StoreChanged) -> None:
            seen.append(message.tables)

    app = make_app()
    async with app.run_test() as pilot:
        await loaded(pilot)
        await app.push_screen(Detail())
        write_from_another_process(tui_store.database, """
            Event.create(kind="spec_sync", severity="info", subject="specs", message="hello")
            """)
        await pilot_until(pilot, lambda: any("events" in tables for tables in seen))
        assert "spec_sync" in cell(app.main.tables["events"], str(max(map(int, app.main.tables["events"].model))), "kind")


async def test_idle_store_posts_nothing(make_app):
    app = make_app()
    posted: list[object] = []
    async with app.run_test(message_hook=posted.append) as pilot:
        await loaded(pilot)
        await pilot.pause(0.8)
        from basecamp_tui.live import StoreLoaded

        loads = [m.changes for m in posted if isinstance(m, StoreLoaded)]
        # the first load, then the runs' history for the Workflows tab (after the first
        # paint, in one piece on this small store), then nothing
        assert len(loads) == 2 and loads[1].tables == {"workflows"} and loads[1].history
