"""The operator's actions from the dashboard: clear confirmed on Airflow's own preview
(answered here by a stand-in daemon thread), mark with its dialog, and the dialogs'
snapshots at 80×24."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from basecamp_tui.forms import ConfirmDialog, MarkDialog
from daemon.core.states import ActionState
from daemon.store.models import Action
from tests.tui.detail_data import (
    FAILED_RUN,
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


class PreviewingDaemon:
    """Answers clear dry runs as the daemon would with Airflow's answer: the tasks."""

    def __init__(self, tasks: list[str]) -> None:
        self.tasks = tasks
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        while not self.stop.wait(0.02):
            for action in Action.select().where(Action.state == ActionState.PENDING):
                if action.kind == "clear" and action.params.get("dry_run"):
                    Action.update(state=ActionState.DONE, message="Dry run",
                                  result={"task_instances": self.tasks}).where(
                        Action.id == action.id).execute()

    def __enter__(self) -> PreviewingDaemon:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        self.thread.join()


def queued(kind: str) -> list[Action]:
    return [a for a in Action.select().where(Action.kind == kind) if not a.params.get("dry_run")]


async def test_clear_is_confirmed_on_airflows_preview_then_queued(store: Any) -> None:
    build_store()
    app = DetailHarness()
    async with app.run_test(size=(80, 24)) as pilot:
        with PreviewingDaemon(["load", "publish"]):
            app.requests.clear([FAILED_RUN, RUNNING_RUN])
            await pilot_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), 10)
        dialog = app.screen
        assert plain(dialog.query_one("#question")) == "Clear 4 task instance(s) in 2 run(s)?"
        detail = plain(dialog.query_one("#detail"))
        assert f"{FAILED_RUN}: load, publish" in detail and "its own preview" in detail
        await pilot.press("y")
        await settle(pilot)
        cleared = queued("clear")
        assert sorted(a.target for a in cleared) == sorted([FAILED_RUN, RUNNING_RUN])
        assert cleared[0].params == {"task_ids": None, "failed_only": True, "downstream": True,
                                     "dry_run": False}
        assert sorted(app.tracked) == sorted(a.id for a in cleared)


async def test_nothing_to_clear_says_so_and_queues_nothing(store: Any) -> None:
    build_store()
    app = DetailHarness()
    async with app.run_test() as pilot:
        with PreviewingDaemon([]):
            app.requests.clear([FAILED_RUN])
            await pilot_until(pilot, lambda: app.errors(), 10)
        assert app.errors() == ["Nothing to clear: no failed task in 1 run(s) (Airflow's answer)."]
        assert queued("clear") == []


async def test_mark_asks_which_state(store: Any) -> None:
    build_store()
    app = DetailHarness()
    async with app.run_test() as pilot:
        app.requests.mark([FAILED_RUN], "load")
        await pilot_until(pilot, lambda: isinstance(app.screen, MarkDialog))
        assert plain(app.screen.query_one("#question")) == f"Mark task load of {FAILED_RUN} as…"
        await pilot.press("s")
        await settle(pilot)
        [mark] = queued("mark")
        assert (mark.target, mark.params) == (FAILED_RUN, {"state": "success", "task_id": "load",
                                                           "map_index": -1})


def test_clear_dialog_snapshot(snap_compare: Any, store: Any) -> None:
    build_store()

    async def run_before(pilot: Any) -> None:
        with PreviewingDaemon(["load", "publish"]):
            pilot.app.requests.clear([FAILED_RUN])
            await pilot_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog), 10)

    assert snap_compare(DetailHarness(), terminal_size=(80, 24), run_before=run_before)


def test_mark_dialog_snapshot(snap_compare: Any, store: Any) -> None:
    build_store()

    async def run_before(pilot: Any) -> None:
        pilot.app.requests.mark([FAILED_RUN, RUNNING_RUN])
        await pilot_until(pilot, lambda: isinstance(pilot.app.screen, MarkDialog))

    assert snap_compare(DetailHarness(), terminal_size=(80, 24), run_before=run_before)
