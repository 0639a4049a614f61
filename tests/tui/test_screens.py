"""Pilot tests of the detail screens and their keys, through ``ActionRequests``.

Each test checks what reached the store: the Action row and its exact params, or no row
at all for a rejection, whose SPEC §2 message must be the error notification.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Checkbox, DataTable, Input, Log, Static, TabbedContent

from basecamp_tui.forms import BackfillForm, ConfirmDialog, StopDialog, TriggerForm
from basecamp_tui.messages import StoreChanged
from basecamp_tui.requests import READ_ONLY_MESSAGE
from basecamp_tui.screens import RunDetailScreen, WorkflowDetailScreen
from daemon.actions.permissions import OVERRIDDEN_RUN, overridden_pause_message
from daemon.core.config import parse_config
from daemon.store.models import Action, Cluster, TaskInstance, TaskLog
from tests.tui.detail_data import (
    CLICKS,
    FAILED_RUN,
    MARKUP_DESCRIPTION,
    NOW,
    ORDERS,
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


def workflow_app(name: str = CLICKS, source: str = "code", **kwargs: Any) -> DetailHarness:
    return DetailHarness(lambda: WorkflowDetailScreen(name, source), **kwargs)


def run_app(run_id: str = RUNNING_RUN, **kwargs: Any) -> DetailHarness:
    return DetailHarness(lambda: RunDetailScreen(run_id), **kwargs)


def only_action() -> Action:
    rows = list(Action.select())
    assert len(rows) == 1, [(r.kind, r.target) for r in rows]
    return rows[0]


def static_text(app: DetailHarness, selector: str) -> str:
    return plain(app.screen.query_one(selector, Static))


# -- workflow detail ------------------------------------------------------------------


async def test_workflow_detail_shows_spec_schedule_pair_and_runs(data: Any) -> None:
    app = workflow_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, WorkflowDetailScreen)
        assert "in force" in static_text(app, "#wf-header")
        assert MARKUP_DESCRIPTION in static_text(app, "#wf-summary")  # literally, brackets too
        schedule = static_text(app, "#wf-schedule")
        assert "Fri 2024-05-03 09:00 KST" in schedule  # 08:30 UTC is 17:30 in Seoul
        assert schedule.count("KST") == 5
        assert "overridden" in static_text(app, "#wf-sources")
        assert "day to [b]load[/b]" in static_text(app, "#wf-params")
        runs = screen.query_one("#wf-runs", DataTable)
        assert runs.row_count == 3
        assert "Daily click aggregation [bold red]" in static_text(app, "#wf-yaml")


async def test_viewer_time_zone_column(data: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    app = workflow_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        schedule = static_text(app, "#wf-schedule")
        assert "Your time (America/New_York)" in schedule
        assert "Thu 2024-05-02 20:00 EDT" in schedule


async def test_pause_key_confirms_then_queues(data: Any) -> None:
    app = workflow_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert plain(dialog.query_one("#question", Static)) == f"Pause {CLICKS}?"
        await pilot.press("y")
        await settle(pilot)
        action = only_action()
        assert (action.kind, action.target, action.source_type) == ("pause", CLICKS, "code")
        assert action.params == {} and action.reason is None
        assert app.tracked == [action.id]
        assert (f"Queued: pause {CLICKS}", "information", False) in app.notices
        assert isinstance(app.screen, WorkflowDetailScreen)


async def test_pause_key_cancelled_queues_nothing(data: Any) -> None:
    app = workflow_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert Action.select().count() == 0
        assert isinstance(app.screen, WorkflowDetailScreen)


async def test_paused_workflow_offers_unpause(data: Any) -> None:
    app = workflow_app(ORDERS, "manual")
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert plain(app.screen.query_one("#question", Static)) == f"Unpause {ORDERS}?"
        await pilot.click("#yes")
        await settle(pilot)
        action = only_action()
        assert (action.kind, action.target, action.source_type) == ("unpause", ORDERS, "manual")


async def test_pause_of_overridden_manual_row_is_refused(data: Any) -> None:
    app = workflow_app(CLICKS, "manual")
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowDetailScreen)  # no dialog opened
        message = overridden_pause_message("code/analytics/daily_clicks.yaml")
        assert app.errors() == [message]
        assert (message, "error", False) in app.notices  # shown literally
        assert Action.select().count() == 0


async def test_actions_of_a_team_without_cluster_are_refused_before_any_dialog(data: Any) -> None:
    Cluster.update(configured=False).execute()
    app = workflow_app(CLICKS, "code")
    async with app.run_test() as pilot:
        await settle(pilot)
        for key in ("p", "t", "b"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, WorkflowDetailScreen)  # no dialog or form opened
        assert len(app.errors()) == 3
        assert all(e.startswith("No cluster serves team @data-engineering") for e in app.errors())
        assert Action.select().count() == 0


async def test_trigger_of_overridden_manual_row_is_refused(data: Any) -> None:
    app = workflow_app(CLICKS, "manual")
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert app.errors() == [OVERRIDDEN_RUN, OVERRIDDEN_RUN]
        assert OVERRIDDEN_RUN == "This dataset is overridden by Code. Use the Code version."
        assert Action.select().count() == 0


async def test_trigger_form_queues_run_with_exact_params(data: Any) -> None:
    app = workflow_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, TriggerForm)
        form.fields.set_value("execution_date", "2024-05-01")
        form.fields.set_value("limit", "5")
        await pilot.pause()
        await pilot.click("#submit")
        await settle(pilot)
        action = only_action()
        assert (action.kind, action.target, action.source_type) == ("run", CLICKS, "code")
        assert action.params == {"parameters": {"execution_date": "2024-05-01", "limit": "5"},
                                 "force": False}
        assert app.tracked == [action.id]


async def test_trigger_unknown_parameter_is_refused(data: Any) -> None:
    """The form only offers declared fields; the same request API refuses unknown ones."""
    app = workflow_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        app.requests.submit_run(CLICKS, "code", {"parameters": {"x": "1"}, "force": False})
        await settle(pilot)
        assert app.errors() == [
            "Unknown parameter 'x'. Allowed parameters: execution_date (required), "
            "limit (optional), full_refresh (optional)"
        ]
        assert Action.select().count() == 0


async def test_trigger_paused_workflow_needs_force(data: Any) -> None:
    app = workflow_app(ORDERS, "manual")
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, TriggerForm)
        assert "paused" in plain(form.query_one("#paused-note", Static))
        form.fields.set_value("region", "[eu]")
        form.action_submit()
        await settle(pilot)
        assert "Workflow is paused" in plain(form.query_one("#form-error", Static))
        assert Action.select().count() == 0
        form.query_one("#force", Checkbox).value = True
        form.action_submit()
        await settle(pilot)
        action = only_action()
        assert action.params == {"parameters": {"region": "[eu]"}, "force": True}


async def test_trigger_paused_without_force_is_refused_by_enqueue(data: Any) -> None:
    app = workflow_app(ORDERS, "manual")
    async with app.run_test() as pilot:
        await settle(pilot)
        app.requests.submit_run(ORDERS, "manual", {"parameters": {"region": "eu"},
                                                   "force": False})
        await settle(pilot)
        assert app.errors() == [
            f"Workflow is paused. Unpause it first: basecamp workflow unpause {ORDERS}"]


async def test_backfill_form_previews_then_queues_exact_params(data: Any) -> None:
    app = workflow_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, BackfillForm)
        # defaults: the last 7 days before the clock's day (2024-04-25..2024-05-01)
        assert "7 runs" in plain(form.query_one("#preview", Static))
        form.query_one("#start", Input).value = "2024-04-01"
        form.query_one("#end", Input).value = "2024-04-03"
        form.query_one("#parallel", Checkbox).value = True
        form.query_one("#fields").set_value("limit", "5")  # execution_date: each run's date
        await settle(pilot)
        preview = plain(form.query_one("#preview", Static))
        assert "3 runs in parallel" in preview
        assert "Mon 2024-04-01 09:00 KST" in preview
        form.action_dry_run()
        await settle(pilot)
        assert isinstance(app.screen, BackfillForm)  # a dry run only previews
        assert Action.select().count() == 0
        assert any(m.startswith("Dry run: 3 runs would be created") for m, _, _ in app.notices)
        form.action_submit()
        await settle(pilot)
        action = only_action()
        assert (action.kind, action.target, action.source_type) == ("backfill", CLICKS, "code")
        assert action.params == {"start": "2024-04-01", "end": "2024-04-03", "parallel": True,
                                 "dry_run": False, "parameters": {"limit": "5"}}


async def test_runs_tab_enter_opens_run_detail_and_escape_goes_back(data: Any) -> None:
    app = workflow_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        app.screen.query_one(TabbedContent).active = "tab-runs"
        await pilot.pause()
        app.screen.query_one("#wf-runs", DataTable).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)
        assert app.screen.run_id == RUNNING_RUN
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, WorkflowDetailScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, WorkflowDetailScreen)


async def test_workflow_detail_follows_store_changes(data: Any) -> None:
    app = workflow_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        table = app.screen.query_one("#wf-runs", DataTable)
        table.move_cursor(row=1)
        data["code"].status = "paused"
        data["code"].is_paused = True
        data["code"].save()
        Action.create(kind="unpause", target=CLICKS, params={}, requested_by="bob")
        app.screen.post_message(StoreChanged(frozenset({"workflows", "actions"})))
        await settle(pilot)
        header = static_text(app, "#wf-header")
        assert "paused" in header and "unpause pending" in header and "bob" in header
        assert "paused: these fire only once it is unpaused" in static_text(app, "#wf-schedule")
        assert table.cursor_row == 1


async def test_remapped_keys_from_config(data: Any) -> None:
    config = parse_config('[ui.keys]\npause = "x"\n', None)
    app = workflow_app(config=config)
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)


async def test_run_detail_keys_are_remappable(data: Any) -> None:
    """``[ui.keys]`` reaches the run detail's log keys: the remapped key works, the
    default no longer does."""
    config = parse_config('[ui.keys]\nlog_search = "ctrl+f"\nlog_next = "j"\n'
                          'try_earlier = "comma"\nlog_start = "home"\n', None)
    run = data["running"].id
    for try_number in (1, 2):
        TaskLog.create(run_id=run, task_id="transform", map_index=1, try_number=try_number,
                       content="step\nstep\n", fetched_at=NOW)
    app = run_app(config=config)
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#run-tasks", DataTable).move_cursor(row=2)  # transform[1], try 2
        await settle(pilot)
        box = app.screen.query_one("#log-search", Input)
        await pilot.press("slash")
        assert not box.has_focus
        await pilot.press("ctrl+f")
        assert box.has_focus
        await pilot.press(*"step", "enter")
        await settle(pilot)
        log = app.screen.query_one("#run-log")
        assert log.match_index == 0
        await pilot.press("n")
        assert log.match_index == 0
        await pilot.press("j")
        assert log.match_index == 1
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert "try 2 of 2" in plain(app.screen.query_one("#log-title"))
        await pilot.press("comma")
        await settle(pilot)
        title = plain(app.screen.query_one("#log-title"))
        assert "try 1 of 2 (, ])" in title and "(j N)" in title  # hints name the keys that work


# -- run detail -----------------------------------------------------------------------


async def test_run_detail_shows_progress_tasks_and_log(data: Any) -> None:
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        screen = app.screen
        tasks = screen.query_one("#run-tasks", DataTable)
        assert tasks.row_count == 4
        assert [str(tasks.get_row_at(i)[0]) for i in range(4)] == [
            "extract", "transform[0]", "transform[1]", "load"]
        assert str(tasks.get_row_at(2)[3]) == "9m 00s"  # running: measured to the clock
        assert "2/4 done" in static_text(app, "#run-counts")
        assert "[i]operator note[/i]" in static_text(app, "#run-header")
        log = screen.query_one("#run-log", Log)
        assert "[red]literal[/red] ERROR - this line is not markup" in log.lines
        assert "tail end only" in static_text(app, "#log-title")


async def test_log_key_queues_fetch_log_and_shows_it_when_it_arrives(data: Any) -> None:
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        tasks = app.screen.query_one("#run-tasks", DataTable)
        tasks.move_cursor(row=2)  # transform[1], try 2, no log yet
        await settle(pilot)
        assert "not fetched yet" in static_text(app, "#log-title")
        await pilot.press("l")
        await settle(pilot)
        action = only_action()
        assert (action.kind, action.target) == ("fetch_log", RUNNING_RUN)
        assert action.params == {"task_id": "transform", "try_number": 2, "map_index": 1}
        assert "fetching" in static_text(app, "#log-title")
        # the daemon writes the log and the app says so
        TaskLog.create(run_id=data["running"].id, task_id="transform", map_index=1,
                       try_number=2, content="x\n\x1b[31m[bold]boom[/bold]\x1b[0m",
                       fetched_at=NOW)
        app.screen.post_message(StoreChanged(frozenset({"task_logs"})))
        await settle(pilot)
        log = app.screen.query_one("#run-log", Log)
        assert list(log.lines) == ["x", "[bold]boom[/bold]"]
        assert "fetching" not in static_text(app, "#log-title")


async def test_log_of_a_task_that_never_ran_is_refused(data: Any) -> None:
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        app.screen.query_one("#run-tasks", DataTable).move_cursor(row=3)  # load, try 0
        await pilot.press("l")
        await settle(pilot)
        assert app.errors() == ["load has not started yet: there is no log to fetch."]
        assert Action.select().count() == 0


async def test_stop_key_asks_reason_and_queues(data: Any) -> None:
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, StopDialog)
        await pilot.press(*"wrong [b]params[/b]")
        await pilot.press("enter")
        await settle(pilot)
        action = only_action()
        assert (action.kind, action.target) == ("stop", RUNNING_RUN)
        assert action.reason == "wrong [b]params[/b]"
        assert action.params == {}
        assert app.tracked == [action.id]


async def test_stop_of_finished_run_is_not_offered(data: Any) -> None:
    app = run_app(FAILED_RUN)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert app.screen.active_bindings["s"].enabled is False
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)
        app.requests.stop(FAILED_RUN)
        await settle(pilot)
        assert app.errors() == [
            f"Run {FAILED_RUN} already finished (FAILED): there is nothing to stop."]
        assert Action.select().count() == 0


async def test_stop_of_overridden_dataset_run_is_refused(data: Any) -> None:
    # the code spec disappears: the manual one would be effective, but mark it overridden
    data["code"].delete_instance()
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert app.errors() == [OVERRIDDEN_RUN]
        assert Action.select().count() == 0


async def test_run_detail_follows_store_changes_and_keeps_cursor(data: Any) -> None:
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        tasks = app.screen.query_one("#run-tasks", DataTable)
        tasks.move_cursor(row=2)
        (TaskInstance.update(state="success", ended_at=NOW, duration_seconds=540.0)
         .where(TaskInstance.task_id == "transform", TaskInstance.map_index == 1).execute())
        app.screen.post_message(StoreChanged(frozenset({"tasks"})))
        await settle(pilot)
        assert tasks.cursor_row == 2
        assert str(tasks.get_row_at(2)[1]) == "success"


async def test_sync_now_queues_both_syncs(data: Any) -> None:
    app = run_app()
    async with app.run_test() as pilot:
        await settle(pilot)
        app.requests.sync_now()
        await settle(pilot)
        rows = sorted((a.kind, a.target) for a in Action.select())
        assert rows == [("sync_runs", "*"), ("sync_specs", "*")]
        assert len(app.tracked) == 2


# -- read-only ------------------------------------------------------------------------


async def test_read_only_workflow_detail_has_no_action_keys(data: Any) -> None:
    app = workflow_app(read_only=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        bound = app.screen.active_bindings
        assert "escape" in bound
        assert not {"p", "t", "b"} & set(bound)
        await pilot.press("p", "t", "b")
        await settle(pilot)
        assert isinstance(app.screen, WorkflowDetailScreen)
        assert Action.select().count() == 0


async def test_read_only_run_detail_has_no_action_keys(data: Any) -> None:
    app = run_app(read_only=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert not {"s", "l"} & set(app.screen.active_bindings)
        await pilot.press("s", "l")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen)
        assert Action.select().count() == 0


async def test_read_only_requests_refuse(data: Any) -> None:
    app = run_app(read_only=True)
    async with app.run_test() as pilot:
        await settle(pilot)
        requests = app.requests
        requests.toggle_pause(CLICKS, "code")
        requests.trigger(CLICKS, "code")
        requests.backfill(CLICKS, "code")
        requests.stop(RUNNING_RUN)
        requests.fetch_log(RUNNING_RUN, "extract", 1)
        requests.sync_now()
        requests.submit_run(CLICKS, "code", {"parameters": {}, "force": False})
        await settle(pilot)
        assert Action.select().count() == 0
        assert [m for m, _, _ in app.notices].count(READ_ONLY_MESSAGE) == 7
        assert app.tracked == []


# -- inside the real app --------------------------------------------------------------


async def test_detail_screens_inside_basecamp_app(make_app: Any) -> None:
    
    build_store()
    app = make_app()
    async with app.run_test() as pilot:
        await pilot_until(pilot, lambda: app.first_load_done)
        await app.push_screen(WorkflowDetailScreen(CLICKS, "code"))
        await pilot_until(pilot, lambda: "in force" in static_text(app, "#wf-header"))
        await pilot.press("p")
        await pilot_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await pilot_until(pilot, lambda: Action.select().where(Action.target == CLICKS).exists())
        action = Action.get(Action.target == CLICKS)
        assert (action.kind, action.source_type, action.params) == ("pause", "code", {})
        await pilot_until(pilot, lambda: action.id in app.tracked)
        # the app's watcher sees the new action and the screen shows it inline
        await pilot_until(pilot, lambda: "pause pending" in static_text(app, "#wf-header"))
        await pilot.press("escape")
        await pilot_until(pilot, lambda: not isinstance(app.screen, WorkflowDetailScreen))
        await app.push_screen(RunDetailScreen(RUNNING_RUN))
        await pilot_until(pilot, lambda: app.screen.query_one("#run-tasks", DataTable).row_count == 4)


async def test_detail_screen_inside_read_only_basecamp_app(make_app: Any) -> None:
    
    build_store()
    app = make_app(read_only=True)
    async with app.run_test() as pilot:
        await pilot_until(pilot, lambda: app.first_load_done)
        await app.push_screen(RunDetailScreen(RUNNING_RUN))
        await pilot_until(pilot, lambda: app.screen.query_one("#run-tasks", DataTable).row_count == 4)
        assert not {"s", "l"} & set(app.screen.active_bindings)
        app.screen.action_stop()  # even if reached another way: refused, nothing queued
        await pilot.pause()
        assert Action.select().where(Action.kind == "stop").count() == 0
