"""Times, durations and ages as text: the one formatter of the CLI, the dashboard, the
logs and the Airflow client. Plain strings only (the dashboard adds its styles).

Datetimes are timezone-aware UTC everywhere in basecamp; a naive value is read as UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from typing import Literal

UTC = timezone.utc


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def iso_z(value: datetime,
          timespec: Literal["auto", "seconds", "milliseconds"] = "seconds") -> str:
    """ISO-8601 in UTC with ``Z`` (``2024-05-02T09:00:00Z``): the JSON and log format.
    ``auto`` keeps microseconds when there are any (the Airflow API's cursors need them);
    ``Z`` needs no escaping in a query string, where ``+00:00`` would become a space."""
    text = _aware(value).astimezone(UTC).isoformat(timespec=timespec)
    return text.removesuffix("+00:00") + "Z"


Precision = Literal["seconds", "minutes", "short", "short_seconds"]
_PATTERNS = {"seconds": "%Y-%m-%d %H:%M:%S", "minutes": "%Y-%m-%d %H:%M",
             "short": "%m-%d %H:%M", "short_seconds": "%m-%d %H:%M:%S"}


def when(value: datetime, zone: tzinfo | None = UTC, precision: Precision = "seconds") -> str:
    """A point in time for people, in ``zone`` (None: the viewer's local zone):
    ``2024-05-02 09:00:00``, ``2024-05-02 09:00`` (minutes), ``05-02 09:00`` (short) or
    ``05-02 09:00:00`` (short_seconds)."""
    return _aware(value).astimezone(zone).strftime(_PATTERNS[precision])


def fire_time(value: datetime, zone: tzinfo | None) -> str:
    """``Thu 2024-05-02 18:00 KST``: a schedule's fire time in ``zone`` (None: local)."""
    local = _aware(value).astimezone(zone)
    return f"{local:%a %Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def duration(seconds: float, coarse: bool = False) -> str:
    """``42s``, ``3m 05s``, ``1h 02m``, ``2d 03h``. ``coarse`` (a run still going) drops
    the seconds past a minute, so a cell changes once a minute, not every second."""
    total = max(0, int(round(seconds)))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m" if coarse else f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def span(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    """Seconds from ``start`` to ``end`` (or to ``now`` while still going)."""
    if start is None:
        return None
    return ((end or now) - start).total_seconds()


def age(seconds: float) -> str:
    """``42 s``, ``3 min``, ``5 h``, ``2 days``: how old something is."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def ago(seconds: float) -> str:
    """``42 s ago``, ``3 min ago``…"""
    return f"{age(seconds)} ago"
