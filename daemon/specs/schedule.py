"""Cron + IANA time zone → fire times, the way the workflow's schedule means them.

Cron fields are read in the workflow's own time zone (croniter on aware datetimes, so
DST changes are croniter's), and results are returned in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from daemon.core.errors import UserError

CRON_EXAMPLE = "0 9 * * *"
_MAX_CRON_CHARS = 200
# Fixed, so whether an expression "never fires" does not depend on today's date.
_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=1024)
def cron_problem(cron: str) -> str | None:
    """Why ``cron`` is not a usable 5-field cron expression (a sentence tail), or None."""
    if (len(cron) > _MAX_CRON_CHARS or len(cron.split()) != 5
            or not croniter.is_valid(cron)):
        return ("is not a valid 5-field cron expression (minute hour day-of-month month "
                f'day-of-week); example: "{CRON_EXAMPLE}"')
    try:
        croniter(cron, _REFERENCE).get_next(datetime)
    except (CroniterError, ValueError):
        return "never fires (no date matches it); check the day-of-month and month fields"
    return None


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not a usable IANA time zone (a sentence tail), or None."""
    try:
        _zone(name)
    except UserError:
        return 'is not a known IANA time zone; use a name like "Asia/Seoul" or "UTC"'
    return None


def next_fire_times(cron: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after``, as aware UTC datetimes.

    Raises ``ValueError`` for a naive ``after`` (a bug in the caller) and ``UserError``
    for an invalid cron expression or time zone.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("next_fire_times needs a timezone-aware 'after'")
    problem = cron_problem(cron)
    if problem:
        raise UserError(f'Cron expression "{cron}" {problem}')
    times = croniter(cron, after.astimezone(_zone(timezone)))
    return [times.get_next(datetime).astimezone(UTC) for _ in range(count)]


def next_run(cron: str, timezone: str, after: datetime) -> datetime:
    """The first fire time strictly after ``after``, in UTC."""
    return next_fire_times(cron, timezone, after, 1)[0]


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise UserError(
            f'Unknown time zone "{name[:60]}": use an IANA name like "Asia/Seoul" or "UTC"'
        ) from exc
