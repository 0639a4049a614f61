"""The main screen: banner, the four tabs, the filter line, a status line and the footer.

At 80 columns the footer has room for the action keys, logs, filter, failed, help and
quit; sort and the code/manual/all switches are in the help screen, the palette and the
status line.

Two classes so that read-only mode binds no action key at all: :class:`MainScreen` has
the view keys, :class:`ActionsMainScreen` adds pause/trigger/stop/backfill/sync.
Every binding's ``id`` is its ``[ui.keys]`` name; the app applies remaps with
``App.set_keymap``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane

from basecamp_tui.links import open_in_airflow, open_link
from basecamp_tui.palette import ASK, BAD, BUSY, QUIET, WAIT, WAITING_FOR_INPUT
from basecamp_tui.tabs.base import LiveTable
from basecamp_tui.tabs.clusters import ClustersTable
from basecamp_tui.tabs.events import EventsTable
from basecamp_tui.tabs.runs import RunsTable
from basecamp_tui.tabs.workflows import WorkflowsTable
from daemon.core.config import UI_KEY_DEFAULTS
from daemon.core.states import RunStatus, SourceType, WorkflowStatus
from daemon.core.text import clean
from daemon.core.timefmt import age
from daemon.read import guidance
from daemon.read.changes import Changes, RunRow, WorkflowRow
from daemon.read.clusters import ClusterRow
from daemon.read.status import DaemonStatus

if TYPE_CHECKING:
    from basecamp_tui.app import BasecampApp

TABS = (("workflows", "Workflows"), ("runs", "Runs"), ("clusters", "Clusters"), ("events", "Events"))
RUN_TARGETS = ("stop", "fetch_log")


def key(binding_id: str) -> str:
    return UI_KEY_DEFAULTS[binding_id]


SUMMARY_FILTERS: dict[str, tuple[str, bool, str]] = {
    # part → (tab, failed only, filter text)
    "running": ("runs", False, "RUNNING"),
    "failed": ("runs", True, ""),
    "waiting": ("runs", False, WAITING_FOR_INPUT),
    "paused": ("workflows", False, "paused"),
    "down": ("clusters", True, ""),
}
SUMMARY_LABELS = {"running": "running", "failed": "failed in 24 h",
                  "waiting": WAITING_FOR_INPUT, "paused": "paused", "down": "clusters down"}
SUMMARY_STYLES = {"running": BUSY, "failed": BAD, "waiting": ASK, "paused": WAIT, "down": BAD}


def summary_content(counts: dict[str, int]) -> Content:
    """``3 running · 2 failed in 24 h · …`` (the parts that are not zero): each part a
    link to what it counts (only numbers and our own words: no untrusted text in this
    markup)."""
    parts = [f"[@click=screen.summary('{part}')][{SUMMARY_STYLES[part]}]{counts[part]} "
             f"{'cluster down' if part == 'down' and counts[part] == 1 else label}[/][/]"
             for part, label in SUMMARY_LABELS.items() if counts[part]]
    if not parts:
        return Content.from_markup(f"[{QUIET}]nothing running, failed, waiting or down[/]")
    return Content.from_markup(" · ".join(parts))


VIEW_BINDINGS = [
    Binding(key("logs"), "logs", "Logs", id="logs", tooltip="Open the run and its task logs"),
    Binding(key("filter"), "filter", "Filter", id="filter", tooltip="Filter the table as you type"),
    Binding(key("sort"), "sort", "Sort", id="sort", show=False, tooltip="Cycle the sort column"),
    Binding(key("code"), "source('code')", "Code", id="code", show=False, tooltip="Code specs only"),
    Binding(key("manual"), "source('manual')", "Manual", id="manual", show=False, tooltip="Manual specs only"),
    Binding(key("all"), "source('all')", "All", id="all", show=False, tooltip="Code and manual specs"),
    Binding(key("failed"), "failed", "Failed", id="failed", tooltip="Failed only (toggle)"),
    Binding(key("grid"), "grid", "Grid", id="grid",
            tooltip="The grid: recent runs × tasks"),
    Binding(key("web"), "web", "Web", id="web", show=False,
            tooltip="Show and open it in Airflow's web UI"),
    Binding("escape", "back", "Back", show=False, tooltip="Clear the selection, else the filter"),
    *(Binding(str(n), f"show_tab('{tab}')", label, show=False, id=f"tab_{tab}")
      for n, (tab, label) in enumerate(TABS, start=1)),
]


class MainScreen(Screen):
    BINDINGS = VIEW_BINDINGS

    app: "BasecampApp"

    def __init__(self) -> None:
        super().__init__()
        self.daemon: DaemonStatus | None = None
        self.loaded = False
        self.open_sync = 0
        clock = self.app.clock
        self.tables: dict[str, LiveTable[Any]] = {
            "workflows": WorkflowsTable(clock, self.app.watcher.history_wanted,
                                        id="workflows-table"),
            "runs": RunsTable(clock, id="runs-table"),
            "clusters": ClustersTable(clock, id="clusters-table"),
            "events": EventsTable(clock, id="events-table"),
        }
        self.clusters: list[ClusterRow] = []
        self._banner: str | None = None
        self._status: str | None = None
        self._summary: dict[str, int] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="banner", markup=False)
        yield Static(id="summary")
        with TabbedContent(id="tabs"):
            for tab, label in TABS:
                with TabPane(label, id=tab):
                    yield self.tables[tab]
        yield Input(id="filter", placeholder="filter: name, team, owner, status…")
        yield Static(Text("Loading the store…"), id="status", markup=False)
        yield Footer(compact=True, show_command_palette=False)  # ctrl+p: in help

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.set_interval(1.0, self.tick)

    @classmethod
    def applies(cls, action: str, parameters: tuple[object, ...], tab: str) -> bool:
        """Whether a key of this screen works on ``tab`` (``check_action`` asks for the tab
        shown, the help screen for every tab)."""
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.applies(action, parameters, self.active_tab)

    # --- reading the screen --------------------------------------------------------------

    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active or "workflows"

    @property
    def table(self) -> LiveTable[Any]:
        return self.tables[self.active_tab]

    @property
    def workflows(self) -> WorkflowsTable:
        return self.tables["workflows"]  # type: ignore[return-value]

    @property
    def runs(self) -> RunsTable:
        return self.tables["runs"]  # type: ignore[return-value]

    # --- following the store -------------------------------------------------------------

    def apply(self, changes: Changes, open_actions: dict[int, Any]) -> None:
        workflows, runs = self.workflows, self.runs
        if changes.clusters is not None:
            self.clusters = changes.clusters
            teams = {row.team: row.name for row in changes.clusters}
            dag_errors = {row.team: row.factory_error for row in changes.clusters
                          if row.factory_error}
            changed = teams != workflows.clusters or dag_errors != workflows.dag_errors
            rerender = list(workflows.model) if changed else []
            workflows.clusters, workflows.dag_errors = teams, dag_errors
            self._fill(self.tables["clusters"], changes.clusters, changes.first)
            workflows.apply([], rerender=rerender)
        if changes.actions or changes.first:
            self._set_pending(open_actions)
        workflows.last_runs.update(changes.last_runs)
        workflows.history.update(changes.history)
        rerender = [] if changes.first else [
            f"{name}\x00{source}" for name in changes.last_runs for source in SourceType]
        self._fill(workflows, changes.workflows, changes.first, rerender)
        if changes.history:  # the strip and sparkline only: no filter, sort or window change
            workflows.redraw(f"{name}\x00{source}" for name in changes.history
                             for source in SourceType)
        self._fill(runs, changes.runs, changes.first)
        self._fill(self.tables["events"], changes.events, changes.first)
        self.tables["events"].trim()  # type: ignore[attr-defined]
        if changes.daemon is not None:
            self.daemon = changes.daemon
        self.loaded = True
        if changes.first or changes.workflows or changes.runs or changes.clusters is not None:
            self.show_summary()
        self.show_banner()
        self.show_empty_states()
        self.show_status()

    @staticmethod
    def _fill(table: LiveTable[Any], rows: list[Any], first: bool, rerender: list[str] = ()) -> None:
        if first:
            table.load(rows)
        elif rows or rerender:
            table.apply(rows, rerender=rerender)

    def _set_pending(self, open_actions: dict[int, Any]) -> None:
        by_dataset: dict[str, list[str]] = {}
        by_run: dict[str, list[str]] = {}
        self.open_sync = 0
        for action in open_actions.values():
            if action.kind.startswith("sync_"):
                self.open_sync += 1
            elif action.kind in RUN_TARGETS:
                by_run.setdefault(action.target, []).append(action.kind.replace("_", " "))
            else:
                by_dataset.setdefault(action.target, []).append(action.kind)
        workflows, runs = self.workflows, self.runs
        changed_names = {n for n in set(by_dataset) | set(workflows.pending)
                         if by_dataset.get(n) != workflows.pending.get(n)}
        changed_runs = {r for r in set(by_run) | set(runs.pending)
                        if by_run.get(r) != runs.pending.get(r)}
        workflows.pending, runs.pending = by_dataset, by_run
        workflows.apply([], rerender=[f"{n}\x00{s}" for n in changed_names for s in SourceType])
        runs.apply([], rerender=changed_runs)

    def tick(self) -> None:
        """Clock-driven cells (durations, data ages) of the visible tab, and the banner."""
        if self.loaded:
            self.table.tick()
            self.show_banner()

    def show_banner(self) -> None:
        now = self.app.clock()
        lines = []
        daemon = self.daemon
        if daemon is not None and not daemon.running:
            lines.append(f"Daemon not running ({daemon.last_seen(now)}) — actions will not be "
                         "carried out")
        for cluster in self.clusters:
            if cluster.healthy is False:
                synced = cluster.runs_synced_at
                data_age = "never synced" if synced is None else \
                    f"data is {age((now - synced).total_seconds())} old"
                reason = (cluster.last_error or "unreachable").splitlines()[0]
                lines.append(f"{cluster.name}: {data_age} — {reason}")
        shown = "\n".join(lines)
        if shown == self._banner:
            return  # updating a Static lays the screen out again: not once a second for nothing
        self._banner = shown
        banner = self.query_one("#banner", Static)
        banner.update(Text(shown))
        banner.display = bool(lines)

    def show_summary(self) -> None:
        """The strip above the tabs: what needs a look, each part a link that filters."""
        now = self.app.clock()
        day_ago = now - timedelta(hours=24)
        runs = list(self.runs.model.values())
        counts = {
            "running": sum(1 for r in runs if r.status == RunStatus.RUNNING),
            "failed": sum(1 for r in runs if r.status == RunStatus.FAILED
                          and (r.ended_at or r.at or now) >= day_ago),
            "waiting": sum(1 for r in runs if r.waiting_for_input),
            "paused": sum(1 for w in self.workflows.model.values()
                          if w.status == WorkflowStatus.PAUSED),
            "down": sum(1 for c in self.clusters if c.healthy is False),
        }
        if counts == self._summary:
            return
        self._summary = counts
        self.query_one("#summary", Static).update(summary_content(counts))

    def action_summary(self, part: str) -> None:
        """Show what a part of the summary counts: its tab, filtered."""
        tab, failed_only, text = SUMMARY_FILTERS[part]
        self.action_show_tab(tab)
        table = self.tables[tab]
        table.failed_only = failed_only
        table.filter_text = text
        table.rebuild()
        filter_input = self.query_one("#filter", Input)
        with filter_input.prevent(Input.Changed):
            filter_input.value = text
        filter_input.display = bool(text)
        self.show_status()

    def show_empty_states(self) -> None:
        """What an empty tab means and what to do next (only when it has no rows at all:
        a filter that hides every row is said in the status line)."""
        config = self.app.config
        messages = {
            "workflows": lambda: guidance.no_workflows(self.daemon, config.storage),
            "runs": lambda: guidance.no_runs(self.clusters, self.daemon, config.sync.lookback_hours,
                                             self.app.clock()),
            "clusters": guidance.no_clusters,
            "events": lambda: "No events yet.",
        }
        for tab, message in messages.items():
            table = self.tables[tab]
            table.empty_message = "" if table.model else clean(message())

    def show_status(self) -> None:
        table = self.table
        shown = f"{table.row_count:,} of {len(table.model):,}"
        if len(table.matching) > table.row_count:
            shown = f"first {table.row_count:,} of {len(table.matching):,} matching (/ to narrow)"
        parts = [shown, f"sort: {table.current_sort.label}"]
        if self.active_tab == "workflows":
            parts.append(f"source: {self.workflows.source}")
        if table.failed_only:
            parts.append("failed only")
        if table.filter_text:
            parts.append(f"filter: {table.filter_text}")
        if self.active_tab == "runs":
            waiting = sum(1 for run in self.runs.model.values() if run.waiting_for_input)
            if waiting:
                parts.append(f"{waiting} {WAITING_FOR_INPUT} (i answers)")
        picked = len(table.selection)
        if picked:
            parts.append(f"{picked} selected (space, ctrl+a; esc clears)")
        if self.open_sync:
            parts.append("sync queued…")
        if self.app.read_only:
            parts.append("read-only")
        status = " · ".join(parts)
        if status != self._status:
            self._status = status
            self.query_one("#status", Static).update(Text(status))

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        table = self.table
        filter_input = self.query_one("#filter", Input)
        with filter_input.prevent(Input.Changed):
            filter_input.value = table.filter_text
        table.tick()
        table.focus()
        self.show_status()

    # --- view keys -----------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.display = True
        filter_input.focus()
        self.table.warm()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.app.watcher.hold_history()
        self.table.filter_text = event.value.strip()
        self.table.rebuild(filter_only=True)
        self.show_status()

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        if not self.table.filter_text:
            self.query_one("#filter", Input).display = False
        self.table.focus()

    def action_back(self) -> None:
        if self.table.selection:
            self.table.clear_selection()
            self.show_status()
            return
        filter_input = self.query_one("#filter", Input)
        if filter_input.display or self.table.filter_text:
            filter_input.value = ""  # Changed clears the table's filter
            filter_input.display = False
            self.table.filter_text = ""
            self.table.rebuild()
            self.table.focus()
            self.show_status()

    def action_sort(self) -> None:
        table = self.table
        table.sort_index = (table.sort_index + 1) % len(table.SORTS)
        table.rebuild()
        self.show_status()

    def action_source(self, source: str) -> None:
        self.action_show_tab("workflows")
        self.workflows.source = "all" if source == "all" else SourceType(source)
        self.workflows.rebuild()
        self.show_status()

    def action_failed(self) -> None:
        table = self.table
        table.failed_only = not table.failed_only
        table.rebuild()
        self.show_status()

    def action_logs(self) -> None:
        run_id = self._selected_run_id()
        if run_id is None:
            self.app.notify("No run selected (and no last run of this workflow).", severity="warning")
            return
        from basecamp_tui.screens.run_detail import RunDetailScreen

        self.app.push_screen(RunDetailScreen(run_id))

    def action_web(self) -> None:
        row = self.table.selected
        if isinstance(row, RunRow):
            cluster = next((c for c in self.clusters if c.name == row.cluster), None)
            open_in_airflow(self.app, cluster, row.dataset_name, row.run_id.split("/", 1)[1])
        elif isinstance(row, WorkflowRow):
            cluster = next((c for c in self.clusters if c.team == row.team), None)
            open_in_airflow(self.app, cluster, row.dataset_name)
        elif isinstance(row, ClusterRow):
            open_link(self.app, row.url)
        else:
            self.app.notify("Select a workflow, a run or a cluster first.", severity="warning")

    def action_grid(self) -> None:
        selected = self.selected_workflow()
        if selected is None:
            self.app.notify("Select a workflow or a run first.", severity="warning")
            return
        from basecamp_tui.screens.grid import GridScreen

        self.app.push_screen(GridScreen(selected[0]))

    @on(LiveTable.RowSelected)
    def _open(self, event: LiveTable.RowSelected) -> None:
        row = self.table.model.get(event.row_key)
        if isinstance(row, WorkflowRow):
            from basecamp_tui.screens.workflow_detail import WorkflowDetailScreen

            self.app.push_screen(WorkflowDetailScreen(row.dataset_name, row.source_type))
        elif isinstance(row, RunRow):
            from basecamp_tui.screens.run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(row.run_id))

    # --- helpers for the action keys -----------------------------------------------------

    def _selected_run_id(self) -> str | None:
        row = self.table.selected
        if isinstance(row, RunRow):
            return row.run_id
        if isinstance(row, WorkflowRow):
            last = self.workflows.last_runs.get(row.dataset_name)
            return last.run_id if last else None
        return None

    def selected_workflow(self) -> tuple[str, str | None] | None:
        row = self.table.selected
        if isinstance(row, WorkflowRow):
            return row.dataset_name, row.source_type
        if isinstance(row, RunRow):
            return row.dataset_name, None
        return None

    def active_runs_of(self, dataset: str) -> list[RunRow]:
        return [run for run in self.runs.model.values() if run.dataset_name == dataset and run.active]


class ActionsMainScreen(MainScreen, inherit_bindings=False):
    """The main screen with the keys that queue actions (not in read-only mode); they
    come first so that the footer shows them first at 80 columns."""

    BINDINGS = [*Screen.BINDINGS,
        Binding(key("pause"), "pause", "Pause", id="pause", tooltip="Pause or unpause (confirm)"),
        Binding(key("trigger"), "trigger", "Run", id="trigger", tooltip="Trigger a run (parameter form)"),
        Binding(key("stop"), "stop", "Stop", id="stop", tooltip="Stop the run (confirm, reason)"),
        Binding(key("backfill"), "backfill", "Backfill", id="backfill", tooltip="Backfill a date range"),
        Binding(key("sync"), "sync", "Sync", id="sync", tooltip="Ask the daemon to sync now"),
        Binding(key("clear"), "clear", "Clear", id="clear",
                tooltip="Retry: clear the failed tasks (Airflow's own preview first)"),
        Binding(key("mark"), "mark", "Mark", id="mark", tooltip="Mark runs success or failed"),
        Binding(key("respond"), "respond", "Answer", id="respond",
                tooltip="Answer the run's task that waits for input"),
        Binding(key("select"), "select", "Select", id="select", show=False,
                tooltip="Pick the row for one action on many"),
        Binding(key("select_all"), "select_all", "Select all", id="select_all", show=False,
                tooltip="Pick every row the filter shows"),
        *VIEW_BINDINGS,
    ]
    RUNS_ONLY = ("clear", "mark", "respond")
    """Keys that act on runs: on the Runs tab (where ``c`` is clear, not the code filter)."""

    @classmethod
    def applies(cls, action: str, parameters: tuple[object, ...], tab: str) -> bool:
        if action in cls.RUNS_ONLY:
            return tab == "runs"
        if action == "source" and parameters == ("code",):
            return tab != "runs"
        if action in ("select", "select_all"):
            return tab in ("workflows", "runs")
        return True

    @on(TabbedContent.TabActivated)
    def _keys_follow_the_tab(self) -> None:
        self.refresh_bindings()

    def selected_runs(self) -> list[RunRow]:
        """The picked runs, else the cursor's run (or the running runs of the cursor's
        workflow)."""
        picked = [row for row in self.runs.selection if isinstance(row, RunRow)]
        if picked and self.active_tab == "runs":
            return picked
        row = self.table.selected
        if isinstance(row, RunRow):
            return [row]
        if isinstance(row, WorkflowRow):
            return self.active_runs_of(row.dataset_name)
        return []

    def action_select(self) -> None:
        self.table.toggle_selected()
        self.show_status()

    def action_select_all(self) -> None:
        self.table.select_matching()
        self.show_status()

    def action_clear(self) -> None:
        runs = self.selected_runs()
        if not runs:
            self.app.notify("Select a run first.", severity="warning")
        elif requests := self._requests():
            requests.clear([run.run_id for run in runs])

    def action_mark(self) -> None:
        runs = self.selected_runs()
        if not runs:
            self.app.notify("Select a run first.", severity="warning")
        elif requests := self._requests():
            requests.mark([run.run_id for run in runs])

    def action_respond(self) -> None:
        row = self.table.selected
        if not isinstance(row, RunRow):
            self.app.notify("Select a run first.", severity="warning")
        elif requests := self._requests():
            requests.respond(row.run_id)

    def _workflow_or_warn(self) -> tuple[str, str | None] | None:
        selected = self.selected_workflow()
        if selected is None:
            self.app.notify("Select a workflow or a run first.", severity="warning")
        return selected

    def _requests(self) -> Any:
        requests = getattr(self.app, "requests", None)
        if requests is None:
            self.app.notify("Actions are not available in this build.", severity="error")
        return requests

    def action_pause(self) -> None:
        picked = self.workflows.selection if self.active_tab == "workflows" else []
        if len(picked) > 1 and (requests := self._requests()):
            requests.pause_many(sorted({row.dataset_name for row in picked}))
        elif (selected := self._workflow_or_warn()) and (requests := self._requests()):
            requests.toggle_pause(*selected)

    def action_trigger(self) -> None:
        if (selected := self._workflow_or_warn()) and (requests := self._requests()):
            requests.trigger(*selected)

    def action_backfill(self) -> None:
        if (selected := self._workflow_or_warn()) and (requests := self._requests()):
            requests.backfill(*selected)

    def action_stop(self) -> None:
        picked = self.runs.selection if self.active_tab == "runs" else []
        if len(picked) > 1:
            if requests := self._requests():
                requests.stop_many([run.run_id for run in picked])
            return
        row = self.table.selected
        if isinstance(row, RunRow):
            run_ids = [row.run_id]
        elif isinstance(row, WorkflowRow):
            run_ids = [run.run_id for run in self.active_runs_of(row.dataset_name)]
        else:
            run_ids = []
        if len(run_ids) != 1:
            what = "is no running run" if not run_ids else f"are {len(run_ids)} running runs"
            self.app.notify(f"There {what} to stop here; pick one on the Runs tab.", severity="warning")
            return
        if requests := self._requests():
            requests.stop(run_ids[0])

    def action_sync(self) -> None:
        if requests := self._requests():
            requests.sync_now()
