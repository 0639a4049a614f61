"""The Gantt column: phases on the run's axis, readable without colour."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from basecamp_tui.gantt import Axis, gantt_bar
from basecamp_tui.palette import BUSY, GOOD, WAIT

T0 = datetime(2024, 5, 2, 8, 0, tzinfo=timezone.utc)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def test_bars_are_scaled_to_the_run_and_end_with_the_state_symbol():
    axis = Axis.of([T0], minutes(20), minutes(99), 20)  # the run took 20 minutes
    assert axis is not None and axis.end == minutes(20)
    done = gantt_bar(axis, "success", minutes(5), minutes(10), minutes(99))
    assert done.plain == "·····█████✓·········"
    assert {span.style for span in done.spans if span.start == 5} == {GOOD}
    assert gantt_bar(axis, "failed", minutes(0), minutes(2), minutes(99)).plain.startswith("██✗")
    assert gantt_bar(axis, "queued", None, None, minutes(99)).plain == "·" * 20


def test_a_running_task_reaches_now_and_its_symbol_takes_the_last_cell():
    axis = Axis.of([T0], None, minutes(10), 10)  # still running: the axis ends now
    bar = gantt_bar(axis, "running", minutes(5), None, minutes(10))
    assert bar.plain == "·····████▶"
    assert bar.spans[-1].style == BUSY


def test_a_very_short_task_still_shows_one_cell():
    axis = Axis.of([T0], minutes(600), minutes(600), 10)
    assert gantt_bar(axis, "success", minutes(300), minutes(300.1), minutes(600)).plain == (
        "·····█✓···")


def test_the_queued_phase_when_it_is_known():
    axis = Axis.of([T0], minutes(10), minutes(10), 10)
    bar = gantt_bar(axis, "success", minutes(4), minutes(6), minutes(10), queued=minutes(2))
    assert bar.plain == "··░░██✓···"
    assert {span.style for span in bar.spans if span.start == 2} == {WAIT}


def test_nothing_started_yet():
    assert Axis.of([None], None, T0, 10) is None
    assert gantt_bar(None, "queued", None, None, T0).plain == "····"
