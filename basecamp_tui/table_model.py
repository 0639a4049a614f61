"""What a dashboard table shows, without Textual: keyed rows, filtered, sorted, windowed.

:class:`TableModel` holds a tab's rows by key and derives what the widget
(``basecamp_tui.tabs.base.LiveTable``) draws: the keys that pass the filters
(``matching``), and the first ``max_rows`` of them in sort order (``window``). The
widget only asks for the window's keys and the cells of the rows it paints.

Cheap on purpose, since a filter keystroke on 10,000 rows must cost well under 100 ms:

* the whole model's sort order is kept between rebuilds and maintained in place (a
  changed row is moved with a binary search), so it is sorted again only when the sort
  changes or :meth:`TableModel.invalidate` is called;
* ``/`` matches a casefolded haystack computed once per row object;
* cells are built when a row is painted, once per row object (a clock-driven row at
  most once a second, see :meth:`TableModel.tick`), not for every row of the window;
* :meth:`TableModel.apply` returns what the widget must repaint: the lines of the rows
  whose cells changed, or the whole window when its keys or their order changed.

Rows are ordered by their sort key, ties by row key, so the order is the same whether
it was built in one sort or row by row.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field
from datetime import datetime
from functools import total_ordering
from itertools import islice
from typing import Any, Callable, Generic, Iterable, Sequence, TypeVar

R = TypeVar("R")
C = TypeVar("C")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int
    drop: int = 0
    """When the table is wider than the screen, columns with the highest ``drop`` go
    first (0: always shown)."""


@dataclass(frozen=True)
class Sort:
    label: str
    key: Callable[[Any], Any]
    reverse: bool = False


@total_ordering
class _Descending:
    """A sort key that orders the other way round (for ``Sort.reverse``)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    def __lt__(self, other: "_Descending") -> bool:
        return other.value < self.value

    def __hash__(self) -> int:
        return hash(self.value)


@dataclass
class Change:
    """What an update did to the window, i.e. what the widget must repaint."""

    moved: bool = False
    """The window's keys or their order changed: repaint it all, find the cursor again."""
    updated: set[str] = field(default_factory=set)
    """Keys of window rows whose cells changed (meaningful when not ``moved``)."""

    def __bool__(self) -> bool:
        return self.moved or bool(self.updated)


class TableModel(Generic[R, C]):
    """A keyed collection of rows and the window of them a table shows.

    The callables say what the rows are: ``key_of`` (a row's key), ``cells`` (what the
    row shows, given the time), ``shown`` (the tab's own filters, e.g. "failed only"),
    ``haystack`` (the text ``/`` matches) and ``ticking`` (whether a row's cells follow
    the clock). ``cells`` must be a function of the row and the time alone, and the
    others of the row alone, until :meth:`invalidate` is called for the rows concerned
    (``apply(..., rerender=...)`` does it for a few).
    """

    BUILT_LIMIT = 4000
    """Rows whose cells are kept beyond the window's (cells built while filtering)."""

    def __init__(self, *, sorts: Sequence[Sort], cells: Callable[[R, datetime], C],
                 clock: Callable[[], datetime], key_of: Callable[[R], str],
                 shown: Callable[[R], bool] = lambda row: True,
                 haystack: Callable[[R], str] = lambda row: "",
                 ticking: Callable[[R], bool] = lambda row: False, max_rows: int = 300) -> None:
        if not sorts:
            raise ValueError("a table needs at least one sort")
        self.sorts = tuple(sorts)
        self.clock = clock
        self.max_rows = max_rows
        self._cells, self._key_of, self._shown = cells, key_of, shown
        self._haystack_fn, self._ticking = haystack, ticking
        self.rows: dict[str, R] = {}
        self.filter_text = ""
        self.failed_only = False
        """Read by the tab's ``shown`` (the model only keeps it)."""
        self.sort_index = 0
        self.matching: set[str] = set()
        """Keys of the rows that pass the filters, in the window or beyond it."""
        self.window: list[str] = []
        """The first ``max_rows`` matching keys in sort order: the rows the table shows."""
        self._index: dict[str, int] = {}
        self._order: list[str] | None = None
        """Every key in sort order (None: to be sorted again)."""
        self._order_sort = 0
        self._haystacks: dict[str, tuple[R, str]] = {}
        self._built: dict[str, tuple[R, datetime, C]] = {}
        self._filtered: dict[str, list[str]] = {}
        """The matching keys in order by filter text, while only the filter text changes
        (typing on narrows what a shorter text matched; deleting finds it again)."""

    # --- reading -------------------------------------------------------------------------

    @property
    def current_sort(self) -> Sort:
        return self.sorts[self.sort_index]

    def index_of(self, key: str) -> int | None:
        """The window position of ``key`` (None when the row is not shown)."""
        return self._index.get(key)

    def key_at(self, index: int) -> str:
        return self.window[index]

    def wanted(self, row: R) -> bool:
        """Whether a row passes the tab's filters and ``/``."""
        if not self._shown(row):
            return False
        needle = self.filter_text.casefold()
        return not needle or needle in self.haystack_of(self._key_of(row), row)

    def haystack_of(self, key: str, row: R) -> str:
        cached = self._haystacks.get(key)
        if cached is None or cached[0] is not row:
            cached = self._haystacks[key] = (row, self._haystack_fn(row).casefold())
        return cached[1]

    def cells_of(self, key: str, now: datetime | None = None) -> C:
        """A row's cells, built again only when the row changed (or, for a row that
        follows the clock, when they are a second old); equal cells keep their object,
        so what the widget cached for them stays valid."""
        now = self.clock() if now is None else now
        row = self.rows[key]
        built = self._built.get(key)
        if built is not None and built[0] is row and (
                not self._ticking(row) or 0 <= (now - built[1]).total_seconds() < 1):
            return built[2]
        cells = self._cells(row, now)
        if built is not None and built[2] == cells:
            cells = built[2]
        self._remember(key, row, now, cells)
        return cells

    def cursor_index(self, key: str | None, fallback: int) -> int | None:
        """Where the cursor goes after the window changed: onto the row it was on, else
        the same position (within the window); None for an empty window."""
        if not self.window:
            return None
        if key is not None and key in self._index:
            return self._index[key]
        return min(max(fallback, 0), len(self.window) - 1)

    # --- changing ------------------------------------------------------------------------

    def load(self, rows: Iterable[R]) -> None:
        """Replace every row (the first load) and rebuild."""
        self.rows = {self._key_of(row): row for row in rows}
        self.invalidate()
        self.rebuild()

    def rebuild(self, *, filter_only: bool = False) -> None:
        """Filter and window the rows again, after a filter or sort change (or a change
        to what ``shown`` reads besides the row). ``filter_only``: nothing but the filter
        text changed since the last rebuild, so what a text within it matched is reused."""
        if not filter_only or len(self._filtered) > 64:
            self._filtered.clear()
        needle = self.filter_text.casefold()
        matching = self._filtered.get(needle)
        if matching is None:
            within = max((known for known in self._filtered if known in needle), key=len,
                         default=None)
            if within is None:
                matching = self._matching(needle)
            else:
                rows, haystacks = self.rows, self._haystacks
                matching = []
                for key in self._filtered[within]:
                    cached = haystacks.get(key)
                    if cached is None or cached[0] is not rows[key]:
                        cached = (rows[key], self.haystack_of(key, rows[key]))
                    if needle in cached[1]:
                        matching.append(key)
            self._filtered[needle] = matching
        self.matching = set(matching)
        self._set_window(matching[: self.max_rows])

    def _matching(self, needle: str) -> list[str]:
        """The keys of the rows that pass the filters and contain ``needle``, in order."""
        order = self._sorted()
        rows, shown, haystacks = self.rows, self._shown, self._haystacks
        if not needle:
            matching = [key for key in order if shown(rows[key])]
        else:
            # The needle first: a substring test is cheaper than the tab's predicate and
            # rules most rows out once a few letters are typed.
            matching = []
            for key in order:
                row = rows[key]
                cached = haystacks.get(key)
                hay = cached[1] if cached is not None and cached[0] is row else \
                    self.haystack_of(key, row)
                if needle in hay and shown(row):
                    matching.append(key)
        return matching

    def apply(self, rows: Iterable[R], *, rerender: Iterable[str] = ()) -> Change:
        """Upsert ``rows``; build again what was derived from the rows in ``rerender``
        (their cells and haystacks; call it when what ``cells``, ``haystack`` or
        ``shown`` read besides the row changed). Returns what the window needs."""
        touched = {self._key_of(row): row for row in rows}
        for key in rerender:
            if key in self.rows and key not in touched:
                touched[key] = self.rows[key]
                self._built.pop(key, None)
                self._haystacks.pop(key, None)
        if not touched:
            return Change()
        self._filtered.clear()
        order = self._sorted()
        before = set(self._index)
        affects = False
        for key, row in touched.items():
            old = self.rows.get(key)
            self._place(order, key, old, row)
            if self.wanted(row):
                self.matching.add(key)
                affects = affects or key in before or self._may_enter(key)
            else:
                self.matching.discard(key)
                affects = affects or key in before
        change = Change()
        if affects:
            change.moved = self._refresh_window()
        if not change.moved:
            when = self.clock()
            for key in touched:
                if key in self._index and self._rebuilt(key, when):
                    change.updated.add(key)
        return change

    def redraw(self, keys: Iterable[str]) -> Change:
        """Build the cells of these rows again: what ``cells`` reads besides the row
        changed, and nothing that ``shown``, ``haystack`` or a sort reads, so the order,
        the window and what ``/`` matches stay (cheaper than ``apply(rerender=...)``).
        Returns the window's rows whose cells changed."""
        change = Change()
        now = self.clock()
        for key in keys:
            if key in self._index:
                if self._rebuilt(key, now):
                    change.updated.add(key)
            else:
                self._built.pop(key, None)
        return change

    def drop(self, keys: Iterable[str]) -> Change:
        """Remove rows; returns what the window needs."""
        order = self._order if self._order_sort == self.sort_index else None
        self._filtered.clear()
        moved = False
        for key in keys:
            row = self.rows.get(key)
            if row is None:
                continue
            if order is not None:
                self._unplace(order, key, row)
            del self.rows[key]
            self.matching.discard(key)
            self._built.pop(key, None)
            self._haystacks.pop(key, None)
            moved = moved or key in self._index
        if moved:
            self._refresh_window()
        return Change(moved=moved)

    def tick(self, keys: Iterable[str]) -> list[str]:
        """Rebuild the cells of the clock-driven rows among ``keys`` (the visible ones);
        returns the keys whose cells changed."""
        now = self.clock()
        changed = []
        for key in keys:
            row = self.rows.get(key)
            if row is not None and self._ticking(row) and self._rebuilt(key, now):
                changed.append(key)
        return changed

    def warm(self) -> None:
        """Build what ``/`` matches for every row now (~30 ms for 10,000 rows), when the
        filter opens, rather than on its first keystroke."""
        for key, row in self.rows.items():
            self.haystack_of(key, row)

    def invalidate(self, keys: Iterable[str] | None = None) -> None:
        """Forget what was derived from these rows (all when None): their cells, their
        haystacks and the sort order. Call after changing what ``cells``, ``haystack``
        or a sort reads besides the row, then :meth:`rebuild`."""
        self._filtered.clear()
        if keys is None:
            self._built.clear()
            self._haystacks.clear()
        else:
            for key in keys:
                self._built.pop(key, None)
                self._haystacks.pop(key, None)
        self._order = None

    # --- keeping the order ---------------------------------------------------------------

    def _entry(self, key: str, row: R) -> tuple[Any, str]:
        sort = self.current_sort
        value = sort.key(row)
        return (_Descending(value) if sort.reverse else value, key)

    def _entry_of(self, key: str) -> tuple[Any, str]:
        return self._entry(key, self.rows[key])

    def _sorted(self) -> list[str]:
        """Every key in sort order, sorted again only when the sort changed or the
        order was invalidated."""
        if self._order is None or self._order_sort != self.sort_index:
            # By row key, then (stably) by sort key: the order of _entry, in two plain
            # sorts rather than one on tuples (a reverse sort keeps ties in key order).
            rows, sort = self.rows, self.current_sort
            order = sorted(rows)
            order.sort(key=lambda key: sort.key(rows[key]), reverse=sort.reverse)
            self._order = order
            self._order_sort = self.sort_index
        return self._order

    def _place(self, order: list[str], key: str, old: R | None, row: R) -> None:
        """Store ``row`` and keep ``order`` sorted: move the key if its entry changed."""
        if old is not None:
            if old is row or self._entry(key, old) == self._entry(key, row):
                self.rows[key] = row
                return
            self._unplace(order, key, old)
        self.rows[key] = row
        insort(order, key, key=self._entry_of)

    def _unplace(self, order: list[str], key: str, old: R) -> None:
        """Take ``key`` (whose stored row is still ``old``) out of ``order``."""
        index = bisect_left(order, self._entry(key, old), key=self._entry_of)
        if index < len(order) and order[index] == key:
            del order[index]
        else:  # a sort key read something besides the row: look for it
            order.remove(key)

    # --- keeping the window --------------------------------------------------------------

    def _may_enter(self, key: str) -> bool:
        """Whether a matching row not shown belongs in the window (it is not full, or
        the row sorts before its last row)."""
        if len(self.window) < self.max_rows:
            return True
        return self._entry_of(key) < self._entry_of(self.window[-1])

    def _refresh_window(self) -> bool:
        """The first ``max_rows`` matching keys in order; True when the window changed."""
        matching = self.matching
        window = list(islice((key for key in self._sorted() if key in matching), self.max_rows))
        if window == self.window:
            return False
        self._set_window(window)
        return True

    def _set_window(self, window: list[str]) -> None:
        self.window = window
        self._index = {key: index for index, key in enumerate(window)}
        if len(self._built) > self.BUILT_LIMIT + self.max_rows:
            self._built = {key: built for key, built in self._built.items() if key in self._index}

    def _rebuilt(self, key: str, now: datetime) -> bool:
        """Build a row's cells now; True when they differ from the ones built before."""
        row = self.rows[key]
        built = self._built.get(key)
        cells = self._cells(row, now)
        if built is not None and built[2] == cells:
            self._remember(key, row, now, built[2])
            return False
        self._remember(key, row, now, cells)
        return True

    def _remember(self, key: str, row: R, now: datetime, cells: C) -> None:
        if len(self._built) > self.BUILT_LIMIT + self.max_rows:
            self._built = {k: built for k, built in self._built.items() if k in self._index}
        self._built[key] = (row, now, cells)
