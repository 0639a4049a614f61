"""The action queue (SPEC §4): the CLI and the dashboard validate and enqueue; the daemon
claims, validates again, carries out and records the outcome."""

from daemon.actions.queue import (
    FINISHED,
    KINDS,
    enqueue,
    outcome_json,
    pending_actions,
    wait_for,
)
from daemon.actions.validate import Validated, validate_request

__all__ = [
    "FINISHED",
    "KINDS",
    "Validated",
    "enqueue",
    "outcome_json",
    "pending_actions",
    "validate_request",
    "wait_for",
]
