"""Delivering due outbox rows: one POST each, the outcome written in its own short
transaction (never a write transaction held across HTTP).

Before its POST a row is claimed: its next attempt is moved past the POST's timeout in
one conditional update, so of several daemons on one store exactly one sends it (the
others' claim finds it no longer due). A daemon that dies after its claim leaves the row
due again once the claim runs out: then it is sent again (the generic webhook's
``Idempotency-Key`` lets the receiver drop the repeat).

Retries back off exponentially with full jitter (30 s · 2^(attempts-1), at most 1 h);
a 429's Retry-After is honoured. After ``max_attempts`` the row is ``failed`` and a
``notification_failed`` event is recorded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from daemon.core.retry_after import retry_after_seconds
from daemon.core.states import NotificationState
from daemon.notify.channels import WEBHOOK, Channels, idempotency_key, redact
from daemon.store.events import record_events
from daemon.store.models import Notification, database_proxy

TIMEOUT_SECONDS = 10.0
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(hours=1)
NOTIFICATION_FAILED = "notification_failed"


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST; ``error`` is already free of URLs."""

    ok: bool
    error: str | None = None
    retry_after: timedelta | None = None


def due(now: datetime, limit: int) -> list[Notification]:
    """Pending rows whose time has come, oldest first."""
    return list(
        Notification.select()
        .where((Notification.state == NotificationState.PENDING) & (Notification.next_attempt_at <= now))
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    )


CLAIM = timedelta(seconds=TIMEOUT_SECONDS * 6)
"""How long a claimed row is left to its claimer: well past one POST's timeout."""


def claim(row: Notification, now: datetime) -> bool:
    """Take ``row`` for one delivery attempt; False when another daemon took it first."""
    taken = Notification.update(next_attempt_at=now + CLAIM).where(
        (Notification.id == row.id) & (Notification.state == NotificationState.PENDING)
        & (Notification.next_attempt_at == row.next_attempt_at)).execute()
    return taken == 1


def post(client: httpx.Client, channels: Channels, row: Notification, now: datetime) -> Attempt:
    """POST one row to its channel's URL, read from the environment just now."""
    url = channels.url(row.channel)
    if url is None:
        return Attempt(False, f"not configured ({channels.describe_missing(row.channel)})")
    headers = {}
    if row.channel == WEBHOOK:
        headers["Idempotency-Key"] = idempotency_key(row.event_id, row.channel, row.target or "")
    try:
        response = client.post(url, json=row.payload, headers=headers, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        return Attempt(False, redact(f"{type(exc).__name__}: {exc}", [url]))
    if response.is_success:
        return Attempt(True)
    error = redact(f"HTTP {response.status_code}: {response.text[:200].strip()}", [url])
    retry_after = _retry_after(response, now) if response.status_code == 429 else None
    return Attempt(False, error.rstrip(": "), retry_after)


def _retry_after(response: httpx.Response, now: datetime) -> timedelta | None:
    seconds = retry_after_seconds(response.headers.get("Retry-After"), now.timestamp())
    return None if seconds is None else timedelta(seconds=seconds)


def backoff(attempts: int) -> timedelta:
    """Full jitter: uniform in [0, min(30 s · 2^(attempts-1), 1 h)]."""
    cap = min(BASE_DELAY * 2 ** max(attempts - 1, 0), MAX_DELAY)
    return cap * random.random()


def record(row: Notification, attempt: Attempt, max_attempts: int, now: datetime) -> str:
    """Write the outcome of an attempt: ``sent``, ``retry`` or ``failed``."""
    with database_proxy.atomic():
        if attempt.ok:
            _update(row, state=NotificationState.SENT, sent_at=now, attempts=row.attempts + 1, last_error=None)
            return NotificationState.SENT
        attempts = row.attempts + 1
        if attempts >= max_attempts:
            _update(row, state=NotificationState.FAILED, attempts=attempts, last_error=attempt.error)
            record_events([_failed_event(row, attempts, attempt.error)], now)
            return NotificationState.FAILED
        delay = attempt.retry_after if attempt.retry_after is not None else backoff(attempts)
        _update(row, attempts=attempts, last_error=attempt.error,
                next_attempt_at=now + min(delay, MAX_DELAY))
        return "retry"


def _update(row: Notification, **values: object) -> None:
    # Guarded on the state: a row is only ever moved on from ``pending``.
    Notification.update(**values).where(
        (Notification.id == row.id) & (Notification.state == NotificationState.PENDING)
    ).execute()
    for key, value in values.items():
        setattr(row, key, value)


def _failed_event(row: Notification, attempts: int, error: str | None) -> dict[str, object]:
    where = f"{row.channel} {row.target}".strip()
    return {
        "kind": NOTIFICATION_FAILED,
        "severity": "error",
        "subject": where,
        "message": f"Notification of event {row.event_id} to {where} failed after "
        f"{attempts} attempts: {error}",
        "data": {"notification_id": row.id, "event_id": row.event_id, "channel": row.channel,
                 "target": row.target, "attempts": attempts, "last_error": error},
    }
