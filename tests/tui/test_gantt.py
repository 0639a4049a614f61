"""The Gantt column: each try's queued and running phases on the run's axis, readable
without colour (the glyph tells the phase, the symbol the outcome, dim the other tries)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from rich.console import Console
from rich.style import Style
from rich.text import Text

from basecamp_tui.gantt import Axis, gantt_bar, try_starts
from basecamp_tui.palette import BAD, BUSY, GOOD, WAIT
from daemon.read.tries import TryView

T0 = datetime(2024, 5, 2, 8, 0, tzinfo=timezone.utc)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def one(state: str | None, started: float | None, ended: float | None, *,
        queued: float | None = None, number: int = 1) -> TryView:
    def at(value: float | None) -> datetime | None:
        return None if value is None else minutes(value)

    return TryView(number, state, at(queued), at(started), at(ended), None)


def styles_at(bar, cell: int) -> set[str]:
    return {str(span.style) for span in bar.spans if span.start <= cell < span.end}


def test_bars_are_scaled_to_the_run_and_end_with_the_state_symbol():
    axis = Axis.of([T0], minutes(20), minutes(99), 20)  # the run took 20 minutes
    assert axis is not None and axis.end == minutes(20)
    done = gantt_bar(axis, [one("success", 5, 10)], minutes(99))
    assert done.plain == "·····━━━━━✓·········"
    assert styles_at(done, 5) == {GOOD}
    assert gantt_bar(axis, [one("failed", 0, 2)], minutes(99)).plain.startswith("━━✗")
    assert gantt_bar(axis, [], minutes(99)).plain == "·" * 20


def test_a_running_task_reaches_now_and_its_symbol_takes_the_last_cell():
    axis = Axis.of([T0], None, minutes(10), 10)  # still running: the axis ends now
    bar = gantt_bar(axis, [one("running", 5, None)], minutes(10))
    assert bar.plain == "·····━━━━▶"
    assert styles_at(bar, 9) == {BUSY}


def test_a_very_short_task_still_shows_one_cell():
    axis = Axis.of([T0], minutes(600), minutes(600), 10)
    assert gantt_bar(axis, [one("success", 300, 300.1)], minutes(600)).plain == "·····━✓···"


def test_the_queued_phase_is_a_thin_dashed_line_before_the_running_one():
    axis = Axis.of([T0], minutes(10), minutes(10), 10)
    bar = gantt_bar(axis, [one("success", 4, 6, queued=2)], minutes(10))
    assert bar.plain == "··╌╌━━✓···"
    assert styles_at(bar, 2) == {WAIT}


def test_a_task_still_queued_waits_until_now():
    axis = Axis.of([T0], None, minutes(10), 10)
    assert gantt_bar(axis, [one("queued", None, None, queued=6)], minutes(10)).plain == (
        "······╌╌╌╌")
    # not waiting any more (skipped, or upstream failed): no phase reaches now
    assert gantt_bar(axis, [one("skipped", None, None, queued=6)], minutes(10)).plain == (
        "·" * 10)


def test_every_try_is_drawn_and_the_earlier_ones_are_dim():
    axis = Axis.of([T0], minutes(20), minutes(20), 20)
    tries = [one("failed", 2, 6, queued=1, number=1),
             one("success", 12, 16, queued=10, number=2)]
    bar = gantt_bar(axis, tries, minutes(20))
    assert bar.plain == "·╌━━━━✗···╌╌━━━━✓···"
    assert styles_at(bar, 3) == {f"{BAD} dim"} and styles_at(bar, 1) == {f"{WAIT} dim"}
    assert styles_at(bar, 13) == {GOOD} and styles_at(bar, 10) == {WAIT}
    # the try whose log is shown is the bright one
    chosen = gantt_bar(axis, tries, minutes(20), shown=1)
    assert chosen.plain == bar.plain
    assert styles_at(chosen, 3) == {BAD} and styles_at(chosen, 13) == {f"{GOOD} dim"}


def test_monochrome_keeps_phases_tries_and_outcomes_apart():
    """Without colour the glyphs and the dim attribute carry it all."""
    axis = Axis.of([T0], minutes(10), minutes(10), 10)
    bar = gantt_bar(axis, [one("failed", 1, 3, number=1),
                           one("running", 6, None, queued=5, number=2)], minutes(10))
    console = Console(no_color=True, force_terminal=True, width=20)
    with console.capture() as captured:
        console.print(bar, end="")
    seen = Text.from_ansi(captured.get())
    assert seen.plain == "·━━✗·╌━━━▶"
    dim = {cell for cell in range(10) if any(
        span.start <= cell < span.end and Style.parse(str(span.style)).dim
        for span in seen.spans)}
    assert dim == {0, 1, 2, 3, 4}  # the track and the earlier try; the latest at full strength


def test_the_axis_begins_with_the_earliest_try_of_a_run_started_again():
    """A cleared run starts again: its earlier tries happened before its new start."""
    tries = [one("failed", 2, 4, queued=1), one("success", 30, 34, queued=29, number=2)]
    axis = Axis.of([minutes(28), *try_starts(tries)], minutes(40), minutes(40), 10)
    assert axis is not None and axis.start == minutes(1)


def test_nothing_started_yet():
    assert Axis.of([None], None, T0, 10) is None
    assert gantt_bar(None, [one("queued", None, None)], T0).plain == "····"
