"""A workflow's grid: recent runs (left to right, oldest to newest) × its tasks, each cell
a task instance in its state's colour and symbol (so it reads without colour too), the
runs' durations as bars above. Arrows move; ``enter`` opens the run; ``c`` / ``M`` clear
or mark the cell's task; moving left past the oldest run shows older ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.segment import Segment
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Region
from textual.message import Message
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from basecamp_tui.charts import bar_rows
from basecamp_tui.links import cluster_named, open_in_airflow
from basecamp_tui.messages import StoreChanged
from basecamp_tui.palette import QUIET, SYMBOLS, status_text, style_of
from basecamp_tui.requests import requests_for
from basecamp_tui.text import gap, literal
from daemon.core.timefmt import duration, span, when
from daemon.read.grid import Grid, GridCell, workflow_grid
from daemon.read.runs import RunView

CELL = 2
"""Columns per run: a symbol and a gap."""
BAR_ROWS = 3
"""Rows of the duration bars above the cells."""
MAX_LABEL = 24
RELOAD_ON = frozenset({"runs", "tasks"})
ACTION_KEYS = ("clear", "mark")
"""The keys that queue actions (off in read-only mode)."""


def cell_symbol(cell: GridCell | None) -> str:
    if cell is None:
        return " "
    if cell.state is None:
        return "·"
    return SYMBOLS.get(cell.state, "?")


@dataclass
class GridLoaded(Message):
    grid: Grid
    now: datetime


class GridView(Widget, can_focus=True):
    """The cells on Textual's Line API; the cursor is (run column, task row)."""

    DEFAULT_CSS = "GridView { height: auto; padding: 0 1; }"
    BINDINGS = [
        Binding("left", "move(-1, 0)", "Older run", id="grid_older", show=False),
        Binding("right", "move(1, 0)", "Newer run", id="grid_newer", show=False),
        Binding("up", "move(0, -1)", "Task above", id="grid_up", show=False),
        Binding("down", "move(0, 1)", "Task below", id="grid_down", show=False),
        Binding("home", "edge(-1)", "Oldest run", id="grid_oldest", show=False),
        Binding("end", "edge(1)", "Newest run", id="grid_newest", show=False),
    ]

    @dataclass
    class Moved(Message):
        """The cursor moved (``older``: past the oldest column shown)."""

        older: bool = False
        newer: bool = False

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.grid: Grid | None = None
        self.now: datetime | None = None
        self.column = -1
        self.row = 0
        self._drawn: tuple[Grid, list[Text]] | None = None

    def show(self, grid: Grid, now: datetime, keep: tuple[str, str] | None = None) -> None:
        """Draw ``grid``; ``keep`` (run id, task id) stays under the cursor if it is there."""
        self.grid, self.now = grid, now
        column = next((i for i, r in enumerate(grid.runs) if keep and r.public_id == keep[0]), None)
        self.column = column if column is not None else len(grid.runs) - 1
        row = next((i for i, t in enumerate(grid.tasks) if keep and t == keep[1]), None)
        self.row = row if row is not None else min(self.row, max(len(grid.tasks) - 1, 0))
        self.refresh(layout=True)

    @property
    def selected(self) -> tuple[RunView, str | None] | None:
        grid = self.grid
        if grid is None or not grid.runs or self.column < 0:
            return None
        task = grid.tasks[self.row] if grid.tasks else None
        return grid.runs[self.column], task

    def fits(self, width: int) -> int:
        """How many run columns fit ``width`` cells beside the task names."""
        return max(1, (width - 2 - MAX_LABEL - 1) // CELL)

    def action_move(self, columns: int, rows: int) -> None:
        grid = self.grid
        if grid is None or not grid.runs:
            return
        column = self.column + columns
        if column < 0:
            self.post_message(self.Moved(older=grid.older))
            return
        if column >= len(grid.runs):
            self.post_message(self.Moved(newer=True))
            return
        old = (self.column, self.row)
        self.column = column
        self.row = min(max(self.row + rows, 0), max(len(grid.tasks) - 1, 0))
        self._moved(old)
        self.post_message(self.Moved())

    def action_edge(self, direction: int) -> None:
        if self.grid is not None and self.grid.runs:
            old = (self.column, self.row)
            self.column = 0 if direction < 0 else len(self.grid.runs) - 1
            self._moved(old)
            self.post_message(self.Moved())

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return BAR_ROWS + 1 + max(len(self.grid.tasks) if self.grid else 1, 1)

    # -- drawing: one line at a time (a cursor move repaints two rows and the marker) --

    def _lines(self) -> list[Text]:
        """Everything but the cursor: the bars, and per task its cells; built once per
        grid (a Rich ``Text`` per line, its cells as spans at known offsets)."""
        grid = self.grid
        if grid is None:
            return [Text("Loading…", style=QUIET)]
        if not grid.runs:
            return [Text("No runs of this workflow yet.", style=QUIET)]
        if self._drawn is not None and self._drawn[0] is grid:
            return self._drawn[1]
        label = self._label_width()
        now = self.now
        seconds = [span(r.started_at, r.ended_at, now) if now else r.duration_seconds
                   for r in grid.runs]
        longest = max((s or 0.0 for s in seconds), default=0.0)
        lines = []
        for line in bar_rows(seconds, longest, BAR_ROWS):
            text = Text(" " * (label + 1))
            for index, char in enumerate(line):
                text.append(char, style=style_of(grid.runs[index].status))
                text.append(" ")
            lines.append(text)
        lines.append(Text(""))  # the cursor's marker: drawn per frame
        for task in grid.tasks:
            name = task if len(task) <= label else task[: label - 1] + "…"
            text = Text()
            text.append_text(literal(name.ljust(label)))
            text.append(" ")
            for run in grid.runs:
                cell = grid.cell(run, task)
                text.append(cell_symbol(cell), style=style_of(cell.state if cell else None))
                text.append(" ")
            lines.append(text)
        if not grid.tasks:
            lines.append(Text("No task instances synced for these runs yet.", style=QUIET))
        self._drawn = (grid, lines)
        return lines

    def _label_width(self) -> int:
        tasks = self.grid.tasks if self.grid else []
        return min(MAX_LABEL, max((len(t) for t in tasks), default=4))

    def render_line(self, y: int) -> Strip:
        lines = self._lines()
        width = self.size.width
        if y >= len(lines):
            return Strip.blank(width, self.rich_style)
        text = lines[y]
        grid = self.grid
        if grid is not None and grid.runs and y >= BAR_ROWS:
            label = self._label_width()
            if y == BAR_ROWS:  # the marker under the selected run's bar
                text = Text(" " * (label + 1 + CELL * self.column))
                text.append("▲", style="bold")
            elif y - BAR_ROWS - 1 == self.row:
                text = text.copy()
                text.stylize("bold", 0, label)
                at = label + 1 + CELL * self.column
                text.stylize("reverse", at, at + 1)
        base = self.rich_style  # the widget's colours under the cells' own
        segments = list(Segment.apply_style(text.render(self.app.console), base))
        return Strip(segments).crop_extend(0, width, base)

    def _moved(self, old: tuple[int, int]) -> None:
        """Repaint what a cursor move changes: the two rows and the marker."""
        width = self.size.width
        self.refresh(*(Region(0, y, width, 1)
                       for y in {BAR_ROWS, BAR_ROWS + 1 + old[1], BAR_ROWS + 1 + self.row}))


class GridPanel(Vertical):
    """The grid of one workflow with the selected cell described below it; loads itself
    and follows the store. On its own screen (``g``) and as a tab of the workflow detail."""

    DEFAULT_CSS = """
    GridPanel { height: auto; }
    GridPanel #grid-cell { height: auto; padding: 0 1; margin-top: 1; }
    GridPanel GridView { margin-top: 1; }
    """
    BINDINGS = [
        Binding("enter", "open", "Open run", id="grid_open"),
        Binding("c", "clear", "Clear", id="clear", tooltip="Retry the cell's task and what depends on it"),
        Binding("M", "mark", "Mark", id="mark", tooltip="Mark the cell's task success or failed"),
        Binding("w", "web", "Web", id="web", tooltip="Open the cell's task in Airflow's web UI"),
    ]

    def __init__(self, dataset: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.dataset = dataset
        self.older_runs = 0
        """How many of the newest runs are scrolled past (to show older ones)."""
        self._columns = 0
        self.data: Grid | None = None

    def compose(self) -> ComposeResult:
        yield GridView(id="grid")
        yield Static(id="grid-cell")

    def on_mount(self) -> None:
        # The first look is read here, on the UI thread: it is bounded (the runs that fit
        # × their tasks, ~20 ms for 45 × 20) and a worker thread would wait behind the
        # screen's own layout (150 ms in bench/grid.py). Later looks read in a worker.
        self._columns = self.query_one(GridView).fits(self.app.size.width)
        grid = workflow_grid(self.dataset, self._columns, self.older_runs)
        self.on_grid_loaded(GridLoaded(grid, self.app.clock()))

    def on_resize(self) -> None:
        """A new width: load the runs that fit it (once per width)."""
        if self.query_one(GridView).fits(self.size.width) != self._columns:
            self.reload()

    def reload(self) -> None:
        self._columns = self.query_one(GridView).fits(self.size.width or self.app.size.width)
        self._load(self.dataset, self._columns, self.older_runs, self.app.clock())

    @work(thread=True, exclusive=True, group="grid", exit_on_error=False)
    def _load(self, dataset: str, columns: int, offset: int, now: datetime) -> None:
        grid = workflow_grid(dataset, columns, offset)
        if not get_current_worker().is_cancelled:
            self.post_message(GridLoaded(grid, now))

    def on_grid_loaded(self, message: GridLoaded) -> None:
        message.stop()
        view = self.query_one(GridView)
        selected = view.selected
        keep = (selected[0].public_id, selected[1] or "") if selected else None
        self.data = message.grid
        view.show(message.grid, message.now, keep)
        self._describe()

    def on_grid_view_moved(self, message: GridView.Moved) -> None:
        message.stop()
        step = max(1, len(self.data.runs) // 2) if self.data else 1
        if message.older:
            self.older_runs += step
            self.reload()
        elif message.newer and self.older_runs:
            self.older_runs = max(0, self.older_runs - step)
            self.reload()
        self._describe()

    def _describe(self) -> None:
        selected = self.query_one(GridView).selected
        out = self.query_one("#grid-cell", Static)
        if selected is None:
            out.update("")
            return
        run, task = selected
        now = self.app.clock()
        took = span(run.started_at, run.ended_at, now)
        text = gap(Text().append_text(literal(run.public_id, "bold")))
        gap(text.append_text(status_text(run.status)))
        gap(text.append("started ", style=QUIET).append(
            when(run.started_at) if run.started_at else "—"))
        text.append("took ", style=QUIET).append(duration(took) if took is not None else "—")
        cell = self.data.cell(run, task) if (self.data and task) else None
        if task:
            text.append("\n")
            gap(text.append("task ", style=QUIET).append_text(literal(task, "bold")))
            if cell is None:
                text.append("not in this run", style=QUIET)
            else:
                took = (cell.duration_seconds if cell.ended_at
                        else span(cell.started_at, cell.ended_at, now))
                gap(text.append_text(status_text(cell.state)))
                gap(text.append("try ", style=QUIET).append(str(cell.try_number)))
                text.append("took ", style=QUIET).append(
                    duration(took) if took is not None else "—")
                if cell.instances > 1:
                    gap(text).append(f"{cell.instances} mapped instances", style=QUIET)
        text.append("\n")
        older = self.data is not None and self.data.older
        text.append("← older runs" if older else "(no older runs)", style=QUIET)
        if self.older_runs:
            gap(text, 3).append("newer runs →", style=QUIET)
        out.update(text)

    # -- keys ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTION_KEYS and getattr(self.app, "read_only", False):
            return False
        return True

    def action_open(self) -> None:
        selected = self.query_one(GridView).selected
        if selected is not None:
            from basecamp_tui.screens.run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(selected[0].public_id))

    def action_web(self) -> None:
        selected = self.query_one(GridView).selected
        if selected is not None:
            run, task = selected
            open_in_airflow(self.app, cluster_named(run.cluster), run.dataset_name,
                            run.dag_run_id, task)

    def action_clear(self) -> None:
        selected = self.query_one(GridView).selected
        if selected is not None:
            run, task = selected
            requests_for(self.app).clear([run.public_id], [task] if task else None)

    def action_mark(self) -> None:
        selected = self.query_one(GridView).selected
        if selected is not None:
            run, task = selected
            requests_for(self.app).mark([run.public_id], task)


class GridScreen(Screen[None]):
    """``g``: the grid of one workflow on its own screen; ``escape`` back."""

    DEFAULT_CSS = "GridScreen #grid-header { height: auto; padding: 0 1; background: $boost; }"
    BINDINGS = [Binding("escape", "back", "Back", id="back")]

    def __init__(self, dataset: str) -> None:
        super().__init__()
        self.dataset = dataset

    def compose(self) -> ComposeResult:
        yield Static(gap(Text.assemble(("Grid  ", "bold"), literal(self.dataset, "bold")), 3)
                     .append("runs oldest → newest, tasks as they run", style=QUIET),
                     id="grid-header")
        yield GridPanel(self.dataset)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(GridView).focus()

    def on_store_changed(self, message: StoreChanged) -> None:
        if message.tables & RELOAD_ON:
            self.query_one(GridPanel).reload()

    def action_back(self) -> None:
        self.dismiss()
