"""Text for the dashboard: untrusted strings shown literally, and times and durations
(formatted by ``daemon.core.timefmt``) as cells. No Textual imports.

Everything that shows text from specs, Airflow or logs goes through :func:`literal`, which
builds a ``rich.text.Text`` from the plain string with ANSI sequences and control
characters removed (``daemon.core.text.clean``): square brackets in a name or a log line are never markup, and no
escape sequence from a log reaches the terminal.
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo

from rich.text import Text

from basecamp_tui.palette import QUIET
from daemon.core import timefmt
from daemon.core.text import clean

PLACEHOLDER = "—"
"""What an empty cell shows (dim)."""

def literal(value: object, style: str = "") -> Text:
    """Untrusted text as a renderable never parsed as markup; a dim placeholder when
    there is none."""
    if value is None or value == "":
        return Text(PLACEHOLDER, style=QUIET)
    return Text(clean(str(value)), style=style)


def gap(text: Text, width: int = 2) -> Text:
    """Append ``width`` spaces in the style of what ``text`` ends with, and return it.

    Separators belong to the word before them, never to the start of the next styled
    part: an SVG screenshot draws each part at its own position and some renderers drop
    a part's leading spaces, which then reads "activein force"."""
    last = text.spans[-1] if text.spans else None
    style = last.style if last is not None and last.end == len(text) else text.style
    text.append(" " * width, style=style)
    return text


def default_text(value: object) -> str:
    """A parameter default the way it would be typed (``false``, not ``False``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def duration_text(seconds: float | None, coarse: bool = False) -> Text:
    if seconds is None:
        return Text(PLACEHOLDER, style=QUIET)
    return Text(timefmt.duration(seconds, coarse))


def time_text(value: datetime | None, zone: tzinfo | None = timezone.utc,
              precision: timefmt.Precision = "seconds") -> Text:
    if value is None:
        return Text(PLACEHOLDER, style=QUIET)
    return Text(timefmt.when(value, zone, precision))


def age_text(now: datetime, then: datetime | None) -> Text:
    if then is None:
        return Text("never", style=QUIET)
    return Text(timefmt.age((now - then).total_seconds()))
