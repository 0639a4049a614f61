"""Events tab: the event log, newest first, coloured by severity."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from basecamp_tui.palette import BAD, QUIET, WAIT
from basecamp_tui.tabs.base import Column, LiveTable, Sort
from basecamp_tui.text import literal
from daemon.core.timefmt import when
from daemon.read.events import EventRow

SEVERITY_STYLE = {"error": BAD, "warning": WAIT, "info": "", "debug": QUIET}
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
        return (Text(when(row.at, precision="short_seconds")), Text(row.severity, style=style),
                Text(row.kind), literal(row.subject), literal(message, style))

    def trim(self) -> None:
        """Keep the newest KEEP events."""
        if len(self.model) > KEEP:
            self.drop(sorted(self.model, key=int)[: len(self.model) - KEEP])
