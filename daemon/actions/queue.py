"""Enqueueing actions and following them: the API the CLI and the dashboard use.

Nothing here talks to Airflow or S3; the daemon's executor does (``daemon.actions.executor``).
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable
from typing import Any

from daemon.actions.validate import Validated, validate_request
from daemon.core.errors import NotFoundError
from daemon.core.states import FINISHED_ACTION_STATES
from daemon.core.timefmt import utcnow
from daemon.specs.parse import MAX_SPEC_BYTES
from daemon.store.models import Action


def requester() -> str:
    """The OS user asking (recorded on the action)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def enqueue(kind: str, target: str, *, source_type: str | None = None,
            params: dict[str, Any] | None = None, reason: str | None = None,
            requested_by: str | None = None, max_spec_bytes: int = MAX_SPEC_BYTES) -> Action:
    """Validate against the store (raising the SPEC §2 rejection) and queue the action."""
    checked = validate_request(kind, target, source_type, params, max_spec_bytes=max_spec_bytes)
    return enqueue_checked(checked, source_type=source_type, reason=reason,
                           requested_by=requested_by)


def enqueue_checked(checked: Validated, *, source_type: str | None = None,
                    reason: str | None = None, requested_by: str | None = None) -> Action:
    """Queue a request ``validate_request`` has just accepted."""
    who = requested_by or requester()
    action = Action.create(
        kind=checked.kind, target=checked.target, source_type=source_type,
        params=checked.params, reason=reason or None, requested_by=who, requested_by_os=who,
    )
    # PostgreSQL names the requester itself (the role: migration 7): read its word back
    return Action.get_by_id(action.id)


def get_action(action_id: int) -> Action:
    action = Action.get_or_none(Action.id == action_id)
    if action is None:
        raise NotFoundError(f"Action {action_id} not found")
    return action


def wait_for(action_id: int, timeout: float | None, *, poll_seconds: float = 0.1,
             on_update: Callable[[Action], None] | None = None) -> Action:
    """Poll until the action is finished or ``timeout`` passes; returns its last state.

    ``on_update`` is called whenever the row changed (state or progress)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = None
    while True:
        action = get_action(action_id)
        if on_update is not None and action.updated_at != seen:
            seen = action.updated_at
            on_update(action)
        if action.state in FINISHED_ACTION_STATES:
            return action
        if deadline is not None and time.monotonic() >= deadline:
            return action
        time.sleep(poll_seconds)


def outcome_json(action: Action) -> dict[str, Any]:
    """SPEC §8's shape for mutating commands."""
    return {
        "action_id": action.id,
        "kind": action.kind,
        "target": action.target,
        "state": action.state,
        "message": action.message or action.error,
        "result": action.result,
    }


def touch(action: Action, **values: Any) -> None:
    """Update an action row and its ``updated_at`` (the dashboard follows that column)."""
    values["updated_at"] = utcnow()
    Action.update(**values).where(Action.id == action.id).execute()
    for key, value in values.items():
        setattr(action, key, value)
