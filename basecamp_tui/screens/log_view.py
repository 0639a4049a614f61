"""The log pane of the run detail: a title, a search box, and a ``Log`` that follows a
growing log and searches it.

Text is shown literally: lines are stored as plain strings (ANSI and control characters
removed by ``clean``, tabs expanded) and rendered by ``Log``, which never parses markup.
Search is a literal, case-insensitive substring match (the query is never a pattern);
every match is highlighted and the current one stands out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.strip import Strip
from textual.widgets import Input, Log, Static

from basecamp_tui.keys import key_hint
from basecamp_tui.text import literal
from daemon.core.text import clean

MATCH = Style(color="black", bgcolor="yellow")
CURRENT = Style(color="black", bgcolor="bright_cyan", bold=True)


@dataclass(frozen=True)
class Match:
    line: int
    start: int
    end: int


class LogView(Log):
    """``show`` replaces or extends the text; ``search`` / ``next_match`` find in it."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, auto_scroll=False)
        self.shown_text = ""
        self.search_query = ""
        self.matches: list[Match] = []
        self.match_index: int | None = None
        """Index into ``matches`` of the match the view was moved to."""
        self._by_line: dict[int, list[int]] = {}

    # -- content ----------------------------------------------------------------------

    def show(self, content: str, *, same_log: bool) -> None:
        """Show ``content``. For the same log (a newer fetch of the same try), only what
        was appended is written, and the view follows the end only if it was at the end;
        a different log starts at its end."""
        text = clean(content).expandtabs()
        if same_log and text == self.shown_text:
            return
        at_end = self.is_vertical_scroll_end
        if same_log and self.shown_text and text.startswith(self.shown_text):
            self.write(text[len(self.shown_text):], scroll_end=False)
        else:
            keep_y = self.scroll_y
            self.clear()
            self.write(text, scroll_end=False)
            if same_log and not at_end:
                self.scroll_to(y=keep_y, animate=False)
        self.shown_text = text
        self._find(keep_current=True)
        if at_end or not same_log:
            # After the next layout: a pane not laid out yet has no end to go to.
            self.scroll_end(animate=False, x_axis=False)

    # -- search -----------------------------------------------------------------------

    def search(self, query: str) -> int:
        """Highlight ``query`` and move to its first match from the top of the view;
        the number of matches."""
        self.search_query = query
        self._find(keep_current=False)
        if self.matches:
            top = int(self.scroll_y)
            self._go(next((i for i, m in enumerate(self.matches) if m.line >= top), 0))
        return len(self.matches)

    def next_match(self, step: int) -> Match | None:
        """The next (``step`` 1) or previous (-1) match, wrapping; None without any."""
        if not self.matches:
            return None
        if self.match_index is None:
            top = int(self.scroll_y)
            first = next((i for i, m in enumerate(self.matches) if m.line >= top), 0)
            index = first if step > 0 else first - 1
        else:
            index = self.match_index + step
        self._go(index % len(self.matches))
        return self.matches[index % len(self.matches)]

    def _find(self, *, keep_current: bool) -> None:
        old = (self.matches[self.match_index]
               if keep_current and self.match_index is not None else None)
        self.matches = []
        if self.search_query:
            pattern = re.compile(re.escape(self.search_query), re.IGNORECASE)
            for number, line in enumerate(self.lines):
                self.matches += [Match(number, found.start(), found.end())
                                 for found in pattern.finditer(line)]
        self.match_index = self.matches.index(old) if old in self.matches else None
        self._by_line = {}
        for index, match in enumerate(self.matches):
            self._by_line.setdefault(match.line, []).append(index)
        self.refresh()

    def _go(self, index: int) -> None:
        self.match_index = index
        line = self.matches[index].line
        self.scroll_to(y=max(0, line - self.scrollable_content_region.height // 2),
                       animate=False, immediate=True)
        self.refresh()

    # -- rendering --------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if not self.matches:
            return strip
        scroll_x, scroll_y = self.scroll_offset
        number = scroll_y + y
        if number >= len(self.lines):
            return strip
        line = self.lines[number]
        spans: list[tuple[int, int, Style]] = []
        for index in self._by_line.get(number, ()):
            match = self.matches[index]
            start = max(cell_len(line[:match.start]) - scroll_x, 0)
            end = min(cell_len(line[:match.end]) - scroll_x, strip.cell_length)
            if start < end:
                spans.append((start, end, CURRENT if index == self.match_index else MATCH))
        if not spans:
            return strip
        cuts = sorted({p for start, end, _ in spans for p in (start, end)} | {strip.cell_length})
        pieces, left = [], 0
        for piece, right in zip(strip.divide(cuts), cuts):
            style = next((s for start, end, s in spans if start <= left < end), None)
            if style is not None:
                piece = Strip(Segment.apply_style(piece, post_style=style), piece.cell_length)
            pieces.append(piece)
            left = right
        return Strip.join(pieces)


class LogPane(Vertical):
    """``#log-title`` (the task, the search, what the caller says about the log),
    ``#log-search`` (open while typing), ``#run-log``."""

    DEFAULT_CSS = """
    LogPane { height: 1fr; min-height: 4; }
    LogPane #log-title { height: 1; padding: 0 1; background: $boost; }
    LogPane #log-search { display: none; height: 1; border: none; padding: 0 1; }
    LogPane #log-search.-open { display: block; }
    LogPane #run-log { height: 1fr; min-height: 2; overflow: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._head = Text("Log", style="bold")
        self._parts: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield Static(self._head, id="log-title")
        yield Input(placeholder="search the log: literal text, any case (enter keeps it, "
                    "escape clears)", id="log-search")
        yield LogView(id="run-log")

    @property
    def view(self) -> LogView:
        return self.query_one("#run-log", LogView)

    @property
    def searching(self) -> bool:
        """The search box is open or a search is highlighted."""
        return self.query_one("#log-search", Input).has_class("-open") or bool(
            self.view.search_query)

    def show(self, head: Text, parts: list[tuple[str, str]], content: str | None = None, *,
             same_log: bool = False) -> None:
        """The title (``head`` then ``(text, style)`` parts) and, unless None, the text."""
        if content is not None:
            self.view.show(content, same_log=same_log)
        self._head, self._parts = head, parts
        self._show_title()

    def add_part(self, text: str, style: str) -> None:
        self._parts = [*self._parts, (text, style)]
        self._show_title()

    def _match_keys(self) -> str:
        """The keys to the next and previous match, as the screen binds them."""
        bindings = self.screen.BINDINGS
        return " ".join(key_hint(self.app, id_, bindings) for id_ in ("log_next", "log_previous"))

    def _show_title(self) -> None:
        """The task, the search (first: it must fit in 80 columns), then the rest. Gaps
        end the segment before them: a styled segment never starts with spaces (SVG
        exports run such words together)."""
        title = self._head.copy()
        view = self.view
        if view.search_query:
            title.append("  ")
            title.append("/", style="bold")
            title.append_text(literal(view.search_query, "bold"))
            title.append("  ")
            if not view.matches:
                title.append("no match", style="yellow")
            elif view.match_index is None:
                title.append(f"{len(view.matches)} matches ({self._match_keys()})", style="dim")
            else:
                title.append(f"{view.match_index + 1} of {len(view.matches)} ({self._match_keys()})",
                             style="dim")
        for text, style in self._parts:
            title.append("  ")
            title.append(text, style=style)
        self.query_one("#log-title", Static).update(title)

    # -- search -----------------------------------------------------------------------

    def open_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.add_class("-open")
        box.focus()

    def close_search(self, *, keep: bool) -> None:
        """Close the box; ``keep``: the matches stay highlighted for ``n`` / ``N``."""
        box = self.query_one("#log-search", Input)
        box.remove_class("-open")
        if not keep:
            with box.prevent(Input.Changed):
                box.value = ""
            self.view.search("")
        self._show_title()

    def next_match(self, step: int) -> bool:
        """Move to the next / previous match; False when there is no search."""
        if not self.view.search_query:
            return False
        self.view.next_match(step)
        self._show_title()
        return True

    def edge(self, direction: int) -> None:
        """The end of the log (``direction`` 1) or its start (-1)."""
        if direction > 0:
            self.view.scroll_end(animate=False, immediate=True)
        else:
            self.view.scroll_home(animate=False, immediate=True)

    @on(Input.Changed, "#log-search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.view.search(event.value)
        self._show_title()
