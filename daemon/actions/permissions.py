"""Who may do what to a workflow (SPEC §2): checked at enqueue from the store, and again
by the daemon when it executes the action.

Actions name a dataset; ``source`` picks the code or manual row (the dashboard knows
which row is selected), and None means the spec in force.
"""

from __future__ import annotations

from daemon.core.errors import NotFoundError, UserError
from daemon.store.models import Workflow

GITOPS = (
    "This dataset is managed by Code (GitOps). Modify the YAML in Git and deploy via "
    "CI/CD. Only pause/unpause operations are allowed via CLI."
)
OVERRIDDEN_RUN = "This dataset is overridden by Code. Use the Code version."

RUN_KINDS = ("run", "backfill", "stop")
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
        (Workflow.dataset_name == name) & (Workflow.status != "removed")
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
    if target.status == "overridden":
        if kind in PAUSE_KINDS:
            code = rows.get("code")
            raise UserError(overridden_pause_message(code.spec_path if code else None))
        raise UserError(OVERRIDDEN_RUN)
    if target.spec is None:
        raise UserError(
            f"{name} has no valid spec yet ({target.spec_path}): {target.spec_error}. "
            "Fix the spec first: basecamp specs --errors"
        )
    if kind == "run" and target.status == "paused" and not force:
        raise UserError(f"Workflow is paused. Unpause it first: basecamp workflow unpause {name}")
    return target


def check_register(name: str, *, force: bool) -> tuple[Workflow | None, Workflow | None]:
    """Register/update of a manual spec: returns (existing manual row, code row).

    A code spec does not block registration (the caller warns that the manual spec
    will be overridden); an existing manual spec needs ``--force`` to be updated.
    """
    rows = live_workflows(name)
    manual, code = rows.get("manual"), rows.get("code")
    if manual is not None and not force:
        raise UserError(
            f"{name} is already registered ({manual.spec_path}). "
            f"Use --force to update it: basecamp workflow register SPEC.yaml --force"
        )
    return manual, code


def _check_unregister(rows: dict[str, Workflow]) -> Workflow:
    manual = rows.get("manual")
    if manual is None:
        raise UserError(GITOPS)
    return manual


def _target(name: str, rows: dict[str, Workflow], source: str | None) -> Workflow:
    if source is not None:
        if source not in rows:
            raise NotFoundError(f"{name} has no {source} spec. " + not_found_message(name))
        return rows[source]
    code = rows.get("code")
    if code is not None and code.spec is not None:
        return code
    return rows.get("manual") or code  # type: ignore[return-value]
