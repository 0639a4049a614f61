"""Workflow detail: the spec in force and its twin, schedule, parameters, recent runs.

Data is read in a thread worker and handed back by message; ``StoreChanged`` reloads it
(keeping the runs table's cursor). Every string from a spec is rendered as ``Text`` or
``Syntax``, never as markup.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Group
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from basecamp_tui.links import cluster_of_team, open_in_airflow
from basecamp_tui.messages import StoreChanged
from basecamp_tui.palette import status_text
from basecamp_tui.requests import requests_for
from basecamp_tui.screens.grid import GridPanel, GridView
from basecamp_tui.text import (
    clean,
    default_text,
    duration_text,
    gap,
    literal,
    time_text,
)
from daemon.core.states import SourceType, WorkflowStatus
from daemon.core.timefmt import duration, fire_time, span
from daemon.read.workflows import WorkflowDetail, WorkflowView, workflow_detail
from daemon.specs import DatasetSpec

ACTION_KEYS = ("pause", "trigger", "backfill")
RELOAD_ON = frozenset({"workflows", "runs", "actions"})
SCHEDULE_NOTES = {
    WorkflowStatus.PAUSED: "paused: these fire only once it is unpaused",
    WorkflowStatus.DISABLED: "schedule disabled (enabled: false): nothing fires",
    WorkflowStatus.OVERRIDDEN: "overridden: the code spec's schedule is the one that fires",
    WorkflowStatus.REMOVED: "removed: nothing fires",
}


def viewer_zone() -> tuple[tzinfo | None, str]:
    """The viewer's time zone and its label: ``$TZ`` when it names an IANA zone, else the
    system's local zone (None, which ``astimezone`` reads as local)."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    return None, "local"


@dataclass
class WorkflowLoaded(Message):
    data: WorkflowDetail
    now: datetime


class WorkflowDetailScreen(Screen[None]):
    """``p`` pause/unpause, ``t`` trigger, ``b`` backfill, ``enter`` on a run opens it,
    ``escape`` goes back. No action keys in read-only mode."""

    DEFAULT_CSS = """
    WorkflowDetailScreen #wf-header { height: auto; padding: 0 1; background: $boost; }
    WorkflowDetailScreen TabbedContent { height: 1fr; }
    WorkflowDetailScreen TabPane { padding: 0; }
    WorkflowDetailScreen #wf-overview > Static { padding: 0 1; margin-bottom: 1; }
    WorkflowDetailScreen #wf-runs { height: 1fr; }
    WorkflowDetailScreen #wf-yaml { width: auto; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("p", "pause", "Pause/unpause", id="pause",
                tooltip="Pause or unpause the workflow's DAG (asks first)"),
        Binding("t", "trigger", "Trigger", id="trigger",
                tooltip="Trigger a run with parameters from the spec"),
        Binding("b", "backfill", "Backfill", id="backfill",
                tooltip="Backfill a date range (with a dry-run preview)"),
        Binding("g", "grid", "Grid", id="grid", tooltip="Recent runs × tasks"),
        Binding("w", "web", "Web", id="web", show=False,
                tooltip="Open the workflow in the cluster's Airflow web UI"),
    ]

    def __init__(self, dataset_name: str, source_type: str) -> None:
        super().__init__()
        self.dataset_name = dataset_name
        self.source_type = source_type
        self.data: WorkflowDetail | None = None

    # -- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(Text(self.dataset_name, style="bold"), id="wf-header")
        with TabbedContent(initial="tab-overview"):
            with TabPane("Overview", id="tab-overview"):
                with VerticalScroll(id="wf-overview"):
                    yield Static(id="wf-summary")
                    yield Static(id="wf-schedule")
                    yield Static(id="wf-params")
                    yield Static(id="wf-sources")
            with TabPane("Runs", id="tab-runs"):
                yield DataTable(id="wf-runs", cursor_type="row", zebra_stripes=True)
            with TabPane("Grid", id="tab-grid"):
                with VerticalScroll():
                    yield GridPanel(self.dataset_name)
            with TabPane("Spec YAML", id="tab-spec"):
                with VerticalScroll():
                    yield Static(id="wf-yaml")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#wf-runs", DataTable)
        table.add_columns("Status", "Started (UTC)", "Duration", "Tasks", "Type", "Run")
        self.reload()

    # -- data -------------------------------------------------------------------------

    def reload(self) -> None:
        self._load(self.app.clock())

    @work(thread=True, exclusive=True, group="workflow-detail", exit_on_error=False)
    def _load(self, now: datetime) -> None:
        data = workflow_detail(self.dataset_name, self.source_type, now)
        if not get_current_worker().is_cancelled:  # a newer load is on its way
            self.post_message(WorkflowLoaded(data, now))

    def on_workflow_loaded(self, message: WorkflowLoaded) -> None:
        self.data = message.data
        self._show(message.data, message.now)

    def on_store_changed(self, message: StoreChanged) -> None:
        if message.tables & RELOAD_ON:
            self.reload()
            self.query_one(GridPanel).reload()

    def _show(self, data: WorkflowDetail, now: datetime) -> None:
        self.query_one("#wf-header", Static).update(self._header(data))
        row = data.row
        if row is None:
            self.query_one("#wf-summary", Static).update(
                Text(f"No {self.source_type} spec of {self.dataset_name} in the store.",
                     style="red"))
            return
        spec = row.spec
        self.query_one("#wf-summary", Static).update(self._summary(row, spec, data.warnings))
        self.query_one("#wf-schedule", Static).update(self._schedule(data, spec))
        self.query_one("#wf-params", Static).update(self._parameters(spec))
        self.query_one("#wf-sources", Static).update(self._sources(data))
        self.query_one("#wf-yaml", Static).update(self._yaml(row))
        self._fill_runs(data, now)

    # -- rendering --------------------------------------------------------------------

    def _header(self, data: WorkflowDetail) -> Text:
        text = gap(Text.assemble((self.dataset_name, "bold")))
        text.append(self.source_type, style="cyan")
        row = data.row
        if row is not None:
            gap(text).append_text(status_text(row.status))
            if row.is_paused and row.status != WorkflowStatus.PAUSED:
                gap(text).append("(DAG paused)", style="yellow")
        force = data.in_force
        if force == self.source_type:
            gap(text).append("in force", style="green")
        elif force is not None:
            gap(text).append(f"{force} spec in force", style="magenta")
        if self.app_read_only:
            gap(text).append("read-only", style="dim")
        for action in data.pending:
            text.append("\n")
            gap(text.append(f"… {action.kind} {action.state}", style="yellow"))
            text.append(f"(#{action.id}, by {action.requested_by})", style="dim")
        return text

    @property
    def app_read_only(self) -> bool:
        return bool(getattr(self.app, "read_only", False))

    def _summary(self, row: WorkflowView, spec: DatasetSpec | None, warnings: list[str]) -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("Owner", literal(row.owner))
        grid.add_row("Team", literal(row.team))
        grid.add_row("Description", literal(row.description))
        if spec is not None:
            grid.add_row("Query", literal(spec.query_file))
            if spec.connection_id:
                grid.add_row("Connection", literal(spec.connection_id))
        grid.add_row("Spec file", literal(row.spec_path))
        if row.spec_error:
            grid.add_row(Text("Spec error", style="bold red"), literal(row.spec_error, "red"))
        for warning in warnings:
            grid.add_row(Text("Warning", style="bold yellow"), literal(warning, "yellow"))
        return grid

    def _schedule(self, data: WorkflowDetail, spec: DatasetSpec | None) -> Group | Text:
        row = data.row
        assert row is not None
        if not row.cron:
            return Text("No schedule (the spec was never valid).", style="dim")
        zone_name = row.timezone or "UTC"
        head = gap(Text.assemble(("Schedule  ", "bold"), (row.cron, "cyan")))
        head.append(zone_name)
        if spec is not None:
            s = spec.schedule
            gap(head).append(f"retry {s.max_attempts}× every {duration(s.delay_seconds)}",
                             style="dim")
            if s.sla_minutes:
                gap(head).append(f"SLA {s.sla_minutes} min", style="dim")
        note = SCHEDULE_NOTES.get(row.status)
        parts: list[Any] = [head]
        if note:
            parts.append(Text(note, style="yellow"))
        if data.fire_error:
            parts.append(Text(data.fire_error, style="red"))
            return Group(*parts)
        viewer, viewer_label = viewer_zone()
        table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, pad_edge=False,
                      header_style="bold dim")
        table.add_column(f"Next {len(data.fire_times)} ({zone_name})", no_wrap=True)
        table.add_column(f"Your time ({viewer_label})", no_wrap=True)
        workflow_zone = ZoneInfo(zone_name)
        for fire in data.fire_times:
            table.add_row(fire_time(fire, workflow_zone), fire_time(fire, viewer))
        parts.append(table)
        return Group(*parts)

    def _parameters(self, spec: DatasetSpec | None) -> Table | Text:
        if spec is None or not spec.parameters:
            return Text.assemble(("Parameters  ", "bold"), ("none", "dim"))
        table = Table(title="Parameters", title_justify="left", title_style="bold",
                      box=None, padding=(0, 2, 0, 0), show_edge=False, pad_edge=False,
                      header_style="bold dim")
        for column in ("Name", "Type", "Required", "Default", "Description"):
            table.add_column(column, overflow="fold")
        for p in spec.parameters:
            default = None if p.default is None else default_text(p.default)
            if p.takes_logical_date:
                default = "scheduled runs and backfills: the logical date"
            table.add_row(literal(p.name), p.type, "yes" if p.required else "no",
                          literal(default), literal(p.description))
        return table

    def _sources(self, data: WorkflowDetail) -> Table:
        table = Table(title="Sources", title_justify="left", title_style="bold",
                      box=None, padding=(0, 2, 0, 0), show_edge=False, pad_edge=False,
                      header_style="bold dim")
        for column in ("Source", "Status", "In force", "File"):
            table.add_column(column, overflow="fold")
        force = data.in_force
        for source in SourceType:
            row = data.pair.get(source)
            if row is None:
                table.add_row(source, Text("none", style="dim"), "", "")
                continue
            marker = Text("● yes", style="green") if source == force else Text("no", style="dim")
            name = Text(source, style="bold" if source == self.source_type else "")
            table.add_row(name, status_text(row.status), marker, literal(row.spec_path))
        return table

    def _yaml(self, row: WorkflowView) -> Syntax | Text:
        if not row.spec_yaml:
            return Text(row.spec_error or "No spec text stored.", style="red")
        return Syntax(clean(row.spec_yaml), "yaml", theme="ansi_dark", line_numbers=True,
                      word_wrap=False, background_color="default")

    def _fill_runs(self, data: WorkflowDetail, now: datetime) -> None:
        table = self.query_one("#wf-runs", DataTable)
        selected = self._selected_run_key(table)
        table.clear()
        for run in data.runs:
            done = run.succeeded + run.failed + run.skipped
            table.add_row(
                status_text(run.status), time_text(run.started_at, precision="minutes"),
                duration_text(span(run.started_at, run.ended_at, now), coarse=run.active),
                f"{done}/{run.total}", literal(run.run_type), literal(run.dag_run_id),
                key=run.public_id,
            )
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected), scroll=False)

    @staticmethod
    def _selected_run_key(table: DataTable[Any]) -> str | None:
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # cursor outside the table (empty)
            return None
        return key.value

    # -- keys -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTION_KEYS and self.app_read_only:
            return False
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_web(self) -> None:
        row = self.data.row if self.data else None
        open_in_airflow(self.app, cluster_of_team(row.team if row else None), self.dataset_name)

    def action_grid(self) -> None:
        self.query_one(TabbedContent).active = "tab-grid"
        self.query_one(GridView).focus()

    def action_pause(self) -> None:
        requests_for(self.app).toggle_pause(self.dataset_name, self.source_type)

    def action_trigger(self) -> None:
        requests_for(self.app).trigger(self.dataset_name, self.source_type)

    def action_backfill(self) -> None:
        requests_for(self.app).backfill(self.dataset_name, self.source_type)

    @on(DataTable.RowSelected, "#wf-runs")
    def open_run(self, event: DataTable.RowSelected) -> None:
        from basecamp_tui.screens.run_detail import RunDetailScreen

        if event.row_key.value:
            self.app.push_screen(RunDetailScreen(event.row_key.value))
