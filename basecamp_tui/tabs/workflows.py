"""Workflows tab: one row per (dataset, source), both rows of a code/manual pair."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any, Callable

from rich.text import Text

from basecamp_tui.charts import run_strip, sparkline
from basecamp_tui.palette import BAD, QUIET, SYMBOLS, WAIT, WARN, status_text, style_of
from basecamp_tui.tabs.base import Column, LiveTable, Sort
from basecamp_tui.text import literal, time_text
from daemon.core.states import RunStatus, WorkflowStatus
from daemon.core.timefmt import when
from daemon.read.changes import WorkflowRow
from daemon.read.runs import LastRun, RecentRun

FAR_FUTURE = datetime.max.replace(tzinfo=None).isoformat()


def pending_text(kinds: list[str]) -> Text:
    """Open actions on a row: `` …pause`` (plain characters: emoji have no reliable width
    in terminals)."""
    return Text(" …" + ",".join(kinds), style=f"bold {WAIT}") if kinds else Text()


class WorkflowsTable(LiveTable[WorkflowRow]):
    # 80 columns show dataset, source, status, the recent runs and the next run; 120 add
    # the last run, the duration trend and the cron; wider screens the rest.
    COLUMNS = (
        Column("dataset", "Dataset", 26), Column("source", "Source", 6),
        Column("status", "Status", 16), Column("recent", "Recent", 10),
        Column("last_run", "Last run", 13, drop=3), Column("next_run", "Next run", 11, drop=1),
        Column("trend", "Duration", 10, drop=2), Column("cron", "Cron", 12, drop=4),
        Column("timezone", "Timezone", 14, drop=5), Column("cluster", "Cluster", 14, drop=6),
        Column("team", "Team", 16, drop=7), Column("owner", "Owner", 22, drop=8),
        Column("error", "Error", 60, drop=9),
    )
    SORTS = (
        Sort("name", lambda r: (r.dataset_name, r.source_type)),
        Sort("status", lambda r: (r.status, r.dataset_name, r.source_type)),
        Sort("next run", lambda r: (r.next_run.isoformat() if r.next_run else FAR_FUTURE,
                                    r.dataset_name)),
        Sort("team", lambda r: (r.team or "", r.dataset_name, r.source_type)),
    )

    def __init__(self, clock: Callable[[], datetime], history_wanted: deque[str],
                 **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.source = "all"
        self.last_runs: dict[str, LastRun] = {}
        self.history: dict[str, tuple[RecentRun, ...]] = {}
        """The last runs of each dataset, oldest first (strip and duration sparkline)."""
        self.history_wanted = history_wanted
        """Where the rows painted before their history came say so (the store watcher's
        queue: it loads their history first)."""
        self.clusters: dict[str, str] = {}
        """Cluster name by team."""
        self.dag_errors: dict[str, str] = {}
        """Why no DAG of a team is built (its cluster's DAG factory fails to import)."""
        self.pending: dict[str, list[str]] = {}
        """Open action kinds by dataset name."""

    def shown(self, row: WorkflowRow) -> bool:
        if row.status == WorkflowStatus.REMOVED:
            return False
        if self.source != "all" and row.source_type != self.source:
            return False
        if self.failed_only:
            last = self.last_runs.get(row.dataset_name)
            return bool(row.spec_error) or (last is not None and last.status == RunStatus.FAILED
                                            and row.status != WorkflowStatus.OVERRIDDEN)
        return True

    def haystack(self, row: WorkflowRow) -> str:
        # team and owner are matched though not shown (the detail screen has them)
        return " ".join(filter(None, (row.dataset_name, row.source_type, row.status, row.team,
                                      row.owner, row.cron, self.clusters.get(row.team or ""))))

    def cells(self, row: WorkflowRow, now: datetime) -> tuple[Text, ...]:
        status = status_text(row.status)
        if row.status == WorkflowStatus.OVERRIDDEN:
            status = Text(f"overridden by {row.overridden_by or 'code'}", style=QUIET)
        elif row.spec_error:
            status.append(" spec error", style=BAD)
        status.append_text(pending_text(self.pending.get(row.dataset_name, [])))
        last = None if row.status == WorkflowStatus.OVERRIDDEN else self.last_runs.get(row.dataset_name)
        if last is None:
            last_cell = literal(None)
        else:  # its symbol and time in its status's colour (the word is in the strip's colour)
            last_cell = Text(f"{SYMBOLS.get(last.status, '?')} "
                             + (when(last.at, precision="short") if last.at else ""),
                             style=style_of(last.status))
        problem = row.spec_error.splitlines()[0] if row.spec_error else None
        error = literal(problem or self.dag_errors.get(row.team or "") or "", WARN)
        history: tuple[RecentRun, ...] = ()
        if row.status != WorkflowStatus.OVERRIDDEN:
            history = self.history.get(row.dataset_name, ())
            if row.dataset_name not in self.history:
                self.history_wanted.append(row.dataset_name)
        return (
            Text(row.dataset_name), Text(row.source_type), status, run_strip(history),
            last_cell, time_text(row.next_run, precision="short"),
            sparkline([run.seconds for run in history]), literal(row.cron),
            literal(row.timezone), literal(self.clusters.get(row.team or "")),
            literal(row.team), literal(row.owner), error,
        )
