"""Dashboard fixtures: a small store with every kind of row, a fixed clock, and helpers
that wait for the app to show what the store holds (no sleeps)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
from peewee import Database

from basecamp_tui.app import BasecampApp
from daemon.core.config import Config, parse_config
from daemon.store.models import (
    Action,
    Cluster,
    DaemonLease,
    Event,
    Run,
    SyncState,
    Workflow,
)
from tests.waiting import pilot_until

NOW = datetime(2025, 6, 2, 9, 0, 0, tzinfo=timezone.utc)


def fixed_clock() -> datetime:
    return NOW


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


def seed(now: datetime = NOW) -> None:
    """Deterministic rows: a code/manual pair, a paused, a broken and a hostile workflow;
    running, queued, failed and finished runs; a healthy and an unreachable cluster."""
    stamp = now - timedelta(hours=1)
    Cluster.create(name="dp-airflow", team="@data-platform", url="http://dp.example:8080",
                   airflow_version="3.0.2", detected_api_version="v2", healthy=True,
                   latency_ms=42.0, last_ok_at=now, updated_at=stamp)
    Cluster.create(name="ml-airflow", team="@ml", url="http://ml.example:8080",
                   airflow_version="2.10.5", detected_api_version="v1", healthy=False,
                   latency_ms=None, last_ok_at=now - timedelta(minutes=12),
                   last_error="Connection failed: [Errno 111] refused [bold]x[/bold]",
                   updated_at=stamp)
    SyncState.create(key="runs:dp-airflow", last_ok_at=now - timedelta(seconds=20), updated_at=stamp)
    SyncState.create(key="runs:ml-airflow", last_ok_at=now - timedelta(minutes=12), updated_at=stamp)

    def workflow(name: str, source: str, status: str, **extra: Any) -> None:
        values = dict(dataset_name=name, source_type=source, status=status, cron="0 9 * * *",
                      timezone="Asia/Seoul", team="@data-platform", owner="engineer@example.com",
                      next_run=now + timedelta(hours=24), updated_at=stamp, created_at=stamp)
        values.update(extra)
        Workflow.create(**values)

    workflow("ds.clicks", "code", "active")
    workflow("ds.clicks", "manual", "overridden", overridden_by="code", cron="0 8 * * *",
             next_run=None)
    workflow("ds.adhoc", "manual", "paused", cron="*/30 * * * *", timezone="UTC", next_run=None,
             is_paused=True)
    workflow("ds.broken", "code", "active", spec_error="line 3: schedule.cron: invalid cron '* *'")
    workflow("ds.[red]markup[/red]", "manual", "active", owner="[bold]eve[/bold]@example.com")
    workflow("ds.ml.features", "code", "active", team="@ml", cron="30 2 * * *", timezone="UTC",
             next_run=now + timedelta(hours=17, minutes=30))
    workflow("ds.gone", "code", "removed", next_run=None)

    def run(name: str, dag_run_id: str, status: str, started: datetime | None,
            ended: datetime | None = None, **extra: Any) -> None:
        values = dict(cluster="ml-airflow" if ".ml." in name else "dp-airflow", dag_id=f"dp__{name}",
                      dag_run_id=dag_run_id, dataset_name=name, status=status,
                      airflow_state=status.lower(), run_type="scheduled", started_at=started,
                      ended_at=ended, queued_at=started, total=3, updated_at=stamp,
                      created_at=started or stamp)
        values.update(extra)
        Run.create(**values)

    run("ds.clicks", "scheduled__2025-06-02T00:00:00+00:00", "RUNNING", now - timedelta(minutes=5),
        succeeded=1, running=1, queued=1, current_task="run_query")
    run("ds.clicks", "scheduled__2025-06-01T00:00:00+00:00", "SUCCESS", now - timedelta(days=1),
        now - timedelta(days=1) + timedelta(minutes=3), succeeded=3)
    run("ds.broken", "scheduled__2025-06-01T00:00:00+00:00", "FAILED", now - timedelta(hours=20),
        now - timedelta(hours=20) + timedelta(seconds=95), succeeded=1, failed=1, skipped=1)
    run("ds.adhoc", "adhoc__20250602T084500", "PENDING", None, run_type="manual",
        triggered_by="alice", queued_at=now - timedelta(minutes=15), queued=3)
    run("ds.ml.features", "scheduled__2025-06-01T02:30:00+00:00", "SUCCESS",
        now - timedelta(hours=6), now - timedelta(hours=5, minutes=50), succeeded=3)

    for i, (severity, kind, subject, message) in enumerate((
        ("info", "spec_sync", "specs", "7 specs, 1 error"),
        ("error", "spec_error", "code/broken.yaml", "line 3: schedule.cron: invalid cron '* *'"),
        ("warning", "cluster_health", "ml-airflow", "unreachable: [red]refused[/red]"),
        ("info", "source_change", "ds.clicks", "code spec now in force"),
    )):
        Event.create(at=now - timedelta(minutes=30 - i), kind=kind, severity=severity,
                     subject=subject, message=message)
    Action.create(kind="pause", target="ds.adhoc", source_type="manual", requested_by="bob",
                  requested_at=now - timedelta(seconds=5), updated_at=stamp)
    DaemonLease.create(key="daemon", holder="host:1:abc", hostname="host", pid=1, version="0.1.0",
                       started_at=now - timedelta(hours=2), heartbeat_at=now - timedelta(seconds=3),
                       status="idle")


@pytest.fixture
def tui_store(store: Database) -> Database:
    seed()
    return store


def make_config(db: Database, ui: str = "") -> Config:
    return parse_config(f'[database]\nurl = "sqlite:///{db.database}"\n{ui}', None)


@pytest.fixture
def make_app(tui_store: Database) -> Callable[..., BasecampApp]:
    def build(read_only: bool = False, ui: str = "", **kwargs: Any) -> BasecampApp:
        return BasecampApp(make_config(tui_store, ui), read_only=read_only,
                           clock=kwargs.pop("clock", fixed_clock), **kwargs)

    return build




async def loaded(pilot: Any) -> None:
    """The first load and the runs' history that follows it are on screen."""
    await pilot_until(pilot, lambda: pilot.app.first_load_done
                      and pilot.app.watcher.history_done.is_set())
    await pilot.pause()


def cell(table: Any, row_key: str, column: str) -> str:
    return table.get_cell(row_key, column).plain




@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
