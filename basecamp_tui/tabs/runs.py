"""Runs tab: running (and queued, stopping) runs first, then the recent ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text

from basecamp_tui.palette import (
    GOOD,
    QUIET,
    WAIT,
    WAITING_FOR_INPUT,
    WARN,
    status_text,
    waiting_text,
)
from basecamp_tui.tabs.base import Column, LiveTable, Sort
from basecamp_tui.tabs.workflows import pending_text
from basecamp_tui.text import duration_text, literal, time_text
from daemon.core.states import RunStatus
from daemon.read.changes import RunRow

BAR = 5
EPOCH = 0.0


def progress_bar(row: RunRow) -> Text:
    """``━━───`` and ``3/5``: succeeded green, failed red, skipped dim, the rest a thin
    line (line characters line up in every font; shade blocks do not)."""
    total = max(row.total, 0)
    text = Text()
    if total == 0:
        return Text("─" * BAR + " 0/0", style=QUIET)
    parts = [(row.succeeded, GOOD), (row.failed, WARN), (row.skipped, QUIET)]
    used = 0
    for count, style in parts:
        cells = round(BAR * count / total)
        cells = min(cells, BAR - used)
        text.append("━" * cells, style=style)
        used += cells
    text.append("─" * (BAR - used), style=QUIET)
    text.append(f" {row.succeeded + row.failed + row.skipped}/{total}")
    return text


def _when(row: RunRow) -> float:
    return row.at.timestamp() if row.at else EPOCH


class RunsTable(LiveTable[RunRow]):
    # 80 columns show status, progress, dataset, current task and duration; 120 add when
    # it started and the cluster; wider screens the trigger and the run id.
    COLUMNS = (
        Column("status", "Status", 10), Column("progress", "Progress", 11),
        Column("dataset", "Dataset", 24), Column("task", "Current task", 16),
        Column("duration", "Duration", 8), Column("started", "Started", 11, drop=1),
        Column("cluster", "Cluster", 14, drop=2), Column("trigger", "Trigger", 18, drop=3),
        Column("run", "Run id", 36, drop=4),
    )
    SORTS = (
        Sort("running first", lambda r: (not r.active, -_when(r), -r.id)),
        Sort("started", lambda r: (-_when(r), -r.id)),
        Sort("dataset", lambda r: (r.dataset_name, -_when(r))),
        Sort("status", lambda r: (r.status, -_when(r))),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: dict[str, list[str]] = {}
        """Open action kinds by public run id (stop) or dataset name (run, backfill)."""

    def shown(self, row: RunRow) -> bool:
        return not self.failed_only or row.status == RunStatus.FAILED

    def haystack(self, row: RunRow) -> str:
        return " ".join(filter(None, (row.run_id, row.status, row.cluster, row.run_type,
                                      row.triggered_by, row.current_task,
                                      WAITING_FOR_INPUT if row.waiting_for_input else None)))

    def ticking(self, row: RunRow) -> bool:
        return row.active

    def cells(self, row: RunRow, now: datetime) -> tuple[Text, ...]:
        status = status_text(row.status)
        status.append_text(pending_text(self.pending.get(row.run_id, [])))
        if row.started_at is None:
            took = None
        else:
            took = ((row.ended_at or now) - row.started_at).total_seconds()
        trigger = " · ".join(filter(None, (row.run_type, row.triggered_by)))
        # coarse when slow, so "12m slow" still fits the column
        took_text = duration_text(took, coarse=row.active or row.slow)
        if row.slow and took is not None:
            took_text.append(" slow")
            took_text.stylize(WAIT)
        return (
            status, progress_bar(row), Text(row.dataset_name),
            waiting_text() if row.waiting_for_input else literal(row.current_task),
            took_text, time_text(row.started_at, precision="short"),
            Text(row.cluster), literal(trigger),
            Text(row.run_id.split("/", 1)[1] if "/" in row.run_id else row.run_id),
        )
