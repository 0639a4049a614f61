"""Queued actions as the dashboard follows them: open ones per target, and every change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from daemon.core.states import OPEN_ACTION_STATES
from daemon.store.models import Action

_COLUMNS = (Action.id, Action.kind, Action.target, Action.source_type, Action.state,
            Action.message, Action.error, Action.requested_by)


@dataclass(frozen=True)
class ActionRow:
    id: int
    kind: str
    target: str
    source_type: str | None
    state: str
    message: str | None
    error: str | None
    requested_by: str | None

    @property
    def open(self) -> bool:
        return self.state in OPEN_ACTION_STATES


def open_actions(target: str) -> list[ActionRow]:
    """The actions on ``target`` (a dataset name or a run id) not carried out yet."""
    query = Action.select(*_COLUMNS).where(
        (Action.target == target) & Action.state.in_(OPEN_ACTION_STATES)).order_by(Action.id)
    return [ActionRow(*values) for values in query.tuples()]


def load_actions(since: datetime | None = None) -> list[ActionRow]:
    """Open actions (first load), or every action changed since ``since``."""
    query = Action.select(*_COLUMNS)
    if since is None:
        query = query.where(Action.state.in_(OPEN_ACTION_STATES))
    else:
        query = query.where(Action.updated_at >= since)
    return [ActionRow(*values) for values in query.order_by(Action.id).tuples()]
