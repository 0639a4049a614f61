"""The tabs' table: a Line API widget over a :class:`~basecamp_tui.table_model.TableModel`.

Each tab subclasses :class:`LiveTable` with its columns, how a row renders, which rows
it shows and how they sort. Live changes go through :meth:`LiveTable.apply` (the model
moves or re-renders single rows and says which lines to repaint); a user's filter/sort
change goes through :meth:`LiveTable.rebuild`. Both keep the cursor on the same row key;
a live change also keeps the scroll position, a rebuild scrolls the cursor into view.

A table shows at most ``MAX_ROWS`` rows (the first ones in sort order); the status line
says how many match, and ``/`` narrows them down.

Why not ``DataTable``: it keeps its own copy of every row and renders cells through
Rich's padding pipeline, so keeping it fast took patching its internals. Here the model
is the only copy; a painted line is the row's cells rendered once per cells object
(each cell at its column's width, cropped with an ellipsis), styled for its place
(cursor, zebra stripe) and cropped to the scroll position, all cached per row.
Everything used is Textual's public API: ``ScrollView``, ``render_line`` / ``Strip``,
component classes, bindings and messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, ClassVar, Generic, Iterable, TypeVar

from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from basecamp_tui.table_model import Change, Column, Sort, TableModel

__all__ = ["Column", "LiveTable", "Sort"]

R = TypeVar("R")
PADDING = 1
"""Blank cells either side of a column's text, as DataTable's ``cell_padding``."""
HEADER = 1
"""Lines above the rows (the column labels); they do not scroll vertically."""


class LiveTable(ScrollView, Generic[R], can_focus=True):
    """A tab's table. Subclasses set COLUMNS and SORTS and implement ``cells``."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    SORTS: ClassVar[tuple[Sort, ...]] = ()
    MAX_ROWS: ClassVar[int] = 300
    TICKS: ClassVar[bool] = False
    """Whether cells depend on the clock (durations, ages) and are re-rendered each tick."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Open", show=False, tooltip="Open the row's detail"),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "scroll_top", "First row", show=False),
        Binding("end,ctrl+end", "scroll_bottom", "Last row", show=False),
    ]
    """As DataTable's with a row cursor; home/end go to the first/last row (left/right
    scroll sideways, from ScrollView)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "livetable--header", "livetable--cursor", "livetable--even-row", "livetable--odd-row",
        "livetable--selected",
    }
    DEFAULT_CSS = """
    LiveTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .livetable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .livetable--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark > .livetable--even-row {
            background: $surface-darken-1 40%;
        }
        & > .livetable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .livetable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .livetable--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .livetable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .livetable--selected {
            background: $accent 30%;
            text-style: bold;
        }
    }
    """
    """DataTable's look (its default CSS, for the parts a row table uses)."""

    @dataclass
    class RowHighlighted(Message):
        """The cursor moved onto another row (by a key, a click or a live change)."""

        table: "LiveTable[Any]"
        row_key: str
        cursor_row: int

        @property
        def control(self) -> "LiveTable[Any]":
            return self.table

    @dataclass
    class RowSelected(Message):
        """Enter on a row, or a click on the cursor's row."""

        table: "LiveTable[Any]"
        row_key: str
        cursor_row: int

        @property
        def control(self) -> "LiveTable[Any]":
            return self.table

    def __init__(self, clock: Callable[[], datetime], *, zebra_stripes: bool = False,
                 name: str | None = None, id: str | None = None, classes: str | None = None,
                 disabled: bool = False) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.clock = clock
        self.zebra_stripes = zebra_stripes
        self.table_model: TableModel[R, tuple[Text, ...]] = TableModel(
            sorts=self.SORTS, cells=self.cells, clock=clock, key_of=self.key_of,
            shown=self.shown, haystack=self.haystack, ticking=self.ticking,
            max_rows=self.MAX_ROWS)
        # Own state has double-underscore (name-mangled) names: a Widget subclass must
        # not collide with Textual's private attributes, which change between releases.
        self.__cursor = 0
        self.__cursor_key: str | None = None
        """The key of the row under the cursor: where the cursor goes back to."""
        self.__shown_columns: tuple[int, ...] = tuple(range(len(self.COLUMNS)))
        """The columns that fit the width (see :meth:`fit_columns`), by index."""
        self.__table_width = sum(column.width + 2 * PADDING for column in self.COLUMNS)
        self.__column_meta = [Style.from_meta({"column": i}) for i in range(len(self.COLUMNS))]
        self.__styles: tuple[Any, ...] = ()
        self.__cell_options: dict[int, ConsoleOptions] = {}
        self.__header: tuple[tuple[Any, ...], Strip] | None = None
        self.__row_strips: LRUCache[str, tuple[tuple[Text, ...], Strip]] = LRUCache(2048)
        """A row's cells rendered side by side, unstyled and uncropped, by key."""
        self.__lines: LRUCache[str, tuple[tuple[Text, ...], tuple[Any, ...], Strip]] = LRUCache(512)
        """A row's painted line (styled, cropped), by key."""
        self.__empty: list[str] = []
        self.__selection: set[str] = set()
        self.virtual_size = Size(self.__table_width, HEADER)

    @property
    def shown_columns(self) -> list[str]:
        """The keys of the columns on screen."""
        return [self.COLUMNS[index].key for index in self.__shown_columns]

    def on_resize(self) -> None:
        self.fit_columns(self.size.width)

    def fit_columns(self, width: int) -> None:
        """Drop the least needed columns (highest ``Column.drop``, rightmost first) until
        the table fits ``width`` cells, so it never scrolls sideways when it can help it."""
        shown = list(range(len(self.COLUMNS)))

        def total() -> int:
            return sum(self.COLUMNS[i].width + 2 * PADDING for i in shown)

        droppable = sorted((i for i in shown if self.COLUMNS[i].drop),
                           key=lambda i: (self.COLUMNS[i].drop, i), reverse=True)
        for index in droppable:
            if total() <= width:
                break
            shown.remove(index)
        if tuple(shown) == self.__shown_columns:
            return
        self.__shown_columns = tuple(shown)
        self.__table_width = total()
        self.__header = None
        self.__row_strips.clear()
        self.__lines.clear()
        self.virtual_size = Size(self.__table_width, HEADER + self.row_count)
        self.refresh()

    @property
    def empty_message(self) -> str:
        """What the table says while it has no rows: why, and what to do next."""
        return "\n".join(self.__empty)

    @empty_message.setter
    def empty_message(self, text: str) -> None:
        lines = text.splitlines()
        if lines != self.__empty:
            self.__empty = lines
            self.refresh()

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

    # --- the model's state, as the tabs and the screen use it --------------------------

    @property
    def model(self) -> dict[str, R]:
        """Every row of the tab by key (shown or not)."""
        return self.table_model.rows

    @property
    def matching(self) -> set[str]:
        """Keys of the rows that pass the filters (shown or beyond MAX_ROWS)."""
        return self.table_model.matching

    @property
    def filter_text(self) -> str:
        return self.table_model.filter_text

    @filter_text.setter
    def filter_text(self, value: str) -> None:
        self.table_model.filter_text = value

    @property
    def failed_only(self) -> bool:
        return self.table_model.failed_only

    @failed_only.setter
    def failed_only(self, value: bool) -> None:
        self.table_model.failed_only = value

    @property
    def sort_index(self) -> int:
        return self.table_model.sort_index

    @sort_index.setter
    def sort_index(self, value: int) -> None:
        self.table_model.sort_index = value

    @property
    def current_sort(self) -> Sort:
        return self.table_model.current_sort

    # --- reading the table -------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.table_model.window)

    @property
    def row_keys(self) -> list[str]:
        """The keys of the rows shown, top to bottom."""
        return list(self.table_model.window)

    @property
    def cursor_row(self) -> int:
        return self.__cursor

    @property
    def cursor_key(self) -> str | None:
        return self.__cursor_key if self.row_count else None

    @property
    def selected(self) -> R | None:
        key = self.cursor_key
        return None if key is None else self.model.get(key)

    # --- selecting rows for one action on many -------------------------------------------

    @property
    def selection(self) -> list[R]:
        """The rows picked with ``space`` (or ``ctrl+a``) that are still in the table."""
        return [self.model[key] for key in sorted(self.__selection) if key in self.model]

    def toggle_selected(self) -> None:
        """Pick or drop the cursor's row, and move the cursor on (as flowrs' ``V``)."""
        key = self.cursor_key
        if key is None:
            return
        self.__selection ^= {key}
        self.__repaint([key])
        self.action_cursor_down()

    def select_matching(self) -> None:
        """Pick every row the filters let through (shown or beyond the window)."""
        self.__selection = set(self.matching)
        self.__repaint(None)

    def clear_selection(self) -> None:
        if self.__selection:
            keys = list(self.__selection)
            self.__selection.clear()
            self.__repaint(keys)

    def __repaint(self, keys: list[str] | None) -> None:
        if keys is None:
            self.__lines.clear()
        else:
            for key in keys:
                self.__lines.discard(key)
        self.refresh()

    def row_key_at(self, index: int) -> str:
        return self.table_model.key_at(index)

    def get_row_index(self, row_key: str) -> int:
        index = self.table_model.index_of(row_key)
        if index is None:
            raise KeyError(f"row {row_key!r} is not shown")
        return index

    def get_cell(self, row_key: str, column_key: str) -> Text:
        """What a row shows (or would show) in a column."""
        for index, column in enumerate(self.COLUMNS):
            if column.key == column_key:
                return self.table_model.cells_of(row_key)[index]
        raise KeyError(f"no column {column_key!r}")

    # --- changing it -------------------------------------------------------------------

    def load(self, rows: Iterable[R]) -> None:
        """Replace the whole model (the first load) and show it."""
        self.table_model.load(rows)
        self.__window_changed(scroll=True)

    def rebuild(self, *, filter_only: bool = False) -> None:
        """Re-show the model after a filter or sort change, keeping the cursor's row
        (``filter_only``: see :meth:`TableModel.rebuild`)."""
        self.table_model.rebuild(filter_only=filter_only)
        self.__window_changed(scroll=True)

    def apply(self, rows: Iterable[R], *, rerender: Iterable[str] = ()) -> None:
        """Upsert ``rows`` into the model and the table; re-render keys in ``rerender``."""
        self.__show(self.table_model.apply(rows, rerender=rerender))

    def drop(self, keys: Iterable[str]) -> None:
        self.__show(self.table_model.drop(keys))

    def redraw(self, keys: Iterable[str]) -> None:
        """Repaint these rows' cells, when only what ``cells`` reads besides the row
        changed (see :meth:`TableModel.redraw`)."""
        self.__show(self.table_model.redraw(keys))

    def tick(self) -> None:
        """Re-render the visible rows whose cells depend on the clock (durations, ages);
        rows scrolled out of view catch up when they are painted again."""
        if not self.row_count:
            return
        top = round(self.scroll_y)
        visible = self.table_model.window[top: top + self.__page() + 1]
        self.__show(Change(updated=set(self.table_model.tick(visible))))

    def warm(self) -> None:
        """Build what ``/`` matches for every row now, when the filter opens."""
        self.table_model.warm()

    def invalidate(self, keys: Iterable[str] | None = None) -> None:
        """Forget what was derived from these rows (all when None); see
        :meth:`TableModel.invalidate`. Call :meth:`rebuild` after it."""
        self.table_model.invalidate(keys)

    def __show(self, change: Change) -> None:
        if change.moved:
            self.__window_changed(scroll=False)
            return
        index_of = self.table_model.index_of
        for key in change.updated:
            index = index_of(key)
            if index is not None:
                self.refresh_line(HEADER + index)

    def __window_changed(self, *, scroll: bool) -> None:
        """The window's rows changed: size, cursor (back on its key) and a full repaint."""
        self.virtual_size = Size(self.__table_width, HEADER + self.row_count)
        index = self.table_model.cursor_index(self.__cursor_key, self.__cursor)
        self.__set_cursor(0 if index is None else index, scroll=scroll)
        self.refresh()

    # --- the cursor --------------------------------------------------------------------

    def move_cursor(self, *, row: int | None = None, animate: bool = False,
                    scroll: bool = True) -> None:
        """Put the cursor on a row (DataTable's signature, rows only)."""
        if row is not None:
            self.__set_cursor(row, scroll=scroll, animate=animate)

    def __set_cursor(self, index: int, *, scroll: bool, animate: bool = False) -> None:
        window = self.table_model.window
        if not window:
            self.__cursor, self.__cursor_key = 0, None
            return
        index = min(max(index, 0), len(window) - 1)
        if index != self.__cursor:
            self.refresh_line(HEADER + self.__cursor)
            self.refresh_line(HEADER + index)
            self.__cursor = index
        if window[index] != self.__cursor_key:
            self.__cursor_key = window[index]
            self.post_message(self.RowHighlighted(self, window[index], index))
        if scroll:
            self.__scroll_to_cursor(animate)

    def __page(self) -> int:
        """Rows that fit below the header."""
        height = self.scrollable_content_region.height or self.size.height
        return max(1, height - HEADER)

    def __scroll_to_cursor(self, animate: bool = False) -> None:
        if not self.size.height:
            return  # not laid out yet: scroll_y is 0 and stays valid
        top, page = round(self.scroll_y), self.__page()
        if self.__cursor < top:
            self.scroll_to(y=self.__cursor, animate=animate, force=True)
        elif self.__cursor >= top + page:
            self.scroll_to(y=self.__cursor - page + 1, animate=animate, force=True)

    def action_cursor_up(self) -> None:
        self.__set_cursor(self.__cursor - 1, scroll=True)

    def action_cursor_down(self) -> None:
        self.__set_cursor(self.__cursor + 1, scroll=True)

    def action_page_up(self) -> None:
        page = self.__page()
        self.scroll_to(y=max(0, self.scroll_y - page), animate=False, force=True)
        self.__set_cursor(self.__cursor - page, scroll=True)

    def action_page_down(self) -> None:
        page = self.__page()
        self.scroll_to(y=self.scroll_y + page, animate=False, force=True)
        self.__set_cursor(self.__cursor + page, scroll=True)

    def action_scroll_top(self) -> None:
        self.__set_cursor(0, scroll=True)

    def action_scroll_bottom(self) -> None:
        self.__set_cursor(self.row_count - 1, scroll=True)

    def action_select_cursor(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowSelected(self, key, self.__cursor))

    def on_click(self, event: events.Click) -> None:
        """A click moves the cursor; a click on the cursor's row selects it."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y < HEADER:
            return
        index = round(self.scroll_y) + offset.y - HEADER
        if index >= self.row_count:
            return
        event.stop()
        if index == self.__cursor:
            self.action_select_cursor()
        else:
            self.__set_cursor(index, scroll=True)

    # --- painting ----------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.__styles = ()

    def render_lines(self, crop: Region) -> list[Strip]:
        self.__check_styles()
        return super().render_lines(crop)

    def __check_styles(self) -> None:
        styles = (self.rich_style, self.get_component_rich_style("livetable--header"),
                  self.get_component_rich_style("livetable--cursor"),
                  self.get_component_rich_style("livetable--even-row"),
                  self.get_component_rich_style("livetable--odd-row"), self.zebra_stripes,
                  self.get_component_rich_style("livetable--selected"))
        if styles != self.__styles:
            # A theme, focus (cursor colour) or zebra change: paint every line anew.
            self.__styles = styles
            self.__header = None
            self.__lines.clear()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        if not self.__styles:
            self.__check_styles()
        if y < HEADER:
            return self.__header_line(scroll_x, width)
        index = scroll_y + y - HEADER
        window = self.table_model.window
        if not window and self.__empty and 1 <= y - HEADER <= len(self.__empty):
            line = self.__empty[y - HEADER - 1]
            text = Strip([Segment(f"  {line}", self.__styles[0] + Style(dim=True))])
            return text.crop_extend(0, width, self.__styles[0])
        if index >= len(window):
            return Strip.blank(width, self.__styles[0])
        key = window[index]
        cells = self.table_model.cells_of(key)
        place = (index == self.__cursor, index % 2 if self.__styles[5] else -1, scroll_x, width,
                 key in self.__selection)
        cached = self.__lines.get(key)
        if cached is not None and cached[0] is cells and cached[1] == place:
            return cached[2]
        base, _, cursor_style, even, odd, _, selected_style = self.__styles
        row_style = base if place[1] < 0 else (odd if place[1] else even)
        if place[4]:
            row_style = row_style + selected_style
        post = None
        if place[0]:
            row_style = row_style + cursor_style
            # The cursor's colour over the cells' own (DataTable's cursor_foreground_priority).
            post = Style.from_color(color=cursor_style.color)
        strip = self.__row_strip(key, cells)
        styled = Strip(list(Segment.apply_style(strip, row_style, post)), strip.cell_length)
        line = styled.crop_extend(scroll_x, scroll_x + width, row_style)
        self.__lines[key] = (cells, place, line)
        return line

    def __header_line(self, scroll_x: int, width: int) -> Strip:
        place = (scroll_x, width)
        if self.__header is None or self.__header[0] != place:
            header_style = self.__styles[1]
            labels = self.__render_cells(tuple(Text(column.label) for column in self.COLUMNS))
            styled = Strip(list(Segment.apply_style(labels, header_style)), labels.cell_length)
            self.__header = (place, styled.crop_extend(scroll_x, scroll_x + width, header_style))
        return self.__header[1]

    def __row_strip(self, key: str, cells: tuple[Text, ...]) -> Strip:
        cached = self.__row_strips.get(key)
        if cached is not None and cached[0] is cells:
            return cached[1]
        strip = self.__render_cells(cells)
        self.__row_strips[key] = (cells, strip)
        return strip

    def __render_cells(self, cells: tuple[Text, ...]) -> Strip:
        """The shown columns' cells side by side, each cropped or padded to its column's
        width (text is never parsed as markup: cells are Text)."""
        console = self.app.console
        pad = Segment(" " * PADDING)
        segments: list[Segment] = []
        for index in self.__shown_columns:
            column, cell = self.COLUMNS[index], cells[index]
            # The column in each segment's meta keeps cells apart (neighbours with the
            # same style would be merged into one run of text, which SVG viewers that
            # ignore textLength, e.g. rsvg, then draw out of their columns).
            segments.extend(Segment.apply_style(
                [pad, *self.__render_cell(console, cell, column.width), pad],
                self.__column_meta[index]))
        return Strip(segments, self.__table_width)

    def __render_cell(self, console: Console, cell: Text, width: int) -> list[Segment]:
        """One line of ``cell`` at exactly ``width`` cells: cropped with an ellipsis or
        padded. A plain one-line left-aligned Text (every cell of the tabs) takes a short
        path, ~10x faster than Rich's wrapping pipeline and with the same result."""
        if "\n" in cell.plain or "\t" in cell.plain or cell.justify in ("center", "right", "full"):
            options = self.__cell_options.get(width)
            if options is None:
                options = self.__cell_options[width] = console.options.update(
                    width=width, height=1, no_wrap=True, overflow="ellipsis",
                    highlight=False, markup=False)
            return console.render_lines(cell, options, pad=True)[0]
        text = cell.copy()
        text.truncate(width, overflow=cell.overflow or "ellipsis")
        if text.spans:
            segments = list(text.render(console))
        else:
            segments = [Segment(text.plain, console.get_style(text.style) if text.style else None)]
        if text.cell_len < width:
            segments.append(Segment(" " * (width - text.cell_len)))
        return segments
