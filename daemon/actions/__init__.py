"""The action queue (SPEC §4): the CLI and the dashboard validate and enqueue; the daemon
claims, validates again, carries out and records the outcome."""

from daemon.actions.queue import enqueue, enqueue_checked, outcome_json, wait_for
from daemon.actions.validate import Validated, validate_request

__all__ = [
    "Validated",
    "enqueue",
    "enqueue_checked",
    "outcome_json",
    "validate_request",
    "wait_for",
]
