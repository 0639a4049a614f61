"""A DataTable that follows a keyed model: rows are updated in place, never reloaded.

Each tab subclasses :class:`LiveTable` with its columns, how a row renders, which rows
it shows and how they sort. Live changes go through :meth:`LiveTable.apply` (update the
cells that differ, add or remove single rows); only a user's filter/sort change rebuilds
the table, and both keep the cursor on the same row key.

A table shows at most ``MAX_ROWS`` rows (the first ones in sort order); the status line
says how many match, and ``/`` narrows them down. A Textual DataTable holding 10,000
rows costs seconds per rebuild and hundreds of MB, a filter keystroke must cost < 100 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, ClassVar, Generic, Iterable, TypeVar

from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

R = TypeVar("R")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int


@dataclass(frozen=True)
class Sort:
    label: str
    key: Callable[[Any], Any]
    reverse: bool = False


class LiveTable(DataTable, Generic[R]):
    """A tab's table. Subclasses set COLUMNS and SORTS and implement ``cells``."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    SORTS: ClassVar[tuple[Sort, ...]] = ()
    MAX_ROWS: ClassVar[int] = 300
    TICKS: ClassVar[bool] = False
    """Whether cells depend on the clock (durations, ages) and are re-rendered each tick."""

    def __init__(self, clock: Callable[[], datetime], **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.clock = clock
        self.model: dict[str, R] = {}
        self.filter_text = ""
        self.failed_only = False
        self.sort_index = 0
        self._cells: dict[str, tuple[Text, ...]] = {}
        self._haystacks: dict[str, tuple[R, str]] = {}
        self.matching: set[str] = set()
        """Keys of the model rows that pass the filters (shown or beyond MAX_ROWS)."""

    def on_mount(self) -> None:
        self._ensure_columns()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Every column has a fixed width and every row is one line, so measuring each new
        # cell (DataTable's default, ~10 µs a cell) buys nothing and costs ~100 ms a rebuild.
        super()._update_dimensions(())

    def _ensure_columns(self) -> None:
        # Rows may arrive before on_mount (the first load races the mounting of tabs).
        if not self.columns:
            for column in self.COLUMNS:
                self.add_column(column.label, width=column.width, key=column.key)

    # --- what subclasses say -----------------------------------------------------------

    def cells(self, row: R, now: datetime) -> tuple[Text, ...]:
        raise NotImplementedError

    def key_of(self, row: R) -> str:
        return row.key  # type: ignore[attr-defined]

    def shown(self, row: R) -> bool:
        """The tab's own filters (source, failed only, hidden statuses)."""
        return True

    def haystack(self, row: R) -> str:
        """The text ``/`` matches against."""
        return ""

    def ticking(self, row: R) -> bool:
        """Rows whose cells change with the clock (re-rendered by :meth:`tick`)."""
        return self.TICKS

    # --- reading the table -------------------------------------------------------------

    @property
    def current_sort(self) -> Sort:
        return self.SORTS[self.sort_index]

    @property
    def selected(self) -> R | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.model.get(key or "")

    def wanted(self, row: R) -> bool:
        if not self.shown(row):
            return False
        needle = self.filter_text.casefold()
        if not needle:
            return True
        key = self.key_of(row)
        cached = self._haystacks.get(key)
        if cached is None or cached[0] is not row:
            cached = self._haystacks[key] = (row, self.haystack(row).casefold())
        return needle in cached[1]

    def _ordered(self, rows: Iterable[R]) -> list[R]:
        sort = self.current_sort
        return sorted(rows, key=sort.key, reverse=sort.reverse)

    # --- changing it -------------------------------------------------------------------

    def rebuild(self) -> None:
        """Re-show the model after a filter or sort change, keeping the cursor's row."""
        self._ensure_columns()
        keep = self._cursor_key()
        now = self.clock()
        rows = self._ordered(row for row in self.model.values() if self.wanted(row))
        self.matching = {self.key_of(row) for row in rows}
        self.clear()
        self._cells = {}
        for row in rows[: self.MAX_ROWS]:
            key = self.key_of(row)
            self._cells[key] = cells = self.cells(row, now)
            self.add_row(*cells, key=key)
        self._restore_cursor(keep, scroll=True)

    def apply(self, rows: Iterable[R], *, rerender: Iterable[str] = ()) -> None:
        """Upsert ``rows`` into the model and the table; re-render keys in ``rerender``."""
        self._ensure_columns()
        now = self.clock()
        reorder = False
        touched = {self.key_of(row): row for row in rows}
        for key in rerender:
            if key in self.model and key not in touched:
                touched[key] = self.model[key]
        for key, row in touched.items():
            old = self.model.get(key)
            self.model[key] = row
            reorder |= self._show(key, row, now, old)
        if reorder:
            self._reorder()

    def drop(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.model.pop(key, None)
            self.matching.discard(key)
            if key in self._cells:
                del self._cells[key]
                self.remove_row(key)

    def tick(self) -> None:
        """Re-render the visible rows whose cells depend on the clock (durations, ages);
        rows scrolled out of view catch up at the next tick after they scroll in."""
        if not self.row_count:
            return
        now = self.clock()
        top = int(self.scroll_y)
        for index in range(top, min(self.row_count, top + self.size.height + 1)):
            key = self.coordinate_to_cell_key((index, 0)).row_key.value or ""
            row = self.model[key]
            if self.ticking(row):
                self._show(key, row, now, row)

    def _show(self, key: str, row: R, now: datetime, old: R | None) -> bool:
        """Bring one row of the table in line with the model; True when order may change."""
        want = self.wanted(row)
        present = key in self._cells
        if not want:
            self.matching.discard(key)
            if present:
                del self._cells[key]
                self.remove_row(key)
            return False
        self.matching.add(key)
        if not present:
            if len(self._cells) >= self.MAX_ROWS and not self._displaces_last(row):
                return False
            self._cells[key] = self.cells(row, now)
            self.add_row(*self._cells[key], key=key)
            return True
        cells = self.cells(row, now)
        before = self._cells[key]
        if cells != before:
            self._cells[key] = cells
            for column, new, was in zip(self.COLUMNS, cells, before):
                if new != was:
                    self.update_cell(key, column.key, new)
        return old is not None and self.current_sort.key(old) != self.current_sort.key(row)

    def _displaces_last(self, row: R) -> bool:
        """A full table takes a new row that sorts before its last row, dropping that one."""
        last_key = self.coordinate_to_cell_key((self.row_count - 1, 0)).row_key.value or ""
        sort = self.current_sort
        before = (sort.key(row) > sort.key(self.model[last_key])) if sort.reverse else (
            sort.key(row) < sort.key(self.model[last_key]))
        if before:
            del self._cells[last_key]
            self.remove_row(last_key)
        return before

    def _reorder(self) -> None:
        """Sort the rows by the model (DataTable.sort only sees cell values, not keys)."""
        keep = self._cursor_key()
        ordered = self._ordered(self.model[key] for key in self._cells)
        self._row_locations = TwoWayDict(
            {RowKey(self.key_of(row)): index for index, row in enumerate(ordered)})
        self._update_count += 1
        self.refresh()
        self._restore_cursor(keep, scroll=False)

    def _cursor_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def _restore_cursor(self, key: str | None, *, scroll: bool) -> None:
        if key is None or key not in self._cells:
            return
        index = self.get_row_index(key)
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False, scroll=scroll)

    def refilter(self) -> None:
        self.rebuild()


def dim(value: str | None, placeholder: str = "—") -> Text:
    """Literal text (never markup); a dim placeholder when empty."""
    if value is None or value == "":
        return Text(placeholder, style="dim")
    return Text(str(value))


def short_time(value: datetime | None) -> Text:
    if value is None:
        return Text("—", style="dim")
    return Text(value.strftime("%m-%d %H:%M"))


def duration(seconds: float | None, coarse: bool = False) -> Text:
    """``42s`` / ``3m05s`` / ``1h02m``; ``coarse`` (a running run) drops the seconds past
    a minute, so the cell changes once a minute instead of once a second."""
    if seconds is None:
        return Text("—", style="dim")
    seconds = max(0, int(seconds))
    if seconds < 60:
        return Text(f"{seconds}s")
    if coarse and seconds < 3600:
        return Text(f"{seconds // 60}m")
    if seconds < 3600:
        return Text(f"{seconds // 60}m{seconds % 60:02d}s")
    return Text(f"{seconds // 3600}h{seconds % 3600 // 60:02d}m")


def age(now: datetime, then: datetime | None) -> Text:
    if then is None:
        return Text("never", style="dim")
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 90:
        text = f"{seconds} s"
    elif seconds < 90 * 60:
        text = f"{round(seconds / 60)} min"
    elif seconds < 36 * 3600:
        text = f"{round(seconds / 3600)} h"
    else:
        text = f"{round(seconds / 86400)} days"
    return Text(text)
