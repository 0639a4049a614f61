"""Who may do what to a workflow (SPEC §2): checked at enqueue from the store, and again
by the daemon when it executes the action.

Actions name a dataset; ``source`` picks the code or manual row (the dashboard knows
which row is selected), and None means the spec in force.
"""

from __future__ import annotations

from daemon.core.errors import NotFoundError, UserError
from daemon.core.states import SourceType, WorkflowStatus
from daemon.store.in_force import source_in_force
from daemon.store.models import Workflow

GITOPS = (
    "This dataset is managed by Code (GitOps). Modify the YAML in Git and deploy via "
    "CI/CD. Only pause/unpause operations are allowed via CLI."
)
OVERRIDDEN_RUN = "This dataset is overridden by Code. Use the Code version."

PAUSE_KINDS = ("pause", "unpause")


def overridden_pause_message(code_path: str | None) -> str:
    where = f" ({code_path})" if code_path else ""
    return (
        "This dataset is overridden by Code. Pause/unpause acts on the Code version; to "
        f"re-activate the Manual version, delete the Code spec{where} in Git."
    )


def not_found_message(name: str) -> str:
    return f"Dataset not found: {name}. Register first: basecamp workflow register SPEC.yaml"


def live_workflows(name: str) -> dict[str, Workflow]:
    """The workflow rows of ``name`` that are not removed, keyed by source type."""
    rows = Workflow.select().where(
        (Workflow.dataset_name == name) & (Workflow.status != WorkflowStatus.REMOVED)
    )
    return {row.source_type: row for row in rows}


def check_action(kind: str, name: str, source: str | None = None, *, force: bool = False) -> Workflow:
    """The workflow row the action targets, or the SPEC §2 rejection."""
    rows = live_workflows(name)
    if not rows:
        raise NotFoundError(not_found_message(name))
    if kind == "unregister":
        return _check_unregister(rows)
    target = _target(name, rows, source)
    if target.status == WorkflowStatus.OVERRIDDEN:
        if kind in PAUSE_KINDS:
            code = rows.get(SourceType.CODE)
            raise UserError(overridden_pause_message(code.spec_path if code else None))
        raise UserError(OVERRIDDEN_RUN)
    if target.spec is None:
        raise UserError(
            f"{name} has no valid spec yet ({target.spec_path}): {target.spec_error}. "
            "Fix the spec first: basecamp specs --errors"
        )
    if kind == "run" and target.status == WorkflowStatus.PAUSED and not force:
        raise UserError(f"Workflow is paused. Unpause it first: basecamp workflow unpause {name}")
    return target


def check_register(name: str, *, force: bool) -> tuple[Workflow | None, Workflow | None]:
    """Register/update of a manual spec: returns (existing manual row, code row).

    A code spec does not block registration (the caller warns that the manual spec
    will be overridden); an existing manual spec needs ``--force`` to be updated.
    """
    rows = live_workflows(name)
    manual, code = rows.get(SourceType.MANUAL), rows.get(SourceType.CODE)
    if manual is not None and not force:
        raise UserError(
            f"{name} is already registered ({manual.spec_path}). "
            f"Use --force to update it: basecamp workflow register SPEC.yaml --force"
        )
    return manual, code


def _check_unregister(rows: dict[str, Workflow]) -> Workflow:
    manual = rows.get(SourceType.MANUAL)
    if manual is None:
        raise UserError(GITOPS)
    return manual


def _target(name: str, rows: dict[str, Workflow], source: str | None) -> Workflow:
    if source is not None:
        if source not in rows:
            raise NotFoundError(f"{name} has no {source} spec. " + not_found_message(name))
        return rows[source]
    in_force = source_in_force(source for source, row in rows.items() if row.spec is not None)
    if in_force is not None:
        return rows[in_force]
    # No valid spec at all: the row that says why (check_action reports its error).
    return rows.get(SourceType.MANUAL) or rows[SourceType.CODE]
