"""Run detail: progress, the task table with a Gantt column, and the log of the selected
task's try.

Logs come through the daemon: ``l`` queues a ``fetch_log`` action, and the ``TaskLog``
row it writes shows up on the next ``StoreChanged("task_logs")``. While the selected task
runs and its current try's log is shown, the screen asks the daemon every few seconds for
the new part (``follow``; at most one open fetch per task) and the pane appends it,
following the end only when the view was at the end. ``[`` / ``]`` pick an earlier or later
try among those the store has (the Gantt column draws the picked try at full strength),
``/`` searches the pane (``n`` / ``N``), ``g`` / ``G`` jump to its start / end. Log text is
shown literally (``LogView``: no markup, control codes removed).
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
from textual.widgets import DataTable, Footer, Input, ProgressBar, Static
from textual.worker import get_current_worker

from basecamp_tui.gantt import Axis, gantt_bar, try_starts
from basecamp_tui.keys import key_hint
from basecamp_tui.messages import StoreChanged
from basecamp_tui.palette import BUSY, status_text, style_of
from basecamp_tui.requests import requests_for
from basecamp_tui.screens.log_view import LogPane
from basecamp_tui.screens.run_header import progress_counts, run_header
from basecamp_tui.text import duration_text, literal, time_text
from daemon.core.timefmt import span, when
from daemon.read.runs import RunDetail, TaskLogView, TaskView, run_detail, task_log

ACTION_KEYS = ("stop", "logs", "clear", "mark", "respond")
RELOAD_ON = frozenset({"runs", "tasks", "actions"})
FOLLOW_STATES = frozenset({"running", "deferred"})
"""Task states whose log still grows (Airflow's own test for the end of a log)."""


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
    chosen: bool = False
    """The user picked this try (``[`` / ``]``): only its own log is shown."""


class RunDetailScreen(Screen[None]):
    """``s`` stop the run, ``l`` fetch the selected task's log, ``escape`` back."""

    DEFAULT_CSS = """
    RunDetailScreen #run-header { height: auto; padding: 0 1; background: $boost; }
    RunDetailScreen #run-progress { height: 1; padding: 0 1; }
    RunDetailScreen #run-progress ProgressBar { width: auto; margin-right: 1; }
    RunDetailScreen #run-progress Bar { width: 20; }
    RunDetailScreen #run-counts { width: 1fr; }
    RunDetailScreen #run-tasks { height: 1fr; min-height: 4; }
    """
    FOLLOW_SECONDS = 3.0
    """How often a followed log asks the daemon for its new part."""
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
        Binding("slash", "search", "Search", id="log_search",
                tooltip="Search the log (literal text, any case)"),
        Binding("n", "next_match(1)", "Next match", id="log_next", show=False),
        Binding("N", "next_match(-1)", "Previous match", id="log_previous", show=False),
        Binding("g", "log_edge(-1)", "Log start", id="log_start", show=False),
        Binding("G", "log_edge(1)", "Log end", id="log_end", show=False),
        Binding("left_square_bracket", "try(-1)", "Earlier try", id="try_earlier", show=False,
                tooltip="Show the log of the selected task's previous try"),
        Binding("right_square_bracket", "try(1)", "Later try", id="try_later", show=False,
                tooltip="Show the log of the selected task's next try"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.data: RunDetail | None = None
        self._tasks: dict[str, TaskView] = {}
        self._shown_log: tuple[TaskKey, int, datetime] | None = None
        self._waiting_for: TaskKey | None = None
        self._tries: dict[str, int] = {}
        """The try picked with ``[`` / ``]``, by row key (absent: the latest)."""
        self._gantt_cells = 0
        self._axis: Axis | None = None
        self._now: datetime | None = None
        self._followed: tuple[str, TaskKey, int] | None = None
        """(run id, task, try) whose log the pane follows, until one last fetch after it ends."""

    def compose(self) -> ComposeResult:
        yield Static(Text(self.run_id, style="bold"), id="run-header")
        with Horizontal(id="run-progress"):
            yield ProgressBar(total=1, show_eta=False, id="run-bar")
            yield Static(id="run-counts")
        yield DataTable(id="run-tasks", cursor_type="row", zebra_stripes=True)
        yield LogPane(id="log-pane")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#run-tasks", DataTable)
        table.add_column("Task")
        table.add_column("State")
        table.add_column("Try", key="try")
        table.add_column("Duration")
        table.add_column("Run timeline", key="gantt")
        table.add_column("Started (UTC)")
        self.set_interval(self.FOLLOW_SECONDS, self._follow_tick)
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
    def _load_log(self, run_pk: int, key: TaskKey, try_number: int, chosen: bool) -> None:
        entry = task_log(run_pk, key.task_id, key.map_index, try_number, exact=chosen)
        if not get_current_worker().is_cancelled:
            self.post_message(LogLoaded(key, entry, try_number, chosen))

    def on_store_changed(self, message: StoreChanged) -> None:
        if message.tables & RELOAD_ON:
            self.reload()
        elif "task_logs" in message.tables:
            self._reload_log()

    def on_run_loaded(self, message: RunLoaded) -> None:
        self.data = message.data
        header = run_header(message.data, self.run_id, message.now)
        self.query_one("#run-header", Static).update(header)
        self._show_progress(message.data)
        self._fill_tasks(message.data, message.now)
        self._reload_log()
        self.refresh_bindings()

    # -- rendering --------------------------------------------------------------------

    def _show_progress(self, data: RunDetail) -> None:
        run = data.run
        bar = self.query_one("#run-bar", ProgressBar)
        counts = self.query_one("#run-counts", Static)
        if run is None:
            bar.update(total=1, progress=0)
            counts.update("")
            return
        bar.update(total=max(run.total, 1), progress=run.succeeded + run.failed + run.skipped)
        counts.update(progress_counts(run))

    def _gantt_width(self) -> int:
        return min(30, max(10, self.size.width // 5))

    def on_resize(self) -> None:
        if self.data is not None and self._gantt_cells != self._gantt_width():
            self._fill_tasks(self.data, self.app.clock())

    def _fill_tasks(self, data: RunDetail, now: datetime) -> None:
        table = self.query_one("#run-tasks", DataTable)
        selected = self.selected_task()
        table.clear()
        self._tasks = {}
        run = data.run
        self._gantt_cells = self._gantt_width()
        self._now = now
        self._axis = None if run is None else Axis.of(
            [run.started_at, *(value for task in data.tasks for value in try_starts(task.tries))],
            run.ended_at, now, self._gantt_cells)
        for task in data.tasks:
            key = TaskKey(task.task_id, task.map_index)
            self._tasks[key.row_key] = task
            table.add_row(
                literal(key.label), status_text(task.state), self._try_cell(key.row_key),
                duration_text(task.duration_seconds if task.ended_at is not None
                              else span(task.started_at, task.ended_at, now)),
                self._gantt_cell(key.row_key),
                time_text(task.started_at),
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
            self._set_log(Text("Log: no task selected", style="dim"), [], None, "")
            return
        task = self._tasks.get(key.row_key)
        chosen = self._tries.get(key.row_key)
        self._load_log(run.id, key, chosen or (task.try_number if task else 1), chosen is not None)

    def _gantt_cell(self, row_key: str) -> Text:
        task = self._tasks.get(row_key)
        if task is None or self._now is None:
            return Text()
        return gantt_bar(self._axis, task.tries, self._now, self._tries.get(row_key))

    def _try_cell(self, row_key: str) -> Text:
        task = self._tasks.get(row_key)
        latest = task.try_number if task else 0
        chosen = self._tries.get(row_key)
        if chosen is None or chosen == latest:
            return Text(str(latest))
        return Text(f"{chosen}/{latest}", style="bold")

    def on_log_loaded(self, message: LogLoaded) -> None:
        key = message.key
        if key != self.selected_task():
            return
        entry = message.log
        task = self._tasks.get(key.row_key)
        latest = task.try_number if task else message.try_number
        parts: list[tuple[str, str]] = []
        if message.chosen or latest > 1:
            keys = " ".join(key_hint(self.app, id_, self.BINDINGS) for id_ in ("try_earlier", "try_later"))
            parts.append((f"try {message.try_number} of {latest} ({keys})", "dim"))
            state = next((one.state for one in task.tries
                          if one.try_number == message.try_number), None) if task else None
            if state and message.chosen:
                parts.append((state, style_of(state) or "dim"))
        if entry is None:
            if self._waiting_for == key:
                parts.append(("fetching through the daemon…", "yellow"))
            else:
                parts.append(("not fetched yet: press l", "dim"))
            self._set_log(self._head(key), parts, None, "")
            return
        if self._waiting_for == key and entry.try_number == message.try_number:
            self._waiting_for = None
        if entry.try_number != message.try_number:
            parts.append((f"showing try {entry.try_number}", "yellow"))
        elif not parts:
            parts.append((f"try {entry.try_number}", "dim"))
        parts.append((f"fetched {when(entry.fetched_at)} UTC", "dim"))
        if entry.truncated:
            parts.append(("(tail end only)", "yellow"))
        if self._waiting_for == key:
            parts.append(("fetching newer try…", "yellow"))
        self._set_log(self._head(key), parts, (key, entry.try_number, entry.fetched_at),
                      entry.content)
        if self._follow_target() is not None:
            self.query_one(LogPane).add_part("following", BUSY)

    @staticmethod
    def _head(key: TaskKey) -> Text:
        return Text.assemble(("Log ", "bold"), literal(key.label))

    def _set_log(self, head: Text, parts: list[tuple[str, str]],
                 identity: tuple[TaskKey, int, datetime] | None, content: str) -> None:
        """Show ``content``; a newer fetch of the log shown (same task and try) extends
        it without moving the view unless it was at the end."""
        same_log = (identity is not None and self._shown_log is not None
                    and identity[:2] == self._shown_log[:2])
        self._shown_log = identity
        self.query_one(LogPane).show(head, parts, content, same_log=same_log)

    # -- following a running task --------------------------------------------------------

    def _follow_target(self) -> tuple[str, TaskKey, int] | None:
        """(run id, task, try) when the selected task still runs and the pane shows its
        current try's log; else None."""
        run = self.data.run if self.data else None
        key = self.selected_task()
        if run is None or key is None or getattr(self.app, "read_only", False):
            return None
        task = self._tasks.get(key.row_key)
        if task is None or task.state not in FOLLOW_STATES or key.row_key in self._tries:
            return None
        if self._shown_log is None or self._shown_log[:2] != (key, task.try_number):
            return None
        return run.public_id, key, task.try_number

    def _follow_tick(self) -> None:
        target = self._follow_target()
        if target is None and self._followed is not None:
            # The followed try ended: one last fetch brings what it wrote at the end.
            run_id, key, try_number = self._followed
            task = self._tasks.get(key.row_key)
            self._followed = None
            if task is not None and task.try_number == try_number \
                    and task.state not in FOLLOW_STATES:
                requests_for(self.app).follow_log(run_id, key.task_id, try_number, key.map_index)
        elif target is not None:
            self._followed = target
            run_id, key, try_number = target
            requests_for(self.app).follow_log(run_id, key.task_id, try_number, key.map_index)

    # -- keys -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTION_KEYS and getattr(self.app, "read_only", False):
            return False
        if action == "stop" and self.data is not None and self.data.run is not None:
            return True if self.data.run.active else None
        return True

    def action_back(self) -> None:
        """Escape closes the log search first, then clears it, then goes back."""
        pane = self.query_one(LogPane)
        if pane.searching:
            pane.close_search(keep=False)
            self.query_one("#run-tasks", DataTable).focus()
            return
        self.dismiss()

    def action_search(self) -> None:
        self.query_one(LogPane).open_search()

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.query_one(LogPane).close_search(keep=True)
        self.query_one("#run-tasks", DataTable).focus()

    def action_next_match(self, step: int) -> None:
        if not self.query_one(LogPane).next_match(step):
            self.notify(f"Search the log first: press {key_hint(self.app, 'log_search', self.BINDINGS)}",
                        severity="warning")

    def action_log_edge(self, direction: int) -> None:
        self.query_one(LogPane).edge(direction)

    def action_try(self, step: int) -> None:
        """Step to the previous / next try the store has of the selected task."""
        key = self.selected_task()
        task = self._tasks.get(key.row_key) if key else None
        numbers = task.try_numbers if task else []
        if key is None or task is None or not numbers:
            return
        current = self._tries.get(key.row_key, task.try_number)
        index = numbers.index(current) if current in numbers else len(numbers) - 1
        chosen = numbers[min(max(index + step, 0), len(numbers) - 1)]
        if chosen == task.try_number:
            self._tries.pop(key.row_key, None)
        else:
            self._tries[key.row_key] = chosen
        table = self.query_one("#run-tasks", DataTable)
        table.update_cell(key.row_key, "try", self._try_cell(key.row_key))
        table.update_cell(key.row_key, "gantt", self._gantt_cell(key.row_key))
        self._reload_log()

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
            requests_for(self.app).mark([run.public_id], key.task_id if key else None,
                                        key.map_index if key else -1)

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
        try_number = self._tries.get(key.row_key) or (task.try_number if task else 0)
        if try_number >= 1:
            self._waiting_for = key
        requests_for(self.app).fetch_log(run.public_id, key.task_id, try_number, key.map_index)
        self._reload_log()
