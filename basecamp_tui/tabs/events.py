"""Events tab: the event log, newest first, coloured by severity."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from daemon.read.changes import EventRow
from basecamp_tui.tabs.base import Column, LiveTable, Sort

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "", "debug": "dim"}
KEEP = 1000


def _rank(severity: str) -> int:
    order = list(SEVERITY_STYLE)
    return order.index(severity) if severity in order else len(order)


class EventsTable(LiveTable[EventRow]):
    COLUMNS = (
        Column("at", "Time", 14), Column("severity", "Severity", 8), Column("kind", "Kind", 18),
        Column("subject", "Subject", 26), Column("message", "Message", 80),
    )
    SORTS = (
        Sort("newest", lambda r: -r.id),
        Sort("severity", lambda r: (_rank(r.severity), -r.id)),
        Sort("kind", lambda r: (r.kind, -r.id)),
    )

    def shown(self, row: EventRow) -> bool:
        return not self.failed_only or row.severity == "error"

    def haystack(self, row: EventRow) -> str:
        return " ".join((row.kind, row.severity, row.subject, row.message))

    def cells(self, row: EventRow, now: datetime) -> tuple[Text, ...]:
        style = SEVERITY_STYLE.get(row.severity, "")
        message = row.message.splitlines()[0] if row.message else ""
        return (Text(row.at.strftime("%m-%d %H:%M:%S")), Text(row.severity, style=style),
                Text(row.kind), Text(row.subject), Text(message, style=style))

    def trim(self) -> None:
        """Keep the newest KEEP events."""
        if len(self.model) > KEEP:
            self.drop(sorted(self.model, key=int)[: len(self.model) - KEEP])
