"""Detail screens pushed over the dashboard's tabs.

Imported lazily so that ``basecamp_tui.screens.formatting`` (used by the forms) does not
pull in the screens, which import the forms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from basecamp_tui.screens.run_detail import RunDetailScreen
    from basecamp_tui.screens.workflow_detail import WorkflowDetailScreen

__all__ = ["RunDetailScreen", "WorkflowDetailScreen"]


def __getattr__(name: str) -> Any:
    if name == "RunDetailScreen":
        from basecamp_tui.screens.run_detail import RunDetailScreen

        return RunDetailScreen
    if name == "WorkflowDetailScreen":
        from basecamp_tui.screens.workflow_detail import WorkflowDetailScreen

        return WorkflowDetailScreen
    raise AttributeError(name)
