"""The Gantt column of the run detail: each task's tries as phases on the run's time axis.

The axis runs from the run's start (or the first try's queued time, when earlier: a run
cleared for a retry starts again) to its end (or now, while it runs). Each try draws its
queued phase as a thin dashed line ``╌`` in the WAIT colour and its running phase as a
heavy line ``━`` in its state's colour, followed by its state's symbol; later tries draw
over earlier ones. The try whose log is shown (the latest, unless ``[`` / ``]`` chose
another) is drawn at full strength, the others dim. So the column still reads on a
monochrome terminal: the glyph tells the phase, the symbol how a try ended, the
intensity which try is meant. No Textual imports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text

from basecamp_tui.palette import QUIET, SYMBOLS, WAIT, style_of
from daemon.read.tries import TryView

QUEUED, RUNNING, TRACK = "╌", "━", "·"
QUEUED_STATES = frozenset({"scheduled", "queued"})
"""States in which a try that has not started is still waiting: its queued phase
reaches now."""


@dataclass(frozen=True)
class Axis:
    """The run's span, mapped onto ``width`` cells."""

    start: datetime
    end: datetime
    width: int

    @classmethod
    def of(cls, starts: Iterable[datetime | None], end: datetime | None, now: datetime,
           width: int) -> Axis | None:
        """From the earliest of ``starts`` to the run's end or ``now``; None when
        nothing has started."""
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


def try_starts(tries: Iterable[TryView]) -> list[datetime | None]:
    """The times a try may begin the axis with."""
    return [value for one in tries for value in (one.queued_at, one.started_at)]


def gantt_bar(axis: Axis | None, tries: Sequence[TryView], now: datetime,
              shown: int | None = None) -> Text:
    """One task's bar: ``axis.width`` cells with the phases of each try, ``shown`` (a
    try number; default the latest) at full strength and the others dim. A task that
    has not started shows only the dim track (and its queued phase when it is known)."""
    if axis is None:
        return Text(TRACK * 4, style=QUIET)
    cells = [(TRACK, QUIET)] * axis.width
    emphasised = tries[-1].try_number if shown is None and tries else shown
    for index, one in enumerate(tries):
        latest = index == len(tries) - 1
        _draw_try(cells, axis, one, now if latest else None,
                  "" if one.try_number == emphasised else "dim")
    text = Text(no_wrap=True, overflow="crop")
    for char, style in cells:
        text.append(char, style=style)
    return text


def _draw_try(cells: list[tuple[str, str]], axis: Axis, one: TryView, now: datetime | None,
              strength: str) -> None:
    """Draw one try over ``cells``. ``now`` for the latest try: an open phase reaches it
    (an earlier try's open phase ended when the next began, unknown: it is left out)."""
    last = axis.width - 1

    def style(base: str) -> str:
        return f"{base} {strength}".strip() if base else strength or "bold"

    run_from = axis.cell(one.started_at) if one.started_at is not None else None
    if one.queued_at is not None:
        if run_from is not None:
            until: float | None = run_from
        elif one.ended_at is not None:
            until = axis.cell(one.ended_at)
        elif now is not None and one.state in QUEUED_STATES:
            until = axis.cell(now)
        else:
            until = None
        if until is not None:
            first = min(int(axis.cell(one.queued_at)), last)
            for cell in range(first, max(int(math.ceil(until)), first + 1)):
                cells[min(cell, last)] = (QUEUED, style(WAIT))
    if run_from is None:
        return
    end = one.ended_at if one.ended_at is not None else now
    if end is None:
        return
    first = min(int(run_from), last)
    stop = max(int(math.ceil(axis.cell(end))), first + 1)
    state_style = style(style_of(one.state))
    for cell in range(first, min(stop, axis.width)):
        cells[cell] = (RUNNING, state_style)
    symbol = SYMBOLS.get(one.state or "", "")
    if symbol:
        # After the bar when there is room, else on its last cell.
        cells[min(stop, last)] = (symbol, state_style)
