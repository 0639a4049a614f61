"""The error raised for a spec file that cannot be used."""

from __future__ import annotations

from daemon.core.errors import UserError
from daemon.specs.model import SpecIssue


class SpecInvalid(UserError):
    """A spec file failed to load or validate.

    ``name`` is the dataset name when the document declares a valid one despite the
    other problems, so the sync can attach the error to that workflow.
    """

    def __init__(self, path: str, issues: tuple[SpecIssue, ...], name: str | None = None):
        if not issues:
            raise ValueError("SpecInvalid needs at least one issue")
        self.path = path
        self.issues = issues
        self.name = name
        first = issues[0]
        where = path if first.line is None else f"{path}:{first.line}"
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"{where}: {first.message}{more}")
