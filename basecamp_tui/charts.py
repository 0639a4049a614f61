"""Small charts drawn with block characters: the grid's duration bars, the Workflows
tab's duration sparkline and recent-runs strip. Each is plain text plus colour, and
reads without colour too (heights, and the palette's symbols)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from basecamp_tui.palette import QUIET, SYMBOLS, style_of
from daemon.read.runs import RecentRun

BLOCKS = " ▁▂▃▄▅▆▇█"


def bar_rows(seconds: Sequence[float | None], longest: float, rows: int) -> list[str]:
    """Vertical bars, one character per value, ``rows`` high, top row first; each value
    scaled to ``longest`` in eighths of a row (a value above zero shows at least ▁)."""
    eighths = [0 if not s or longest <= 0 else max(1, round(s / longest * rows * 8))
               for s in seconds]
    lines = []
    for row in range(rows - 1, -1, -1):
        lines.append("".join(BLOCKS[min(8, max(0, e - row * 8))] for e in eighths))
    return lines


def sparkline(seconds: Sequence[float | None]) -> Text:
    """One bar per value on one line, scaled to the largest; a run still going is a
    gap (its duration is not known yet)."""
    longest = max((s for s in seconds if s), default=0.0)
    if not longest:
        return Text("")
    return Text(bar_rows(seconds, longest, rows=1)[0], style="cyan")


def run_strip(runs: Sequence[RecentRun]) -> Text:
    """The runs oldest to newest as their status's symbol in its colour."""
    text = Text()
    for run in runs:
        text.append(SYMBOLS.get(run.status, "?"), style=style_of(run.status) or QUIET)
    return text
