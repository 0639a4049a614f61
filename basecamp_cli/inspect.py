"""``basecamp specs`` and ``basecamp events``: what the spec sync saw and what happened."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import click

from basecamp_cli.options import global_options, globals_of
from basecamp_cli.output import render, short_time
from basecamp_cli.store import open_for_cli
from daemon.core.timefmt import when
from daemon.read import guidance
from daemon.read.clusters import list_clusters
from daemon.read.events import list_events
from daemon.read.workflows import list_spec_files

SPEC_COLUMNS = (
    ("PATH", lambda r: r["path"]),
    ("SOURCE", lambda r: r["source_type"]),
    ("DATASET", lambda r: r["dataset_name"]),
    ("STATE", lambda r: r["state"]),
    ("ERROR / WARNINGS", lambda r: r["error"] or "; ".join(r["warnings"]) or None),
)

EVENT_COLUMNS = (
    ("AT (UTC)", lambda r: when(r["at"])),
    ("SEVERITY", lambda r: r["severity"]),
    ("KIND", lambda r: r["kind"]),
    ("SUBJECT", lambda r: r["subject"]),
    ("MESSAGE", lambda r: r["message"]),
)


@click.command("specs")
@click.option("--errors", is_flag=True, help="Only invalid and duplicate spec files.")
@global_options
@click.pass_context
def specs_command(ctx: click.Context, errors: bool) -> None:
    """One row per spec file: path, source, dataset, state, error."""
    open_for_cli(ctx)
    rows = list_spec_files(errors_only=errors)
    render(globals_of(ctx).format, rows, SPEC_COLUMNS,
           "No spec file errors." if errors else "No spec files.")


DURATION = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str) -> datetime:
    """``30m``, ``2h``, ``7d`` ago, or an ISO date/time (UTC unless it says otherwise)."""
    match = DURATION.match(value.strip())
    if match:
        amount, unit = match.groups()
        return datetime.now(timezone.utc) - timedelta(**{UNITS[unit]: int(amount)})
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: use a duration (30m, 2h, 7d) or an ISO time (2026-11-23T09:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@click.command("events")
@click.option("--kind", help="Only events of this kind (spec_error, source_change, …).")
@click.option("--since", help="Only events after this time: 30m, 2h, 7d or an ISO time.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True)
@global_options
@click.pass_context
def events_command(ctx: click.Context, kind: str | None, since: str | None, limit: int) -> None:
    """The event log, oldest first: spec errors, sync errors, source changes, …"""
    open_for_cli(ctx)
    since_at = parse_since(since) if since else None
    rows = [event.as_json() for event in list_events(kind=kind, since=since_at, limit=limit)]
    render(globals_of(ctx).format, rows, EVENT_COLUMNS, "No events.")


CLUSTER_COLUMNS = (
    ("NAME", lambda r: r["name"]),
    ("TEAM", lambda r: r["team"]),
    ("URL", lambda r: r["url"]),
    ("API", lambda r: r["api_version"]),
    ("AIRFLOW", lambda r: r["airflow_version"]),
    ("HEALTHY", lambda r: {True: "yes", False: "NO", None: "unknown"}[r["healthy"]]),
    ("LATENCY", lambda r: None if r["latency_ms"] is None else f"{r['latency_ms']:.0f} ms"),
    ("LAST OK (UTC)", lambda r: short_time(r["last_ok_at"])),
    ("LAST ERROR", lambda r: r["last_error"]),
    ("OWNER", lambda r: r["owner"]),
    ("IMPORT ERRORS", lambda r: "\n".join(
        f"{e['filename']}: {e['summary']}" for e in r["import_errors"]) or None),
)


@click.command("clusters")
@global_options
@click.pass_context
def clusters_command(ctx: click.Context) -> None:
    """One row per configured Airflow cluster, with its last health check."""
    open_for_cli(ctx)
    render(globals_of(ctx).format, [row.as_json() for row in list_clusters()], CLUSTER_COLUMNS,
           guidance.no_clusters)
