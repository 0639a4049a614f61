"""``basecamp config check``: validate the config file, then reach the store, the spec
store and every cluster with the configured credentials (read-only calls only)."""

from __future__ import annotations

import time
from typing import Callable

import click

from basecamp_cli.options import global_options, globals_of
from basecamp_cli.output import print_json, print_table
from daemon.core.config import load_config
from daemon.core.errors import BasecampError
from daemon.store import migrations
from daemon.store.db import connect


class CheckFailed(BasecampError):
    """At least one check failed (exit 1)."""


def _run(name: str, check: Callable[[], str]) -> dict[str, object]:
    started = time.monotonic()
    try:
        detail, ok = check(), True
    except Exception as exc:  # every failure is reported as a row, not a traceback
        detail, ok = str(exc) or type(exc).__name__, False
    return {"check": name, "ok": ok, "detail": detail,
            "ms": round((time.monotonic() - started) * 1000)}


@click.group("config")
def config_group() -> None:
    """The configuration file."""


@config_group.command("check")
@global_options
@click.pass_context
def check_command(ctx: click.Context) -> None:
    """Validate the config and reach the store, the spec store and every cluster."""
    # boto3 and httpx are slow to import: only here, not in every command's start
    from daemon.airflow import AirflowClient
    from daemon.spec_store import spec_store_for

    config = load_config(globals_of(ctx).config)  # a broken file: exit 1 with file:line
    source = str(config.source) if config.source else "embedded defaults (no config file)"
    rows = [{"check": "config", "ok": True, "detail": source, "ms": 0}]

    def database() -> str:
        db = connect(config.database.url)
        try:
            version = migrations.current_version(db)
        finally:
            db.close()
        return f"{config.database.url.split('://')[0]} store, schema version {version} of {migrations.LATEST_VERSION}"

    rows.append(_run("store", database))
    rows.append(_run("spec store", lambda: f"{len(spec_store_for(config.storage).list())} spec files listed"))
    for cluster in config.clusters:
        def reach(cluster=cluster) -> str:
            with AirflowClient(cluster) as client:
                info = client.version(refresh=True)
                paused = client.list_paused_dag_ids(dag_id_prefix=cluster.dag_name_prefix or None)
            return (f"Airflow {info.airflow_version} via /api/{info.api_version}, credentials "
                    f"accepted ({len(paused)} paused DAGs)")
        rows.append(_run(f"cluster {cluster.name}", reach))
    if globals_of(ctx).format == "json":
        print_json(rows)
    else:
        print_table([{**r, "ok": "ok" if r["ok"] else "FAILED"} for r in rows], (
            ("CHECK", lambda r: r["check"]), ("RESULT", lambda r: r["ok"]),
            ("DETAIL", lambda r: r["detail"]), ("MS", lambda r: str(r["ms"]))), "")
    failed = [r["check"] for r in rows if not r["ok"]]
    if failed:
        raise CheckFailed(f"{len(failed)} check(s) failed: {', '.join(failed)}")
