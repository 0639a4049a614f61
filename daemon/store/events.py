"""Writing to the event log and to the per-job sync state."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from daemon.store.models import Event, SyncState


def record_events(events: Iterable[dict[str, Any]], at: datetime) -> int:
    """Insert events (dicts with kind, severity, subject, message, optional data)."""
    rows = [{"at": at, "data": None, **event} for event in events]
    for start in range(0, len(rows), 200):
        Event.insert_many(rows[start : start + 200]).execute()
    return len(rows)


def sync_state(key: str) -> SyncState:
    state, _ = SyncState.get_or_create(key=key)
    return state


def record_sync_outcome(
    key: str,
    *,
    started: datetime,
    now: datetime,
    error: str | None,
    data: dict[str, Any] | None = None,
) -> None:
    """Store the outcome of one run of a sync job; an event only when the error changes,
    so a store that stays unreachable is reported once, not every cycle."""
    state = sync_state(key)
    if error is None:
        if state.last_error is not None:
            record_events(
                [
                    {
                        "kind": "sync_recovered",
                        "severity": "info",
                        "subject": key,
                        "message": f"{key} sync works again (failing since "
                        f"{state.error_since:%Y-%m-%d %H:%M:%S} UTC).",
                    }
                ],
                now,
            )
        state.last_ok_at, state.last_error, state.error_since = now, None, None
    else:
        if error != state.last_error:
            record_events(
                [{"kind": "sync_error", "severity": "error", "subject": key, "message": error}],
                now,
            )
        state.error_since = state.error_since or now
        state.last_error = error
    state.last_started_at = started
    if data is not None:
        state.data = data
    state.updated_at = now
    state.save()
