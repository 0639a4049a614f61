"""Small, pure formatting helpers shared by the detail screens (no Textual imports).

Everything that shows text from specs, Airflow or logs returns ``rich.text.Text`` built
from the plain string, so square brackets in a name or a log line are never markup.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone, tzinfo

from rich.text import Text

# ANSI CSI / OSC sequences (colours in Airflow logs), then any other control character:
# none of them may reach the terminal from untrusted text.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def app_now(app: object) -> datetime:
    """The app's clock (tests fix it for deterministic snapshots), else aware UTC now."""
    clock = getattr(app, "clock", None)
    return clock() if clock is not None else datetime.now(timezone.utc)


def clean(text: str) -> str:
    """``text`` without ANSI sequences, other control characters shown as ``\ufffd``
    (tabs and newlines kept)."""
    text = text.replace("\r\n", "\n")
    return _CONTROL.sub("\ufffd", _ANSI.sub("", text))


STATUS_STYLES = {
    "SUCCESS": "green",
    "FAILED": "bold red",
    "RUNNING": "cyan",
    "PENDING": "yellow",
    "STOPPING": "magenta",
    "STOPPED": "magenta",
    "SKIPPED": "dim",
    "UNKNOWN": "dim",
    "active": "green",
    "paused": "yellow",
    "disabled": "dim",
    "overridden": "magenta",
    "removed": "dim",
    "success": "green",
    "failed": "bold red",
    "upstream_failed": "red",
    "running": "cyan",
    "queued": "yellow",
    "scheduled": "yellow",
    "up_for_retry": "yellow",
    "skipped": "dim",
    "pending": "yellow",
    "done": "green",
    "rejected": "red",
}


def status_text(status: str | None) -> Text:
    """A status word, coloured by what it means; unknown words are shown plain."""
    if not status:
        return Text("-", style="dim")
    return Text(status, style=STATUS_STYLES.get(status, ""))


def literal(value: object, style: str = "") -> Text:
    """Untrusted text as a renderable that is never parsed as markup."""
    return Text("-" if value is None or value == "" else clean(str(value)), style=style)


def duration(seconds: float | None) -> str:
    """``12s``, ``3m 05s``, ``1h 02m``, ``2d 03h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    total = max(0, int(round(seconds)))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def span(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    """Seconds from ``start`` to ``end`` (or to ``now`` while still running)."""
    if start is None:
        return None
    return ((end or now) - start).total_seconds()


def when(value: datetime | None, zone: tzinfo | None = timezone.utc) -> str:
    """``2024-05-02 09:00:00`` in ``zone`` (None: the viewer's local zone)."""
    if value is None:
        return "-"
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def fire_time(value: datetime, zone: tzinfo | None) -> str:
    """``Thu 2024-05-02 18:00 KST``: a fire time in ``zone`` (None: the viewer's zone)."""
    local = value.astimezone(zone)
    return f"{local:%a %Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def default_text(value: object) -> str:
    """A parameter default the way it would be typed (``false``, not ``False``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)
