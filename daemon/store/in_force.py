"""Which spec of a dataset is in force (SPEC §2): the one rule, for writers and readers.

Per dataset name there may be a code and a manual workflow row. The code spec is in force
when it has a valid version (current or last good) and is not removed; else the manual
one, on the same terms. The spec sync applies the rule when it writes (it marks a shadowed
manual row ``overridden``), so a query can also ask a single row: a row is in force when
it has a spec and is neither removed nor overridden.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daemon.core.states import SourceType, WorkflowStatus
from daemon.store.models import Workflow

NOT_IN_FORCE = (WorkflowStatus.REMOVED, WorkflowStatus.OVERRIDDEN)


def source_in_force(candidates: Iterable[str]) -> str | None:
    """Of the sources that have a valid spec and are not removed, the one in force."""
    sources = set(candidates)
    if SourceType.CODE in sources:
        return SourceType.CODE
    return SourceType.MANUAL if SourceType.MANUAL in sources else None


def in_force_condition() -> Any:
    """The rows in force, as a query condition on ``Workflow``: those with a spec that
    are neither removed nor overridden (the spec sync marks a shadowed manual row)."""
    return Workflow.spec.is_null(False) & Workflow.status.not_in(NOT_IN_FORCE)
