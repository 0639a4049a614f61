"""The Gantt column of the run detail: each task's phases as a bar on the run's time axis.

The axis runs from the run's start to its end (or now, while it runs). The queued phase
(when the store knows when the task was queued) is drawn ``░`` in the WAIT colour, the
running phase ``█`` in the state's colour, and the state's symbol follows the bar, so the
column still reads on a monochrome terminal: where a task ran, and how it ended.
No Textual imports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text

from basecamp_tui.palette import QUIET, SYMBOLS, WAIT, style_of

QUEUED, RUNNING, TRACK = "░", "█", "·"


@dataclass(frozen=True)
class Axis:
    """The run's span, mapped onto ``width`` cells."""

    start: datetime
    end: datetime
    width: int

    @classmethod
    def of(cls, starts: list[datetime | None], end: datetime | None, now: datetime,
           width: int) -> Axis | None:
        """From the run's start (else its earliest task start) to its end or ``now``;
        None when nothing has started."""
        known = [value for value in starts if value is not None]
        if not known:
            return None
        start = min(known)
        return cls(start, max(end or now, start), max(width, 4))

    def cell(self, when: datetime) -> float:
        """Where ``when`` falls, in cells from the left edge (clamped to the axis)."""
        total = (self.end - self.start).total_seconds()
        if total <= 0:
            return 0.0
        offset = (when - self.start).total_seconds() / total * self.width
        return min(max(offset, 0.0), float(self.width))


def gantt_bar(axis: Axis | None, state: str | None, started: datetime | None,
              ended: datetime | None, now: datetime, queued: datetime | None = None) -> Text:
    """One task's bar: ``width`` cells, the queued and running phases and the symbol of
    its state. A task that has not started shows only the dim track (queued since
    ``queued`` when that is known)."""
    if axis is None:
        return Text(TRACK * 4, style=QUIET)
    cells = [(TRACK, QUIET)] * axis.width
    symbol = SYMBOLS.get(state or "", "")
    run_from = axis.cell(started) if started is not None else None
    if queued is not None:
        first = min(int(axis.cell(queued)), axis.width - 1)
        last = int(math.ceil(run_from if run_from is not None else axis.cell(now)))
        for index in range(first, max(last, first + 1)):
            cells[min(index, axis.width - 1)] = (QUEUED, WAIT)
    if run_from is not None:
        first = min(int(run_from), axis.width - 1)
        last = max(int(math.ceil(axis.cell(ended or now))), first + 1)
        style = style_of(state) or "bold"
        for index in range(first, min(last, axis.width)):
            cells[index] = (RUNNING, style)
        if symbol:
            # After the bar when there is room, else on its last cell.
            cells[min(last, axis.width - 1)] = (symbol, style)
    text = Text(no_wrap=True, overflow="crop")
    for char, style in cells:
        text.append(char, style=style)
    return text
