"""The action queue (SPEC §4): the write API of the CLI and the dashboard.

They check a request against the store (the SPEC §2 permissions, parameters, dates) and
enqueue it; the daemon picks it up (``dispatch``), claims it, checks it again, carries it
out and records the outcome (``executor``, ``handlers``, ``backfill``): the daemon's side,
not part of this API.
"""

from daemon.actions.permissions import check_register
from daemon.actions.queue import enqueue, enqueue_checked, outcome_json, wait_for
from daemon.actions.validate import (
    MARK_STATES,
    MAX_BACKFILL_RUNS,
    Validated,
    backfill_dates,
    checked_run,
    checked_target,
    spec_errors,
    validate_request,
)
from daemon.store.models import Action  # the action row the queue hands back

__all__ = [
    "MARK_STATES",
    "MAX_BACKFILL_RUNS",
    "Action",
    "Validated",
    "backfill_dates",
    "check_register",
    "checked_run",
    "checked_target",
    "enqueue",
    "enqueue_checked",
    "outcome_json",
    "spec_errors",
    "validate_request",
    "wait_for",
]
