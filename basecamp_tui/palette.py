"""The dashboard's one palette: a style and a symbol for every state word it shows.

Colours carry meaning only together with the word (or, in cells too small for a word, the
symbol), so the screen still reads on a monochrome terminal or with ``NO_COLOR``.
"""

from __future__ import annotations

from rich.text import Text

from daemon.core.states import ActionState, RunStatus, WorkflowStatus

GOOD, BAD, WARN, BUSY, WAIT, QUIET, STOP = (
    "green", "bold red", "red", "cyan", "yellow", "dim", "magenta")
ASK = "bold yellow"
"""A task waiting for a person's answer: the one thing on screen that needs you."""

STYLES: dict[str, str] = {
    # basecamp run statuses
    RunStatus.SUCCESS: GOOD, RunStatus.FAILED: BAD, RunStatus.RUNNING: BUSY,
    RunStatus.PENDING: WAIT, RunStatus.STOPPING: STOP, RunStatus.STOPPED: STOP,
    RunStatus.SKIPPED: QUIET, RunStatus.UNKNOWN: QUIET,
    # workflow statuses (and "invalid": a spec that was never valid)
    WorkflowStatus.ACTIVE: GOOD, WorkflowStatus.PAUSED: WAIT, WorkflowStatus.DISABLED: QUIET,
    WorkflowStatus.OVERRIDDEN: QUIET, WorkflowStatus.REMOVED: QUIET, "invalid": WARN,
    # Airflow task-instance states
    "success": GOOD, "failed": BAD, "upstream_failed": WARN, "running": BUSY,
    "queued": WAIT, "scheduled": WAIT, "up_for_retry": WAIT, "up_for_reschedule": WAIT,
    "restarting": BUSY, "deferred": WAIT, "skipped": QUIET, "awaiting_input": ASK,
    # action states
    ActionState.PENDING: WAIT, ActionState.DONE: GOOD, ActionState.REJECTED: WARN,
}

SYMBOLS: dict[str, str] = {
    RunStatus.SUCCESS: "✓", RunStatus.FAILED: "✗", RunStatus.RUNNING: "▶",
    RunStatus.PENDING: "·", RunStatus.STOPPING: "■", RunStatus.STOPPED: "■",
    RunStatus.SKIPPED: "-", RunStatus.UNKNOWN: "?",
    "success": "✓", "failed": "✗", "upstream_failed": "✗", "running": "▶", "queued": "·",
    "scheduled": "·", "up_for_retry": "↻", "restarting": "↻", "skipped": "-",
    "awaiting_input": "!",
}


def style_of(status: str | None) -> str:
    """The style of a state word; unknown words are plain."""
    return STYLES.get(status or "", "")


def status_text(status: str | None) -> Text:
    """A state word in its colour; a dim ``-`` when there is none."""
    if not status:
        return Text("-", style=QUIET)
    return Text(status, style=style_of(status))


WAITING_FOR_INPUT = "waiting for input"


def waiting_text() -> Text:
    """What a run whose task waits for a person shows in place of its current task."""
    return Text(WAITING_FOR_INPUT, style=ASK)
