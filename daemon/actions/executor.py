"""Claiming queued actions and recording their outcomes.

The claim is a conditional UPDATE, so a row is carried out by one worker only, also when
several daemons share the store (each then takes only the actions of the clusters it
owns: :meth:`ActionExecutor.cluster_of`). A claimed action whose daemon died stays
``running`` with that daemon's name: :meth:`ActionExecutor.recover` puts it back to
``pending`` with its checkpoint, and its handler repeats the same idempotent request.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

from daemon.actions.context import ExecContext, Outcome, Released
from daemon.actions.handlers import HANDLERS
from daemon.actions.queue import touch
from daemon.actions.routing import cluster_of
from daemon.actions.validate import validate_request
from daemon.core.errors import BasecampError, NotFoundError, UserError
from daemon.core.states import ActionState
from daemon.store.events import record_events
from daemon.store.models import Action

log = logging.getLogger(__name__)

LONG_KINDS = ("backfill",)
"""Kinds that may run for minutes; they do not hold up other actions on their target."""


class ActionExecutor:
    def __init__(self, ctx: ExecContext, holder: str) -> None:
        self.ctx = ctx
        self.holder = holder

    def recover(self, alive: Collection[str] = (), claimed_before: datetime | None = None) -> int:
        """Hand actions claimed by a daemon that is gone (neither this one nor one of
        ``alive``; claimed before ``claimed_before`` when given) back to the queue."""
        gone = (Action.state == ActionState.RUNNING) & Action.claimed_by.not_in({self.holder, *alive})
        if claimed_before is not None:
            gone &= Action.claimed_at < claimed_before
        count = Action.update(state=ActionState.PENDING, claimed_by=None,
                              updated_at=self.ctx.clock()).where(gone).execute()
        if count:
            log.warning("recovered %d action(s) claimed by a daemon that stopped", count)
        return count

    def cluster_of(self, kind: str, target: str) -> str | None:
        """The cluster the action acts on (None: store-wide)."""
        cluster_by_team: dict[str, str] = {}
        for cluster in self.ctx.config.clusters:  # the first one serves a team, as in ExecContext
            cluster_by_team.setdefault(cluster.team, cluster.name)
        return cluster_of(kind, target, cluster_by_team)

    def candidates(self, limit: int = 20) -> list[tuple[int, str, str]]:
        """Pending actions, oldest first, as (id, kind, target)."""
        rows = (Action.select(Action.id, Action.kind, Action.target)
                .where(Action.state == ActionState.PENDING).order_by(Action.id).limit(limit).tuples())
        return list(rows)

    def claim(self, action_id: int) -> Action | None:
        now = self.ctx.clock()
        claimed = Action.update(
            state=ActionState.RUNNING, claimed_by=self.holder, claimed_at=now,
            attempts=Action.attempts + 1, updated_at=now,
        ).where((Action.id == action_id) & (Action.state == ActionState.PENDING)).execute()
        return Action.get_by_id(action_id) if claimed else None

    def execute(self, action: Action) -> None:
        """Validate again, carry out, record. Never raises."""
        try:
            checked = validate_request(
                action.kind, action.target, action.source_type, action.params,
                max_spec_bytes=self.ctx.config.storage.max_spec_bytes)
        except (UserError, NotFoundError) as exc:
            self._finish(action, Outcome(str(exc), None, state=ActionState.REJECTED))
            return
        except Exception as exc:  # a bug must not kill the worker
            log.exception("validating action %s failed", action.id)
            self._finish(action, Outcome(f"internal error: {exc}", None, state=ActionState.FAILED))
            return
        try:
            outcome = HANDLERS[action.kind](self.ctx, action, checked)
        except Released:
            touch(action, state=ActionState.PENDING, claimed_by=None)
            log.info("action %s (%s %s) handed back to the queue", action.id, action.kind, action.target)
            return
        except UserError as exc:
            outcome = Outcome(str(exc), None, state=ActionState.REJECTED)
        except BasecampError as exc:
            outcome = Outcome(str(exc), None, state=ActionState.FAILED)
        except Exception as exc:
            log.exception("action %s (%s %s) failed", action.id, action.kind, action.target)
            outcome = Outcome(f"internal error: {type(exc).__name__}: {exc}", None, state=ActionState.FAILED)
        self._finish(action, outcome)

    def _finish(self, action: Action, outcome: Outcome) -> None:
        now = self.ctx.clock()
        failed = outcome.state != ActionState.DONE
        values: dict[str, Any] = {
            "state": outcome.state, "result": outcome.result, "finished_at": now,
            "message": outcome.message, "error": outcome.message if failed else None,
        }
        # A log fetch of the dashboard following a running task comes every few seconds:
        # routine reads, not events (unless they fail).
        routine = (action.kind == "fetch_log" and bool((action.params or {}).get("follow"))
                   and not failed)
        with Action._meta.database.atomic():
            touch(action, **values)
            record_events([] if routine else [{
                "kind": "action", "severity": "error" if failed else "info",
                "subject": action.target,
                "message": f"{action.kind} by {action.requested_by}: {outcome.state}: {outcome.message}",
                "data": {"action_id": action.id, "kind": action.kind, "state": outcome.state},
            }], now)
        level = logging.WARNING if failed else logging.INFO
        log.log(level, "action %s %s %s: %s: %s", action.id, action.kind, action.target,
                outcome.state, outcome.message)
