"""Clusters tab: health, versions, latency and how old each cluster's data is."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from basecamp_tui.palette import BAD, GOOD, QUIET, WARN
from basecamp_tui.tabs.base import Column, LiveTable, Sort
from basecamp_tui.text import age_text, literal
from daemon.read.clusters import ClusterRow


def health(row: ClusterRow) -> Text:
    if row.healthy is None:
        return Text("? unknown", style=QUIET)
    return Text("● healthy", style=GOOD) if row.healthy else Text("✗ failing", style=BAD)


def import_errors(row: ClusterRow) -> Text:
    """``2: dags/x.py: SyntaxError…``: how many DAG files fail, and the first one."""
    if not row.import_errors:
        return literal(None)
    first = row.import_errors[0]
    return literal(f"{len(row.import_errors)}: {first.filename}: {first.summary}", WARN)


class ClustersTable(LiveTable[ClusterRow]):
    COLUMNS = (
        Column("name", "Cluster", 14), Column("health", "Health", 11),
        Column("airflow", "Airflow", 8), Column("api", "API", 4),
        Column("latency", "Latency", 8), Column("age", "Data age", 9),
        Column("owner", "Daemon", 16, drop=1), Column("error", "Last error", 32),
        Column("imports", "Import errors", 40, drop=2),
        Column("team", "Team", 16, drop=3), Column("url", "URL", 36, drop=4),
    )
    """At 120 columns: everything up to the last error; wider, the import errors (also in
    ``basecamp clusters``), the team and the URL."""
    SORTS = (
        Sort("name", lambda r: r.name),
        Sort("health", lambda r: ({False: 0, None: 1, True: 2}[r.healthy], r.name)),
    )
    TICKS = True

    def shown(self, row: ClusterRow) -> bool:
        return not self.failed_only or row.healthy is False

    def haystack(self, row: ClusterRow) -> str:
        return " ".join(filter(None, (row.name, row.team, row.url, row.last_error, row.owner,
                                      *(e.filename for e in row.import_errors))))

    def cells(self, row: ClusterRow, now: datetime) -> tuple[Text, ...]:
        latency = None if row.latency_ms is None else f"{row.latency_ms:.0f} ms"
        data_age = age_text(now, row.runs_synced_at)
        if row.healthy is False:
            data_age.stylize(BAD)
        error = literal(row.last_error.splitlines()[0] if row.last_error else "", WARN)
        return (Text(row.name), health(row), literal(row.airflow_version),
                literal(row.api_version), literal(latency), data_age, literal(row.owner), error,
                import_errors(row), literal(row.team), literal(row.url))
