"""Run detail: progress, the task table, and the log tail of the selected task.

Logs come through the daemon: ``l`` queues a ``fetch_log`` action, and the ``TaskLog``
row it writes shows up on the next ``StoreChanged("task_logs")``. Log text goes into a
``Log`` widget, which renders lines literally (no markup, control codes replaced).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Log, ProgressBar, Static
from textual.worker import get_current_worker

from basecamp_tui.messages import StoreChanged
from basecamp_tui.palette import (
    BUSY,
    GOOD,
    QUIET,
    WAIT,
    WARN,
    status_text,
    waiting_text,
)
from basecamp_tui.requests import requests_for
from basecamp_tui.text import clean, duration_text, literal, time_text
from daemon.core.timefmt import span, when
from daemon.read.runs import RunDetail, TaskLogView, TaskView, run_detail, task_log

ACTION_KEYS = ("stop", "logs", "clear", "mark", "respond")
RELOAD_ON = frozenset({"runs", "tasks", "actions"})


@dataclass(frozen=True)
class TaskKey:
    task_id: str
    map_index: int = -1

    @property
    def row_key(self) -> str:
        return f"{self.task_id}\x00{self.map_index}"

    @classmethod
    def from_row_key(cls, value: str) -> TaskKey:
        task_id, _, index = value.rpartition("\x00")
        return cls(task_id, int(index))

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


@dataclass
class RunLoaded(Message):
    data: RunDetail
    now: datetime


@dataclass
class LogLoaded(Message):
    key: TaskKey
    log: TaskLogView | None
    try_number: int


class RunDetailScreen(Screen[None]):
    """``s`` stop the run, ``l`` fetch the selected task's log, ``escape`` back."""

    DEFAULT_CSS = """
    RunDetailScreen #run-header { height: auto; padding: 0 1; background: $boost; }
    RunDetailScreen #run-progress { height: 1; padding: 0 1; }
    RunDetailScreen #run-progress ProgressBar { width: auto; margin-right: 1; }
    RunDetailScreen #run-progress Bar { width: 20; }
    RunDetailScreen #run-counts { width: 1fr; }
    RunDetailScreen #run-tasks { height: 1fr; min-height: 4; }
    RunDetailScreen #log-title { height: 1; padding: 0 1; background: $boost; }
    RunDetailScreen #run-log { height: 1fr; min-height: 3; overflow: auto; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("s", "stop", "Stop", id="stop", tooltip="Stop this run (asks for a reason)"),
        Binding("l", "logs", "Log", id="logs",
                tooltip="Fetch the selected task's log through the daemon"),
        Binding("c", "clear", "Clear", id="clear",
                tooltip="Retry the selected task and what depends on it (Airflow's preview)"),
        Binding("M", "mark", "Mark", id="mark",
                tooltip="Mark the selected task success or failed"),
        Binding("i", "respond", "Answer", id="respond",
                tooltip="Answer the task that waits for input"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.data: RunDetail | None = None
        self._tasks: dict[str, TaskView] = {}
        self._shown_log: tuple[TaskKey, int, datetime] | None = None
        self._waiting_for: TaskKey | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(self.run_id, style="bold"), id="run-header")
        with Horizontal(id="run-progress"):
            yield ProgressBar(total=1, show_eta=False, id="run-bar")
            yield Static(id="run-counts")
        yield DataTable(id="run-tasks", cursor_type="row", zebra_stripes=True)
        yield Static(Text("Log", style="bold"), id="log-title")
        yield Log(id="run-log", auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#run-tasks", DataTable)
        table.add_columns("Task", "State", "Try", "Started (UTC)", "Duration")
        self.reload()

    # -- data -------------------------------------------------------------------------

    def reload(self) -> None:
        self._load(self.app.clock())

    @work(thread=True, exclusive=True, group="run-detail", exit_on_error=False)
    def _load(self, now: datetime) -> None:
        data = run_detail(self.run_id)
        if not get_current_worker().is_cancelled:  # a newer load is on its way
            self.post_message(RunLoaded(data, now))

    @work(thread=True, exclusive=True, group="run-log", exit_on_error=False)
    def _load_log(self, run_pk: int, key: TaskKey, try_number: int) -> None:
        entry = task_log(run_pk, key.task_id, key.map_index, try_number)
        if not get_current_worker().is_cancelled:
            self.post_message(LogLoaded(key, entry, try_number))

    def on_store_changed(self, message: StoreChanged) -> None:
        if message.tables & RELOAD_ON:
            self.reload()
        elif "task_logs" in message.tables:
            self._reload_log()

    def on_run_loaded(self, message: RunLoaded) -> None:
        self.data = message.data
        self.query_one("#run-header", Static).update(self._header(message.data, message.now))
        self._show_progress(message.data)
        self._fill_tasks(message.data, message.now)
        self._reload_log()
        self.refresh_bindings()

    # -- rendering --------------------------------------------------------------------

    def _header(self, data: RunDetail, now: datetime) -> Text:
        run = data.run
        if run is None:
            return Text(data.error or f"Run not found: {self.run_id}", style="red")
        text = Text.assemble(literal(run.public_id, "bold"), "  ")
        text.append_text(status_text(run.status))
        if run.airflow_state and run.airflow_state.upper() != run.status:
            text.append(f" (Airflow: {run.airflow_state})", style="dim")
        text.append("\n")
        text.append_text(Text.assemble(
            ("cluster ", "dim"), literal(run.cluster), ("  type ", "dim"), literal(run.run_type),
            ("  by ", "dim"), literal(run.triggered_by)))
        text.append("\n")
        elapsed = duration_text(span(run.started_at, run.ended_at, now))
        text.append_text(Text.assemble(
            ("logical ", "dim"), time_text(run.logical_date), ("  started ", "dim"),
            time_text(run.started_at), ("  took ", "dim"), elapsed))
        if run.note:
            text.append("\n")
            text.append_text(Text.assemble(("note ", "dim"), literal(run.note)))
        for request in data.inputs:
            text.append("\n")
            text.append_text(Text.assemble(
                waiting_text(), " ", literal(request.label, "bold"), ": ",
                literal(request.subject), ("  (i answers)", "dim")))
        for action in data.pending:
            text.append("\n")
            text.append(f"… {action.kind} {action.state}", style="yellow")
            text.append(f"  (#{action.id}, by {action.requested_by})", style="dim")
        return text

    def _show_progress(self, data: RunDetail) -> None:
        run = data.run
        bar = self.query_one("#run-bar", ProgressBar)
        counts = self.query_one("#run-counts", Static)
        if run is None:
            bar.update(total=1, progress=0)
            counts.update("")
            return
        done = run.succeeded + run.failed + run.skipped
        bar.update(total=max(run.total, 1), progress=done)
        text = Text(f"{done}/{run.total} done")
        for label, value, style in (("ok", run.succeeded, GOOD), ("failed", run.failed, WARN),
                                    ("running", run.running, BUSY),
                                    ("queued", run.queued, WAIT),
                                    ("skipped", run.skipped, QUIET)):
            if value:
                text.append(f"  {value} {label}", style=style)
        counts.update(text)

    def _fill_tasks(self, data: RunDetail, now: datetime) -> None:
        table = self.query_one("#run-tasks", DataTable)
        selected = self.selected_task()
        table.clear()
        self._tasks = {}
        for task in data.tasks:
            key = TaskKey(task.task_id, task.map_index)
            self._tasks[key.row_key] = task
            table.add_row(
                literal(key.label), status_text(task.state), str(task.try_number),
                time_text(task.started_at),
                duration_text(task.duration_seconds if task.ended_at is not None
                              else span(task.started_at, task.ended_at, now)),
                key=key.row_key,
            )
        if selected is not None and selected.row_key in table.rows:
            table.move_cursor(row=table.get_row_index(selected.row_key), scroll=False)

    def selected_task(self) -> TaskKey | None:
        table = self.query_one("#run-tasks", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # cursor outside the table
            return None
        return TaskKey.from_row_key(key.value) if key.value else None

    # -- the log pane -----------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#run-tasks")
    def _task_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._reload_log()

    def _reload_log(self) -> None:
        key = self.selected_task()
        run = self.data.run if self.data else None
        if key is None or run is None:
            self._set_log(Text("Log: no task selected", style="dim"), None)
            return
        task = self._tasks.get(key.row_key)
        self._load_log(run.id, key, task.try_number if task else 1)

    def on_log_loaded(self, message: LogLoaded) -> None:
        if message.key != self.selected_task():
            return
        entry = message.log
        title = Text.assemble(("Log ", "bold"), literal(message.key.label))
        if entry is None:
            if self._waiting_for == message.key:
                title.append("  fetching through the daemon…", style="yellow")
            else:
                title.append("  not fetched yet: press l", style="dim")
            self._set_log(title, None)
            return
        if self._waiting_for == message.key and entry.try_number == message.try_number:
            self._waiting_for = None
        title.append(f"  try {entry.try_number}", style="dim")
        title.append(f"  fetched {when(entry.fetched_at)} UTC", style="dim")
        if entry.truncated:
            title.append("  (tail end only)", style="yellow")
        if self._waiting_for == message.key:
            title.append("  fetching newer try…", style="yellow")
        self._set_log(title, (message.key, entry.try_number, entry.fetched_at), entry.content)

    def _set_log(self, title: Text, identity: tuple[TaskKey, int, datetime] | None,
                 content: str = "") -> None:
        self.query_one("#log-title", Static).update(title)
        if identity == self._shown_log and identity is not None:
            return  # same log: keep the user's scroll position
        self._shown_log = identity
        log = self.query_one("#run-log", Log)
        log.clear()
        if content:
            log.write(clean(content))
            log.scroll_end(animate=False)

    # -- keys -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTION_KEYS and getattr(self.app, "read_only", False):
            return False
        if action == "stop" and self.data is not None and self.data.run is not None:
            return True if self.data.run.active else None
        return True

    def action_back(self) -> None:
        self.dismiss()

    def action_stop(self) -> None:
        run = self.data.run if self.data else None
        requests_for(self.app).stop(run.public_id if run else self.run_id)

    def action_clear(self) -> None:
        key, run = self.selected_task(), self.data.run if self.data else None
        if run is not None:
            requests_for(self.app).clear([run.public_id], [key.task_id] if key else None)

    def action_mark(self) -> None:
        key, run = self.selected_task(), self.data.run if self.data else None
        if run is not None:
            requests_for(self.app).mark([run.public_id], key.task_id if key else None)

    def action_respond(self) -> None:
        key, run = self.selected_task(), self.data.run if self.data else None
        if run is not None:
            requests_for(self.app).respond(run.public_id, key.task_id if key else None)

    def action_logs(self) -> None:
        key = self.selected_task()
        run = self.data.run if self.data else None
        if key is None or run is None:
            self.notify("Select a task first.", severity="warning")
            return
        task = self._tasks.get(key.row_key)
        try_number = task.try_number if task else 0
        if try_number >= 1:
            self._waiting_for = key
        requests_for(self.app).fetch_log(run.public_id, key.task_id, try_number, key.map_index)
        self._reload_log()
