"""Pilot tests of the dashboard: every tab, every key, read-only mode, remaps, literal text."""

from __future__ import annotations

import re
from typing import Any

import pytest
from textual.geometry import Region
from textual.screen import Screen

from basecamp_tui.app import BasecampApp
from basecamp_tui.help import HelpScreen
from daemon.actions.queue import touch
from daemon.store.models import Action
from tests.tui.conftest import cell, fixed_clock, loaded, make_config
from tests.waiting import pilot_until

pytestmark = pytest.mark.anyio

CLICKS_RUN = "ds.clicks/scheduled__2025-06-02T00:00:00+00:00"


class Recorder:
    """Stands in for ActionRequests: records what the keys asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, *args))


class Opened(Screen):
    BINDINGS = [("escape", "app.pop_screen", "Back")]

    def __init__(self, *args: Any) -> None:
        super().__init__()
        self.args = args


@pytest.fixture
def opened(monkeypatch):
    """Replace the detail screens (another module's job) with a recorder screen."""
    import basecamp_tui.screens.run_detail as run_detail
    import basecamp_tui.screens.workflow_detail as workflow_detail

    monkeypatch.setattr(run_detail, "RunDetailScreen", type("RunDetailScreen", (Opened,), {}))
    monkeypatch.setattr(workflow_detail, "WorkflowDetailScreen",
                        type("WorkflowDetailScreen", (Opened,), {}))


async def started(app, pilot) -> Recorder:
    await loaded(pilot)
    app.requests = Recorder()
    return app.requests


def keys_of(table) -> list[str]:
    return table.row_keys


async def select(pilot, table, key: str) -> None:
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()


async def test_tabs_show_the_store(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        main = app.main
        workflows = main.tables["workflows"]
        assert keys_of(workflows) == [
            "ds.[red]markup[/red]\x00manual", "ds.adhoc\x00manual", "ds.broken\x00code",
            "ds.clicks\x00code", "ds.clicks\x00manual", "ds.ml.features\x00code"]  # removed hidden
        assert cell(workflows, "ds.clicks\x00manual", "status") == "overridden by code"
        assert cell(workflows, "ds.broken\x00code", "status") == "active spec error"
        assert cell(workflows, "ds.broken\x00code", "error").startswith("line 3: schedule.cron")
        assert cell(workflows, "ds.adhoc\x00manual", "status") == "paused …pause"  # pending inline
        assert cell(workflows, "ds.clicks\x00code", "last_run") == "▶ 06-02 08:55"
        await pilot_until(pilot, lambda: workflows.history)  # loaded after the first paint
        assert cell(workflows, "ds.clicks\x00code", "recent") == "✓▶"
        assert cell(workflows, "ds.clicks\x00code", "trend") == "█ "  # the running one: a gap
        # 120 columns: no sideways scrolling; the least needed columns wait for more room
        assert workflows.shown_columns == ["dataset", "source", "status", "recent", "last_run",
                                           "next_run", "trend", "cron"]
        assert workflows.virtual_size.width <= workflows.size.width
        assert cell(workflows, "ds.ml.features\x00code", "cluster") == "ml-airflow"
        # untrusted text is shown literally, never as markup
        assert cell(workflows, "ds.[red]markup[/red]\x00manual", "dataset") == "ds.[red]markup[/red]"

        runs = main.tables["runs"]
        assert keys_of(runs)[:2] == [CLICKS_RUN, "ds.adhoc/adhoc__20250602T084500"]  # active first
        assert cell(runs, CLICKS_RUN, "progress") == "━━─── 1/3"
        assert cell(runs, CLICKS_RUN, "duration") == "5m"  # running: per minute
        assert cell(runs, "ds.broken/scheduled__2025-06-01T00:00:00+00:00", "duration") == "1m 35s"
        assert cell(runs, CLICKS_RUN, "task") == "run_query"
        assert cell(runs, "ds.adhoc/adhoc__20250602T084500", "trigger") == "manual · alice"

        clusters = main.tables["clusters"]
        assert cell(clusters, "ml-airflow", "health") == "✗ failing"
        assert cell(clusters, "ml-airflow", "age") == "12 min"
        assert cell(clusters, "dp-airflow", "age") == "20 s"
        assert cell(clusters, "ml-airflow", "error") == "Connection failed: [Errno 111] refused [bold]x[/bold]"

        events = main.tables["events"]
        assert [cell(events, k, "kind") for k in keys_of(events)] == [
            "source_change", "cluster_health", "spec_error", "spec_sync"]  # newest first
        banner = main.query_one("#banner")
        assert banner.display and ("ml-airflow: data is 12 min old — Connection failed: [Errno 111] refused [bold]x[/bold]" in str(banner.render()))


async def test_banner_when_the_daemon_heartbeat_is_stale(make_app):
    from datetime import timedelta

    from tests.tui.conftest import NOW

    app = make_app(clock=lambda: NOW + timedelta(minutes=3))
    async with app.run_test() as pilot:
        await loaded(pilot)
        text = str(app.main.query_one("#banner").render())
        assert "Daemon not running (last seen 3 min ago) — actions will not be carried out" in text


async def test_action_keys_act_on_the_selected_row(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        requests = await started(app, pilot)
        workflows = app.main.tables["workflows"]
        await select(pilot, workflows, "ds.clicks\x00code")
        for key in "ptbsr":
            await pilot.press(key)
        assert requests.calls == [
            ("toggle_pause", "ds.clicks", "code"), ("trigger", "ds.clicks", "code"),
            ("backfill", "ds.clicks", "code"), ("stop", CLICKS_RUN), ("sync_now",)]
        requests.calls.clear()
        await pilot.press("2")
        runs = app.main.tables["runs"]
        assert app.main.active_tab == "runs"
        await select(pilot, runs, CLICKS_RUN)
        for key in "ptbs":
            await pilot.press(key)
        assert requests.calls == [
            ("toggle_pause", "ds.clicks", None), ("trigger", "ds.clicks", None),
            ("backfill", "ds.clicks", None), ("stop", CLICKS_RUN)]


async def test_stop_on_a_workflow_without_a_running_run_says_so(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        requests = await started(app, pilot)
        await select(pilot, app.main.tables["workflows"], "ds.broken\x00code")
        await pilot.press("s")
        assert requests.calls == []
        assert any("no running run" in n.message for n in app._notifications)


async def test_enter_logs_and_escape(make_app, opened):
    app = make_app()
    async with app.run_test() as pilot:
        await started(app, pilot)
        await select(pilot, app.main.tables["workflows"], "ds.clicks\x00manual")
        await pilot.press("enter")
        assert type(app.screen).__name__ == "WorkflowDetailScreen"
        assert app.screen.args == ("ds.clicks", "manual")
        await pilot.press("escape")
        assert app.screen is app.main
        await select(pilot, app.main.tables["workflows"], "ds.clicks\x00code")
        await pilot.press("l")  # the workflow's last run
        assert type(app.screen).__name__ == "RunDetailScreen" and app.screen.args == (CLICKS_RUN,)
        await pilot.press("escape", "2", "enter")
        assert type(app.screen).__name__ == "RunDetailScreen" and app.screen.args == (CLICKS_RUN,)


async def test_filter_sort_source_and_failed(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        await started(app, pilot)
        main = app.main
        workflows = main.tables["workflows"]
        await pilot.press("/", *"click")
        assert keys_of(workflows) == ["ds.clicks\x00code", "ds.clicks\x00manual"]
        await pilot.press("enter")  # keeps the filter, back to the table
        assert workflows.has_focus and workflows.filter_text == "click"
        await pilot.press("escape")  # clears it
        assert workflows.row_count == 6 and not main.query_one("#filter").display
        await pilot.press("/", *"@ml")  # team
        assert keys_of(workflows) == ["ds.ml.features\x00code"]
        await pilot.press("escape", "/", *"[bold]eve")  # owner, taken literally
        assert keys_of(workflows) == ["ds.[red]markup[/red]\x00manual"]
        await pilot.press("escape")

        await pilot.press("o")
        assert workflows.current_sort.label == "status"
        assert keys_of(workflows)[-1] == "ds.adhoc\x00manual"  # overridden < paused
        assert "sort: status" in str(main.query_one("#status").render())
        await pilot.press("o", "o", "o")
        assert workflows.current_sort.label == "name"

        await pilot.press("c")
        assert {k.split("\x00")[1] for k in keys_of(workflows)} == {"code"}
        await pilot.press("m")
        assert {k.split("\x00")[1] for k in keys_of(workflows)} == {"manual"}
        await pilot.press("a")
        assert workflows.row_count == 6

        await pilot.press("f")
        assert keys_of(workflows) == ["ds.broken\x00code"]
        await pilot.press("f", "2", "f")
        runs = main.tables["runs"]
        assert keys_of(runs) == ["ds.broken/scheduled__2025-06-01T00:00:00+00:00"]
        await pilot.press("f", "3", "f")
        assert keys_of(main.tables["clusters"]) == ["ml-airflow"]
        await pilot.press("4")
        assert main.active_tab == "events"


async def test_cursor_stays_on_its_row_across_filter_and_sort(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        await started(app, pilot)
        workflows = app.main.tables["workflows"]
        await select(pilot, workflows, "ds.clicks\x00code")
        await pilot.press("o")  # by status
        assert workflows.selected.key == "ds.clicks\x00code"
        await pilot.press("/", "c", "l")
        assert workflows.selected.key == "ds.clicks\x00code"


async def test_help_lists_the_effective_keys(make_app):
    app = make_app(ui='[ui.keys]\npause = "x"\nlog_search = "ctrl+f"\ngrid_up = "k,up"\n')
    async with app.run_test(size=(100, 40)) as pilot:
        await started(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("Static").render())
        assert re.search(r"^  x +Pause or unpause \(confirm\)$", text, re.M)
        assert "Filter the table as you type" in text
        # every place, not only the tab shown; each with its own keys, remapped
        titles = re.findall(r"^(\S.*)$", text, re.M)
        assert titles[1:-1] == [
            "Everywhere", "All tabs", "Actions (carried out by the daemon)", "Workflows tab",
            "Runs tab", "Clusters tab", "Events tab", "Tables (every tab)",
            "Grid (g; also a tab of the workflow detail)", "Workflow detail (enter on a workflow)",
            "Run detail (l, or enter on a run)"]
        run_detail = text.split("Run detail (")[1]
        assert re.search(r"^  \^f +Search the log", run_detail, re.M)
        for key, what in (("[", "previous try"), ("]", "next try"), ("n", "Next match"),
                          ("N", "Previous match"), ("g", "Log start"), ("G", "Log end"),
                          ("c", "Retry the selected task")):
            assert re.search(rf"^  {re.escape(key)} +.*{what}", run_detail, re.M), key
        assert re.search(r"^  k ↑ +Task above", text, re.M)
        runs_tab = text.split("Runs tab")[1].split("Clusters tab")[0]
        assert re.search(r"^  M +Mark runs", runs_tab, re.M)
        await pilot.press("escape")
        assert app.screen is app.main


def test_every_remappable_key_is_bound_with_its_default():
    """The bindings and ``UI_KEY_DEFAULTS`` name the same keys (the config's defaults are
    what the screens bind), and every ``[ui.keys]`` name reaches a binding."""
    from textual.binding import Binding

    from basecamp_tui.app import BasecampApp
    from basecamp_tui.help import DETAILS
    from basecamp_tui.tabs.screen import ActionsMainScreen
    from daemon.core.config import UI_KEY_DEFAULTS

    places = [BasecampApp.BINDINGS, ActionsMainScreen.BINDINGS, *(p.bindings for p in DETAILS)]
    bound = {}
    for bindings in places:
        for binding in Binding.make_bindings(bindings):
            if binding.id in UI_KEY_DEFAULTS:
                assert binding.key in UI_KEY_DEFAULTS[binding.id].split(","), binding
                bound[binding.id] = binding.key
    assert set(bound) == set(UI_KEY_DEFAULTS)


async def test_keys_are_remappable_from_the_config(make_app):
    app = make_app(ui='[ui.keys]\npause = "x"\nquit = "ctrl+x"\n')
    async with app.run_test() as pilot:
        requests = await started(app, pilot)
        await select(pilot, app.main.tables["workflows"], "ds.adhoc\x00manual")
        await pilot.press("p")
        assert requests.calls == []
        await pilot.press("x")
        assert requests.calls == [("toggle_pause", "ds.adhoc", "manual")]
        await pilot.press("q")
        assert app.is_running
        await pilot.press("ctrl+x")
    assert not app.is_running


async def test_command_palette_has_every_action_and_tab(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        requests = await started(app, pilot)
        await pilot.press("ctrl+p", *"Runs tab")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot_until(pilot, lambda: app.main.active_tab == "runs")
        await pilot.press("ctrl+p", *"Sync now")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot_until(pilot, lambda: requests.calls == [("sync_now",)])
        from basecamp_tui.commands import COMMANDS, BasecampCommands

        titles = [title for title, *_ in BasecampCommands(app.main)._commands()]
        assert titles == [title for title, *_ in COMMANDS]


async def test_read_only_binds_no_action(make_app, opened):
    app = make_app(read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        requests = await started(app, pilot)
        await select(pilot, app.main.tables["workflows"], "ds.clicks\x00code")
        for key in "ptbsr":
            await pilot.press(key)
        assert requests.calls == []
        bound = {b.binding.id for b in app.main.active_bindings.values()}
        assert not bound & {"pause", "trigger", "stop", "backfill", "sync"}
        assert {"filter", "sort", "logs", "help", "quit"} <= bound
        from basecamp_tui.commands import BasecampCommands

        titles = [title for title, *_ in BasecampCommands(app.main)._commands()]
        assert "Pause / unpause" not in titles and "Workflows tab" in titles
        await pilot.press("enter")  # looking is allowed
        assert type(app.screen).__name__ == "WorkflowDetailScreen"
        await pilot.press("escape", "question_mark")
        assert "Pause" not in str(app.screen.query_one("Static").render())


async def test_read_only_from_the_config(make_app):
    app = make_app(ui="[ui]\nread_only = true\n")
    async with app.run_test() as pilot:
        await started(app, pilot)
        assert app.read_only and "read-only" in str(app.main.query_one("#status").render())


async def test_tracked_action_outcome_is_notified(make_app, tui_store):
    app = make_app()
    async with app.run_test() as pilot:
        await started(app, pilot)
        action = Action.get(Action.target == "ds.adhoc")
        app.track_action(action.id)
        touch(action, state="failed", error="Airflow said no [b]x[/b]")
        await pilot_until(pilot, lambda: any("Airflow said no" in n.message for n in app._notifications))
        note = next(n for n in app._notifications if "Airflow said no" in n.message)
        assert note.severity == "error" and note.message == "pause ds.adhoc: Airflow said no [b]x[/b]"
        workflows = app.main.tables["workflows"]
        await pilot_until(pilot, lambda: cell(workflows, "ds.adhoc\x00manual", "status") == "paused")


async def test_q_quits(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        await started(app, pilot)
        await pilot.press("q")
    assert not app.is_running


async def test_empty_tabs_say_why_and_what_to_do_next(store):
    """A store with nothing in it (a newcomer's first look): every tab says what to do."""
    app = BasecampApp(make_config(store), clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        main = app.main
        assert main.workflows.empty_message.startswith("The daemon is not running (never started")
        runs = main.runs.empty_message
        assert runs.startswith("No Airflow cluster is configured.")
        assert '[[clusters]]\nname = "my-airflow"' in runs and "`basecamp demo`" in runs
        assert main.tables["clusters"].empty_message == runs
        await pilot.press("2")
        await pilot.pause()
        lines = main.runs.render_lines(Region(0, 0, *main.runs.size))
        screen = "\n".join(line.text for line in lines)
        assert "No Airflow cluster is configured." in screen


async def test_clear_mark_and_selection_keys_on_the_runs_tab(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        requests = await started(app, pilot)
        await pilot.press("2")
        runs = app.main.runs
        await select(pilot, runs, CLICKS_RUN)
        await pilot.press("c", "M")
        assert requests.calls == [("clear", [CLICKS_RUN]), ("mark", [CLICKS_RUN])]
        requests.calls.clear()
        broken = "ds.broken/scheduled__2025-06-01T00:00:00+00:00"
        await select(pilot, runs, CLICKS_RUN)
        await pilot.press("space")  # picks the row, the cursor moves on
        await select(pilot, runs, broken)
        await pilot.press("space")
        assert sorted(r.run_id for r in runs.selection) == sorted([CLICKS_RUN, broken])
        assert "2 selected" in str(app.main.query_one("#status").render())
        await pilot.press("c", "s")
        assert requests.calls[0][0] == "clear" and sorted(requests.calls[0][1]) == sorted(
            [CLICKS_RUN, broken])
        assert requests.calls[1][0] == "stop_many"
        await pilot.press("escape")  # drops the selection
        assert runs.selection == []
        await pilot.press("ctrl+a")
        assert len(runs.selection) == len(runs.model)


async def test_c_is_the_code_filter_on_the_workflows_tab_and_p_acts_on_the_picked(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        requests = await started(app, pilot)
        workflows = app.main.workflows
        await pilot.press("c")
        assert workflows.source == "code" and requests.calls == []
        await pilot.press("a")
        await select(pilot, workflows, "ds.clicks\x00code")
        await pilot.press("space")
        await select(pilot, workflows, "ds.adhoc\x00manual")
        await pilot.press("space", "p")
        assert requests.calls == [("pause_many", ["ds.adhoc", "ds.clicks"])]


async def test_read_only_has_no_operator_keys(make_app):
    app = make_app(read_only=True)
    async with app.run_test() as pilot:
        await loaded(pilot)
        await pilot.press("2")
        keys = {binding.action for binding in app.main.active_bindings.values()
                if hasattr(binding, "action")} | {
            b.binding.action for b in app.main.active_bindings.values() if hasattr(b, "binding")}
        assert not keys & {"clear", "mark", "select", "select_all", "respond"}


async def test_a_slow_run_says_so_in_its_duration(make_app):
    from basecamp_tui.palette import WAIT
    from daemon.store.models import Run

    finished = "ds.broken/scheduled__2025-06-01T00:00:00+00:00"
    Run.update(slow=True).where(Run.dataset_name.in_(["ds.clicks", "ds.broken"])
                                & Run.status.in_(["RUNNING", "FAILED"])).execute()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        runs = app.main.runs
        assert cell(runs, CLICKS_RUN, "duration") == "5m slow"
        assert cell(runs, finished, "duration") == "1m slow"  # per minute: it fits the column
        assert WAIT in {str(span.style) for span in runs.get_cell(CLICKS_RUN, "duration").spans}
        assert cell(runs, "ds.clicks/scheduled__2025-06-01T00:00:00+00:00", "duration") == "3m 00s"


async def test_a_run_waiting_for_input_says_so_and_i_answers_it(make_app):
    from daemon.store.models import HitlRequest

    HitlRequest.create(cluster="dp-airflow", dag_id="dp__ds.clicks",
                       dag_run_id=CLICKS_RUN.split("/", 1)[1], task_id="publish",
                       subject="Ship?", options=["Approve", "Reject"])
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        requests = await started(app, pilot)
        await pilot.press("2")
        runs = app.main.runs
        assert cell(runs, CLICKS_RUN, "task") == "waiting for input"
        assert "1 waiting for input (i answers)" in str(app.main.query_one("#status").render())
        await select(pilot, runs, CLICKS_RUN)
        await pilot.press("i")
        assert requests.calls == [("respond", CLICKS_RUN)]


async def test_80_columns_show_the_most_needed_columns_without_sideways_scrolling(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        workflows, runs = app.main.tables["workflows"], app.main.tables["runs"]
        assert workflows.shown_columns == ["dataset", "source", "status", "recent", "next_run"]
        assert workflows.virtual_size.width <= workflows.size.width
        await pilot.press("2")
        await pilot.pause()
        assert runs.shown_columns == ["status", "progress", "dataset", "task", "duration"]
        assert runs.virtual_size.width <= runs.size.width
        await pilot.resize_terminal(160, 40)
        await pilot.pause()
        assert "trigger" in runs.shown_columns


async def test_the_summary_counts_and_filters_when_chosen(make_app):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        main = app.main
        summary = str(main.query_one("#summary").render())
        assert summary == "1 running · 1 failed in 24 h · 1 paused · 1 cluster down"
        main.action_summary("failed")
        await pilot.pause()
        assert main.active_tab == "runs" and main.runs.failed_only
        assert keys_of(main.runs) == ["ds.broken/scheduled__2025-06-01T00:00:00+00:00"]
        main.action_summary("paused")
        await pilot.pause()
        assert main.active_tab == "workflows"
        assert keys_of(main.workflows) == ["ds.adhoc\x00manual"]
        main.action_summary("down")
        await pilot.pause()
        assert keys_of(main.tables["clusters"]) == ["ml-airflow"]
        await pilot.click("#summary", offset=(3, 0))  # "1 running"
        await pilot.pause()
        assert main.active_tab == "runs" and main.runs.filter_text == "RUNNING"
        assert keys_of(main.runs) == [CLICKS_RUN]


async def test_a_theme_chosen_is_remembered_and_the_config_sets_the_first(make_app):
    app = make_app(ui='[ui]\ntheme = "nord"\n')
    async with app.run_test() as pilot:
        await loaded(pilot)
        assert app.theme == "nord"
        app.theme = "gruvbox"  # as the palette's theme picker does
        await pilot.pause()
    again = make_app(ui='[ui]\ntheme = "nord"\n')
    async with again.run_test() as pilot:
        await loaded(pilot)
        assert again.theme == "gruvbox"
    unknown = make_app(ui='[ui]\ntheme = "no-such-theme"\n')
    from daemon.core import paths
    paths.ui_state_file().unlink()
    async with unknown.run_test() as pilot:
        await loaded(pilot)
        assert any("Unknown theme 'no-such-theme'" in n.message for n in unknown._notifications)
