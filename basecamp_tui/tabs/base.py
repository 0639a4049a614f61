"""A DataTable that follows a keyed model: rows are updated in place, never reloaded.

Each tab subclasses :class:`LiveTable` with its columns, how a row renders, which rows
it shows and how they sort. Live changes go through :meth:`LiveTable.apply` (update the
cells that differ, add or remove single rows); only a user's filter/sort change rebuilds
the table, and both keep the cursor on the same row key.

A table shows at most ``MAX_ROWS`` rows (the first ones in sort order); the status line
says how many match, and ``/`` narrows them down. A Textual DataTable holding 10,000
rows costs seconds per rebuild and hundreds of MB, a filter keystroke must cost < 100 ms.

What keeps a keystroke cheap: the model's sort order is kept between rebuilds (re-sorted
only when a row's place may have changed), ``/`` matches precomputed casefolded
haystacks, a row's cells are built once and reused while the row is the same object
(clock-driven rows for up to a second), the table's rows are replaced in one go instead
of ``clear()`` + 300 ``add_row``, and a cell renders through a short path that caches
the text's segments (DataTable's general path runs each cell through Rich's padding and
wrapping pipeline on every repaint).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, ClassVar, Generic, Iterable, TypeVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable
from textual.widgets._data_table import _EMPTY_TEXT
from textual.widgets.data_table import Row, RowKey

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
        """The cells of the rows in the table, by key."""
        self._built: dict[str, tuple[R, datetime, tuple[Text, ...]]] = {}
        """Cells built for a row (shown or not), reused while the row is the same object."""
        self._haystacks: dict[str, tuple[R, str]] = {}
        self._order: list[str] | None = None
        """The model's keys in the current sort order (None: to be sorted again)."""
        self._order_sort = self.sort_index
        self._row_keys: dict[str, RowKey] = {}
        self._segments: dict[tuple[int, int], tuple[Text, list[Segment]]] = {}
        """A cell's text rendered at a width, by (id of the Text, width)."""
        self.matching: set[str] = set()
        """Keys of the model rows that pass the filters (shown or beyond MAX_ROWS)."""
        self._stale_rows: set[RowKey] = set()
        """Rows whose cells changed since the last render (see ``update_cell``)."""

    def on_mount(self) -> None:
        self._ensure_columns()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Every column has a fixed width and every row is one line, so measuring each new
        # cell (DataTable's default, ~10 µs a cell) buys nothing and costs ~100 ms a rebuild.
        super()._update_dimensions(())

    def update_cell(self, row_key: RowKey | str, column_key: Any, value: Any, *,
                    update_width: bool = False) -> None:
        """DataTable's ``update_cell`` without re-rendering the whole table: it bumps
        the update count every render cache is keyed on; here only the changed row's
        cached renders are dropped (at the next render) and only its line repainted."""
        key = RowKey(row_key) if isinstance(row_key, str) else row_key
        index = self._row_locations.get(key)
        if update_width or index is None or column_key not in self.columns:
            super().update_cell(row_key, column_key, value, update_width=update_width)
            return
        self._data[key][column_key] = value
        self._stale_rows.add(key)
        self.refresh_row(index)

    def render_lines(self, crop: Any) -> list[Any]:
        if self._stale_rows:
            self._forget_stale_rows()
        return super().render_lines(crop)

    def _forget_stale_rows(self) -> None:
        stale, self._stale_rows = self._stale_rows, set()
        header = self.header_height if self.show_header else 0
        lines = {header + index for key in stale
                 if (index := self._row_locations.get(key)) is not None}
        for cache, matches in ((self._cell_render_cache, lambda k: k[0] in stale),
                               (self._row_render_cache, lambda k: k[0] in stale),
                               (self._line_cache, lambda k: k[0] in lines)):
            for cache_key in [k for k in cache.keys() if matches(k)]:
                cache.discard(cache_key)
        self._row_renderable_cache.clear()

    def notify_style_update(self) -> None:
        self._segments.clear()
        super().notify_style_update()

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> list[list[Segment]]:
        """DataTable's ``_render_cell`` for a one-line Text body cell, with the same result:
        the text rendered at the column's width (cached per Text object) between the
        padding, under the row's and the cursor's styles. Anything else (the header,
        row labels, fixed cells, other cell types) goes through DataTable's path."""
        padding = self.cell_padding
        if row_index < 0 or column_index < 0 or self.fixed_rows or self.fixed_columns or (
                width <= 2 * padding):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        cache_key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor,
                     self._update_count, self._pseudo_class_state)
        cache = self._cell_render_cache
        lines = cache.get(cache_key)
        if lines is not None:
            return lines
        row = self.rows.get(row_key)  # type: ignore[arg-type]
        cell = self._data[row_key].get(column_key) if row is not None else None  # type: ignore[index]
        if type(cell) is not Text or row.height != 1:  # type: ignore[union-attr]
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        if not cell:
            cell = _EMPTY_TEXT  # as DataTable does with an empty cell
        inner = width - 2 * padding
        console = self.app.console
        cached = self._segments.get((id(cell), inner))
        if cached is None or cached[0] is not cell:
            if len(self._segments) > 20_000:
                self._segments.clear()
            # What rich.padding.Padding renders between its pads, for a one-line cell.
            options = self.app.console_options.update_dimensions(width, 1).update(
                no_wrap=True).update_width(inner).update_height(1)
            none = console.get_style("none")
            text_line = console.render_lines(cell, options, style=none, pad=True)[0]
            pad = Segment(" " * padding, none)
            cached = (cell, [pad, *text_line, pad])
            self._segments[(id(cell), inner)] = cached
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        # textual.renderables.styled.Styled: pre_style + segment style + post_style.
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index})
        pre_style = pre_style + component_style
        line = []
        for text, style, control in cached[1]:
            if pre_style:
                style = pre_style + style
            if post_style:
                style = style + post_style if style else post_style
            line.append(Segment(text, style, control))
        lines = [line]
        cache[cache_key] = lines
        return lines

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
        return not needle or needle in self._haystack_of(self.key_of(row), row)

    def _haystack_of(self, key: str, row: R) -> str:
        cached = self._haystacks.get(key)
        if cached is None or cached[0] is not row:
            cached = self._haystacks[key] = (row, self.haystack(row).casefold())
        return cached[1]

    def _ordered(self, rows: Iterable[R]) -> list[R]:
        sort = self.current_sort
        return sorted(rows, key=sort.key, reverse=sort.reverse)

    def _sorted_keys(self) -> list[str]:
        """Every model key in sort order, kept until a row's place may change."""
        if self._order is None or self._order_sort != self.sort_index or (
                len(self._order) != len(self.model)):
            self._order = [self.key_of(row) for row in self._ordered(self.model.values())]
            self._order_sort = self.sort_index
        return self._order

    def _cells_of(self, key: str, row: R, now: datetime) -> tuple[Text, ...]:
        """The row's cells, built again only when the row changed (or, for a row that
        follows the clock, when they are a second old)."""
        built = self._built.get(key)
        if built is not None and built[0] is row and (
                not self.ticking(row) or 0 <= (now - built[1]).total_seconds() < 1):
            return built[2]
        cells = self.cells(row, now)
        self._built[key] = (row, now, cells)
        return cells

    def warm(self) -> None:
        """Build what ``/`` matches for every row now (~30 ms for 10,000 rows), when the
        filter opens, rather than on its first keystroke."""
        for key, row in self.model.items():
            self._haystack_of(key, row)

    def invalidate(self, keys: Iterable[str] | None = None) -> None:
        """Forget what was derived from these rows (all when None): their cells, what
        ``/`` matches and their place in the order. Call after changing what ``cells``,
        ``haystack`` or a sort depends on besides the row itself."""
        if keys is None:
            self._built.clear()
            self._haystacks.clear()
        else:
            for key in keys:
                self._built.pop(key, None)
                self._haystacks.pop(key, None)
        self._order = None

    # --- changing it -------------------------------------------------------------------

    def load(self, rows: Iterable[R]) -> None:
        """Replace the whole model (the first load) and show it."""
        self.model = {self.key_of(row): row for row in rows}
        self.invalidate()
        self.rebuild()

    def rebuild(self) -> None:
        """Re-show the model after a filter or sort change, keeping the cursor's row."""
        self._ensure_columns()
        keep = self._cursor_key()
        now = self.clock()
        model, shown = self.model, self.shown
        needle = self.filter_text.casefold()
        haystacks, haystack_of = self._haystacks, self._haystack_of
        keys = []
        for key in self._sorted_keys():
            row = model[key]
            if not shown(row):
                continue
            if needle:
                cached = haystacks.get(key)
                hay = cached[1] if cached is not None and cached[0] is row else haystack_of(key, row)
                if needle not in hay:
                    continue
            keys.append(key)
        self.matching = set(keys)
        self._cells = {key: self._cells_of(key, model[key], now) for key in keys[: self.MAX_ROWS]}
        self._replace_rows()
        self._restore_cursor(keep, scroll=True)

    def _replace_rows(self) -> None:
        """Show the rows of ``_cells`` (in its order) in one go: what ``clear()`` and an
        ``add_row`` per row do, without the per-row bookkeeping."""
        self.clear()
        columns = [column.key for column in self.ordered_columns]
        row_keys = self._row_keys
        locations = {}
        for index, (key, cells) in enumerate(self._cells.items()):
            row_key = row_keys.get(key)
            if row_key is None:
                row_key = row_keys[key] = RowKey(key)
            locations[row_key] = index
            self._data[row_key] = dict(zip(columns, cells))
            self.rows[row_key] = Row(row_key, 1, None, False)
        if len(row_keys) > 4 * len(self.model) + 1000:
            self._row_keys = {key: row_keys[key] for key in self._cells}
        self._row_locations = TwoWayDict(locations)
        self._update_count += 1
        # The virtual size now rather than on idle: the frame that shows the new rows is
        # then laid out once, instead of painted and then laid out and painted again.
        self._require_update_dimensions = False
        self._update_dimensions(())
        if self.rows:
            self.cursor_coordinate = self.cursor_coordinate
            if self.show_cursor and self.cursor_type != "none":
                self._highlight_cursor()
        self.check_idle()

    def apply(self, rows: Iterable[R], *, rerender: Iterable[str] = ()) -> None:
        """Upsert ``rows`` into the model and the table; re-render keys in ``rerender``."""
        self._ensure_columns()
        now = self.clock()
        reorder = False
        touched = {self.key_of(row): row for row in rows}
        for key in rerender:
            if key in self.model and key not in touched:
                touched[key] = self.model[key]
                self._built.pop(key, None)  # same row, what its cells depend on changed
                self._haystacks.pop(key, None)
        sort_key = self.current_sort.key
        for key, row in touched.items():
            old = self.model.get(key)
            self.model[key] = row
            if self._order is not None and (old is None or sort_key(old) != sort_key(row)):
                self._order = None
            reorder |= self._show(key, row, now, old)
        if reorder:
            self._reorder()

    def drop(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.model.pop(key, None)
            self.matching.discard(key)
            self._built.pop(key, None)
            self._haystacks.pop(key, None)
            self._order = None
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
                self._built.pop(key, None)
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
            self._cells[key] = self._cells_of(key, row, now)
            self.add_row(*self._cells[key], key=key)
            return True
        cells = self._cells_of(key, row, now)
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
