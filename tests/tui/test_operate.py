"""The operator's actions from the dashboard: clear confirmed on Airflow's own preview
(answered here by a stand-in daemon thread), mark with its dialog, and the dialogs'
snapshots at 80×24."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from basecamp_tui.forms import ConfirmDialog, MarkDialog
from basecamp_tui.forms.respond import RespondDialog
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
        await pilot.pause()  # the dialog composes after it is pushed
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
        await pilot.pause()
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


def ask(task_id: str = "load", multiple: bool = False) -> None:
    """The running run's task waits for a person (as the run sync stores it)."""
    from daemon.store.models import HitlRequest

    dag_run_id = RUNNING_RUN.split("/", 1)[1]
    HitlRequest.create(cluster="de-prod", dag_id=f"de__{RUNNING_RUN.split('/')[0]}",
                       dag_run_id=dag_run_id, task_id=task_id,
                       subject="Publish [b]daily clicks[/b]?",
                       body="12 rows changed\n[red]not markup[/red]",
                       options=["Approve", "Reject", "Later"], multiple=multiple,
                       defaults=["Later"] if multiple else None,
                       params={"reason": {"value": "", "description": "why [i]so[/i]",
                                          "schema": {"type": "string"}}})


async def test_respond_shows_the_question_and_queues_the_answer(store: Any) -> None:
    build_store()
    ask()
    app = DetailHarness()
    async with app.run_test(size=(80, 24)) as pilot:
        app.requests.respond(RUNNING_RUN)
        await pilot_until(pilot, lambda: isinstance(app.screen, RespondDialog))
        await pilot.pause()
        dialog = app.screen
        assert plain(dialog.query_one("#respond-subject")) == "Publish [b]daily clicks[/b]?"
        dialog.query_one("#param-0").focus()
        await pilot.pause()
        await pilot.press(*"numbers", "space", *"ok")
        dialog.query_one("#respond-options").focus()
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot_until(pilot, lambda: queued("respond"))
        [answer] = queued("respond")
        assert (answer.target, answer.params) == (RUNNING_RUN, {
            "task_id": "load", "map_index": -1, "options": ["Reject"],
            "params": {"reason": "numbers ok"}})


async def test_respond_with_several_options_needs_one(store: Any) -> None:
    build_store()
    ask(multiple=True)
    app = DetailHarness()
    async with app.run_test(size=(80, 24)) as pilot:
        app.requests.respond(RUNNING_RUN)
        await pilot_until(pilot, lambda: isinstance(app.screen, RespondDialog))
        await pilot.pause()
        options = app.screen.query_one("#respond-options")
        assert list(options.selected) == ["Later"]  # the task's default
        options.deselect_all()
        app.screen.query_one("#send").press()
        await pilot.pause()
        assert "Choose at least one option." in plain(app.screen.query_one("#respond-error"))
        options.select("Approve")
        options.select("Later")
        app.screen.query_one("#send").press()
        await pilot_until(pilot, lambda: queued("respond"))
        [answer] = queued("respond")
        assert answer.params["options"] == ["Approve", "Later"]


async def test_respond_without_a_waiting_task_says_why(store: Any) -> None:
    build_store()
    app = DetailHarness()
    async with app.run_test() as pilot:
        app.requests.respond(RUNNING_RUN)
        await pilot_until(pilot, lambda: app.errors())
        assert app.errors() == [f"No task of {RUNNING_RUN} is waiting for input."]
        from daemon.store.models import Cluster
        Cluster.update(airflow_version="2.11.2").where(Cluster.name == "de-prod").execute()
        app.requests.respond(RUNNING_RUN)
        await pilot_until(pilot, lambda: len(app.errors()) == 2)
        assert app.errors()[1] == ("Cluster de-prod runs Airflow 2.11.2: tasks that wait for a "
                                   "person (human-in-the-loop) need Airflow 3.1 or later.")
        assert queued("respond") == []


def test_respond_dialog_snapshot(snap_compare: Any, store: Any) -> None:
    build_store()
    ask()

    async def run_before(pilot: Any) -> None:
        pilot.app.requests.respond(RUNNING_RUN)
        await pilot_until(pilot, lambda: isinstance(pilot.app.screen, RespondDialog))

    assert snap_compare(DetailHarness(), terminal_size=(80, 24), run_before=run_before)


async def test_run_detail_shows_the_question_and_i_opens_it(store: Any) -> None:
    from basecamp_tui.screens.run_detail import RunDetailScreen

    build_store()
    ask()
    app = DetailHarness(lambda: RunDetailScreen(RUNNING_RUN))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        header = plain(app.screen.query_one("#run-header"))
        assert "waiting for input load: Publish [b]daily clicks[/b]?  (i answers)" in header
        await pilot.press("i")
        await pilot_until(pilot, lambda: isinstance(app.screen, RespondDialog))


async def test_mark_from_the_run_detail_marks_the_selected_mapped_instance(store: Any) -> None:
    from textual.widgets import DataTable

    from basecamp_tui.screens import RunDetailScreen

    build_store()
    app = DetailHarness(lambda: RunDetailScreen(RUNNING_RUN))
    async with app.run_test() as pilot:
        await settle(pilot)
        app.screen.query_one("#run-tasks", DataTable).move_cursor(row=2)  # transform[1]
        await settle(pilot)
        await pilot.press("M")
        await pilot_until(pilot, lambda: isinstance(app.screen, MarkDialog))
        await pilot.pause()
        assert plain(app.screen.query_one("#question")) == f"Mark task transform[1] of {RUNNING_RUN} as…"
        await pilot.press("f")
        await settle(pilot)
        [mark] = queued("mark")
        assert mark.params == {"state": "failed", "task_id": "transform", "map_index": 1}
