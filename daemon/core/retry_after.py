"""Reading an HTTP ``Retry-After`` header (Airflow's 429s, webhook receivers' 429s)."""

from __future__ import annotations

from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None, now_wall: float) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date relative to ``now_wall``."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_wall)
