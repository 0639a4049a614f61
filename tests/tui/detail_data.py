"""Store contents and a minimal app for the detail screens' tests.

``build_store()`` fills an empty migrated store (the ``store`` fixture) with a code/manual
pair, a paused manual workflow, runs, tasks and a fetched log; untrusted fields carry
markup-like text so tests and snapshots show it is rendered literally.
``DetailHarness`` has the attributes the screens and ``ActionRequests`` use from
``BasecampApp`` (config, read_only, clock, requests, track_action).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import WorkerCancelled, WorkerFailed

from basecamp_tui.requests import ActionRequests
from daemon.core.config import Config, parse_config
from daemon.specs import parse_spec
from daemon.store.models import (
    Action,
    Cluster,
    Run,
    TaskInstance,
    TaskLog,
    TaskTry,
    Workflow,
)

NOW = datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
CLICKS = "iceberg.analytics.daily_clicks"
ORDERS = "sales.orders"
SPEND = "marketing.spend"
RUNNING_RUN = f"{CLICKS}/scheduled__2024-05-01T00:00:00+00:00"
FAILED_RUN = f"{CLICKS}/adhoc__20240430T101500"
MARKUP_DESCRIPTION = "Daily click aggregation [bold red]not markup[/] $x"
LOG_TEXT = "\n".join(
    [f"[2024-05-02T08:0{i}:00+0000] INFO - step {i} of 9" for i in range(10)]
    + ["[red]literal[/red] ERROR - this line is not markup", "done: exit 0"]
)

CLICKS_YAML = f"""\
name: {CLICKS}
type: Dataset
owner: engineer@example.com
team: "@data-engineering"
description: "{MARKUP_DESCRIPTION}"
query_file: daily_clicks.sql
parameters:
  - {{name: execution_date, type: date, required: true, description: "day to [b]load[/b]"}}
  - {{name: limit, type: int, required: false, default: 100}}
  - {{name: full_refresh, type: bool, required: false, default: false}}
schedule:
  cron: "0 9 * * *"
  timezone: "Asia/Seoul"
  retry: {{max_attempts: 3, delay_seconds: 300}}
  sla_minutes: 60
"""

ORDERS_YAML = f"""\
name: {ORDERS}
type: Dataset
owner: sales@example.com
team: "@sales"
description: Orders rollup
parameters:
  - {{name: region, type: string, required: true}}
schedule:
  cron: "30 2 * * *"
  timezone: "UTC"
"""

SPEND_YAML = f"""\
name: {SPEND}
type: Dataset
owner: marketing@example.com
team: "@marketing"
schedule:
  cron: "0 6 * * *"
  timezone: "UTC"
"""


def _workflow(text: str, source_type: str, path: str, *, status: str = "active",
              overridden_by: str | None = None, is_paused: bool = False) -> Workflow:
    spec = parse_spec(text.encode(), path).spec
    return Workflow.create(
        dataset_name=spec.name, source_type=source_type, status=status,
        overridden_by=overridden_by, spec_path=path, spec=spec.to_json(), spec_yaml=text,
        cron=spec.schedule.cron, timezone=spec.schedule.timezone, enabled=True,
        team=spec.team, owner=spec.owner, description=spec.description,
        is_paused=is_paused, valid_at=NOW - timedelta(days=3),
        created_at=NOW - timedelta(days=3), updated_at=NOW - timedelta(hours=1),
    )


def build_store() -> dict[str, Any]:
    """Fill the bound store; returns the rows tests refer to."""
    for name, team in (("de-prod", "@data-engineering"), ("sales-prod", "@sales"),
                       ("mkt-prod", "@marketing")):
        Cluster.create(name=name, team=team, url=f"http://{name}.example:8080",
                       healthy=True, last_ok_at=NOW)
    code = _workflow(CLICKS_YAML, "code", "code/analytics/daily_clicks.yaml")
    manual = _workflow(CLICKS_YAML.replace("engineer@", "someone@"), "manual",
                       f"manual/{CLICKS}.yaml", status="overridden", overridden_by="code")
    orders = _workflow(ORDERS_YAML, "manual", f"manual/{ORDERS}.yaml", status="paused",
                       is_paused=True)
    spend = _workflow(SPEND_YAML, "code", "code/marketing/spend.yaml")

    running = Run.create(
        cluster="de-prod", dag_id=f"de__{CLICKS}",
        dag_run_id="scheduled__2024-05-01T00:00:00+00:00", dataset_name=CLICKS,
        status="RUNNING", airflow_state="running", run_type="scheduled",
        triggered_by="scheduler", logical_date=datetime(2024, 5, 1, tzinfo=UTC),
        queued_at=NOW - timedelta(minutes=31), started_at=NOW - timedelta(minutes=30),
        total=4, succeeded=2, running=1, queued=1, current_task="transform",
        note="[i]operator note[/i]",
    )
    finished = Run.create(
        cluster="de-prod", dag_id=f"de__{CLICKS}", dag_run_id="adhoc__20240430T101500",
        dataset_name=CLICKS, status="FAILED", airflow_state="failed", run_type="manual",
        triggered_by="basecamp", logical_date=datetime(2024, 4, 30, 10, 15, tzinfo=UTC),
        started_at=datetime(2024, 4, 30, 10, 15, 5, tzinfo=UTC),
        ended_at=datetime(2024, 4, 30, 10, 27, 40, tzinfo=UTC),
        total=2, succeeded=1, failed=1,
    )
    Run.create(
        cluster="de-prod", dag_id=f"de__{CLICKS}",
        dag_run_id="scheduled__2024-04-30T00:00:00+00:00", dataset_name=CLICKS,
        status="SUCCESS", airflow_state="success", run_type="scheduled",
        triggered_by="scheduler", logical_date=datetime(2024, 4, 30, tzinfo=UTC),
        started_at=datetime(2024, 4, 30, 0, 0, 12, tzinfo=UTC),
        ended_at=datetime(2024, 4, 30, 0, 41, 3, tzinfo=UTC), total=4, succeeded=4,
    )
    start = running.started_at

    def at(minutes: float) -> datetime:
        return start + timedelta(minutes=minutes)

    tasks = [  # task, map index, state, try, queued, started, ended
        ("extract", -1, "success", 1, at(0), at(0), at(4) + timedelta(seconds=2)),
        ("transform", 0, "success", 1, at(4.1), at(5), at(17)),
        ("transform", 1, "running", 2, at(19), at(21), None),
        ("load", -1, "queued", 0, at(28), None, None),
    ]
    for task_id, index, state, tries, queued, began, ended in tasks:
        TaskInstance.create(
            run_id=running.id, task_id=task_id, map_index=index, state=state,
            try_number=tries, queued_at=queued, started_at=began, ended_at=ended,
            duration_seconds=(ended - began).total_seconds() if began and ended else None,
            tries_synced=tries if tries > 1 else None,
        )
    # transform[1] failed its first try and was retried after a retry delay
    TaskTry.create(run_id=running.id, task_id="transform", map_index=1, try_number=1,
                   state="failed", queued_at=at(4.1), started_at=at(6), ended_at=at(12),
                   duration_seconds=360.0)
    TaskInstance.create(run_id=finished.id, task_id="extract", state="success", try_number=1,
                        started_at=finished.started_at,
                        ended_at=finished.started_at + timedelta(minutes=2),
                        duration_seconds=120.0)
    TaskInstance.create(run_id=finished.id, task_id="load", state="failed", try_number=3,
                        started_at=finished.started_at + timedelta(minutes=3),
                        ended_at=finished.ended_at, duration_seconds=635.0)
    TaskLog.create(run_id=running.id, task_id="extract", map_index=-1, try_number=1,
                   content=LOG_TEXT, truncated=True, fetched_at=NOW - timedelta(minutes=2))
    return {"code": code, "manual": manual, "orders": orders, "spend": spend,
            "running": running, "finished": finished}


def pending_pause() -> Action:
    """An open action on the daily_clicks workflow (shown inline by the screen)."""
    return Action.create(kind="pause", target=CLICKS, source_type="code", params={},
                         requested_by="alice", requested_at=NOW - timedelta(seconds=5))


class DetailHarness(App[None]):
    """The parts of ``BasecampApp`` the detail screens and ``ActionRequests`` use."""

    def __init__(self, screen: Callable[[], Screen[Any]] | None = None, *,
                 read_only: bool = False, config: Config | None = None,
                 clock: Callable[[], datetime] = lambda: NOW) -> None:
        super().__init__()
        self.config = config or parse_config("", None)
        self.read_only = read_only
        self.clock = clock
        self.requests = ActionRequests(self)
        self.tracked: list[int] = []
        self.notices: list[tuple[str, str, bool]] = []
        """(message, severity, markup) of every notification, for assertions."""
        self._first_screen = screen

    def on_mount(self) -> None:
        self.set_keymap(dict(self.config.ui.keys))
        if self._first_screen is not None:
            self.push_screen(self._first_screen())

    def track_action(self, action_id: int) -> None:
        self.tracked.append(action_id)

    def track_batch(self, action_ids: list[int], label: str) -> None:
        self.tracked.extend(action_ids)

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        self.notices.append((message, severity, markup))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def errors(self) -> list[str]:
        return [message for message, severity, _ in self.notices if severity == "error"]


def plain(widget: Static) -> str:
    """What a ``Static`` shows, as plain text (renders Rich tables and syntax too)."""
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return console.export_text().rstrip("\n")


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until workers are done and their messages handled (no sleeps)."""
    for _ in range(3):
        for worker in list(pilot.app.workers):
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass  # a superseded load, or a failure the test looks at itself
        await pilot.pause()
