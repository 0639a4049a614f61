"""The state names of basecamp, defined once (SPEC §2, §3, §4).

``StrEnum`` members are strings: they compare equal to the stored text, go into queries
and JSON as themselves, and print as their value.
"""

from __future__ import annotations

from enum import StrEnum


class SourceType(StrEnum):
    """Where a spec comes from: Git via CI (``code``) or registered by a user (``manual``)."""

    CODE = "code"
    MANUAL = "manual"


class WorkflowStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    """The DAG is paused in Airflow."""
    DISABLED = "disabled"
    """``schedule.enabled: false``."""
    OVERRIDDEN = "overridden"
    """A manual spec shadowed by a code spec of the same name."""
    REMOVED = "removed"
    """The spec is gone; the row is kept for history."""
    INVALID = "invalid"
    """The spec was never valid: nothing to run."""


class SpecFileState(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    DUPLICATE = "duplicate"


class RunStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    STOPPING = "STOPPING"
    """basecamp asked Airflow to stop the run; Airflow has not confirmed yet."""
    STOPPED = "STOPPED"
    SKIPPED = "SKIPPED"
    UNKNOWN = "UNKNOWN"
    """Was pending or running, then vanished from Airflow."""


ACTIVE_RUN_STATUSES: tuple[RunStatus, ...] = (RunStatus.PENDING, RunStatus.RUNNING,
                                              RunStatus.STOPPING)
"""Runs that may still change in Airflow."""


class ActionState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"


OPEN_ACTION_STATES: tuple[ActionState, ...] = (ActionState.PENDING, ActionState.RUNNING)
FINISHED_ACTION_STATES: tuple[ActionState, ...] = (ActionState.DONE, ActionState.FAILED,
                                                   ActionState.REJECTED)


class NotificationState(StrEnum):
    """A notification in the outbox."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
