"""The run detail's header and progress counts as Rich text (no Textual imports).

Each gap between fields ends the segment before it: a styled segment never starts with
spaces, because SVG exports (the snapshots, ``save_screenshot``) turn leading spaces into
ones that run the words together ("de-prodtype").
"""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from basecamp_tui.palette import (
    BUSY,
    GOOD,
    QUIET,
    WAIT,
    WARN,
    status_text,
    waiting_text,
)
from basecamp_tui.text import duration_text, literal, time_text
from daemon.core.timefmt import span
from daemon.read.runs import RunDetail, RunView


def run_header(data: RunDetail, run_id: str, now: datetime) -> Text:
    """Id and status; cluster, type, trigger; dates; the note, questions waiting for an
    answer and open actions (a log fetch shows in the log title instead)."""
    run = data.run
    if run is None:
        return Text(data.error or f"Run not found: {run_id}", style="red")
    text = Text.assemble(literal(run.public_id, "bold"), "  ")
    text.append_text(status_text(run.status))
    if run.airflow_state and run.airflow_state.upper() != run.status:
        text.append(" ")
        text.append(f"(Airflow: {run.airflow_state})", style="dim")
    elapsed = duration_text(span(run.started_at, run.ended_at, now))
    for row in ((("cluster", literal(run.cluster)), ("type", literal(run.run_type)),
                 ("by", literal(run.triggered_by))),
                (("logical", time_text(run.logical_date)),
                 ("started", time_text(run.started_at)), ("took", elapsed))):
        text.append("\n")
        for index, (label, value) in enumerate(row):
            if index:
                text.append("  ")
            text.append(f"{label} ", style="dim")
            text.append_text(value)
    if run.note:
        text.append("\n")
        text.append_text(Text.assemble(("note ", "dim"), literal(run.note)))
    for request in data.inputs:
        text.append("\n")
        text.append_text(Text.assemble(
            waiting_text(), " ", literal(request.label, "bold"), ": ",
            literal(request.subject), "  ", ("(i answers)", "dim")))
    for action in data.pending:
        if action.kind == "fetch_log":
            continue
        text.append("\n")
        text.append(f"… {action.kind} {action.state}", style="yellow")
        text.append("  ")
        text.append(f"(#{action.id}, by {action.requested_by})", style="dim")
    return text


def progress_counts(run: RunView) -> Text:
    """``2/4 done  2 ok  1 running  1 queued``: only the counts that are not zero."""
    done = run.succeeded + run.failed + run.skipped
    text = Text(f"{done}/{run.total} done")
    for label, value, style in (("ok", run.succeeded, GOOD), ("failed", run.failed, WARN),
                                ("running", run.running, BUSY), ("queued", run.queued, WAIT),
                                ("skipped", run.skipped, QUIET)):
        if value:
            text.append("  ")
            text.append(f"{value} {label}", style=style)
    return text
