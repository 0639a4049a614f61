"""A big synthetic store for bench/dashboard.py: workflows, runs (some running), clusters."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from daemon.store.models import Cluster, Event, Run, SyncState, Workflow

TEAMS = ("@data-platform", "@analytics", "@ml", "@finance")
STATES = ("SUCCESS",) * 8 + ("FAILED", "STOPPED")


def seed(workflows: int, runs: int, running: int, now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)
    rnd = random.Random(7)
    db = Workflow._meta.database
    with db.atomic():
        for i, team in enumerate(TEAMS):
            Cluster.create(name=f"cluster-{i}", team=team, url=f"http://airflow-{i}:8080",
                           airflow_version="3.0.2", detected_api_version="v2", healthy=True,
                           latency_ms=12.5, last_ok_at=now, checked_at=now, updated_at=now)
            SyncState.create(key=f"runs:cluster-{i}", last_ok_at=now, updated_at=now)
        rows = []
        for i in range(workflows):
            rows.append(dict(
                dataset_name=f"ds.team{i % 40}.table_{i:05d}", source_type="code" if i % 5 else "manual",
                status="active", cron="0 * * * *", timezone="UTC", team=TEAMS[i % len(TEAMS)],
                owner=f"owner{i % 97}@example.com", next_run=now + timedelta(hours=1),
                updated_at=now - timedelta(days=1), created_at=now - timedelta(days=1)))
        for start in range(0, len(rows), 500):
            Workflow.insert_many(rows[start:start + 500]).execute()
        rows = []
        for i in range(runs):
            w = i % workflows
            active = i < running
            # Running runs started at any second (not on whole minutes from ``now``): their
            # durations then change at different ticks, as a real store's do, instead of
            # all at once every minute (which a 10 s idle window catches or misses).
            started = now - (timedelta(minutes=runs - i) if not active
                             else timedelta(seconds=rnd.randint(60, 3600)))
            rows.append(dict(
                cluster=f"cluster-{w % len(TEAMS)}", dag_id=f"ds.team{w % 40}.table_{w:05d}",
                dag_run_id=f"scheduled__{i:07d}", dataset_name=f"ds.team{w % 40}.table_{w:05d}",
                status="RUNNING" if active else rnd.choice(STATES), airflow_state="running",
                run_type="scheduled", started_at=started,
                ended_at=None if active else started + timedelta(minutes=3),
                total=5, succeeded=2 if active else 5, running=1 if active else 0,
                current_task="transform" if active else None,
                updated_at=now - timedelta(hours=1), created_at=started))
        for start in range(0, len(rows), 500):
            Run.insert_many(rows[start:start + 500]).execute()
        Event.insert_many([dict(at=now, kind="spec_sync", severity="info", subject="specs",
                                message=f"sync {i}") for i in range(200)]).execute()
