"""The demo's own world: its spec store, config and store, under the user cache directory
(``~/.cache/basecamp/demo``), never the user's config or store.

The specs show what basecamp is for: code specs on schedules that fire every few minutes,
a manual spec, a code/manual override pair, a parameterised workflow, one that fails now
and then and one that is slow.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from daemon.core import paths

TEAM = "@demo"
PREFIX = "demo"
CLUSTER = "demo-airflow"
PASSWORD_ENV = "BASECAMP_DEMO_AIRFLOW_PASSWORD"
FIRST_RUN = "iceberg.analytics.daily_clicks"
"""The workflow the demo runs at once, so something moves on the first screen."""
FLAKY = "ingest.orders"
TASK_SECONDS = 8
"""How long each placeholder query runs: long enough to watch a run move."""

_HEAD = 'type: Dataset\nowner: {owner}\nteam: "@demo"\ndescription: {description}\n'
"""The lines every demo spec shares (the description is written as a JSON string)."""
SPECS: dict[str, str] = {
    "code/analytics/daily_clicks.yaml": """\
name: iceberg.analytics.daily_clicks
{head}query_file: daily_clicks.sql
parameters:
  - {{name: execution_date, type: string, required: true}}
  - {{name: limit, type: int, required: false, default: 100}}
schedule:
  cron: "*/5 * * * *"
  timezone: Asia/Seoul
  retry: {{max_attempts: 2, delay_seconds: 30}}
  sla_minutes: 10
""",
    "code/analytics/user_metrics.yaml": """\
name: analytics.user_metrics
{head}schedule:
  cron: "*/3 * * * *"
""",
    "code/ingest/orders.yaml": """\
name: ingest.orders
{head}schedule:
  cron: "*/2 * * * *"
""",
    "code/reports/slow_rollup.yaml": """\
name: reports.slow_rollup
{head}parameters:
  - {{name: demo_seconds, type: int, required: false, default: 150}}
schedule:
  cron: "*/10 * * * *"
""",
    "code/marts/revenue.yaml": """\
name: marts.revenue
{head}schedule:
  cron: "*/4 * * * *"
""",
    "manual/marts.revenue.yaml": """\
name: marts.revenue
{head}schedule:
  cron: "0 * * * *"
""",
    "code/reports/approved_publish.yaml": """\
name: reports.approved_publish
{head}approval:
  before: publish
  subject: "Publish the weekly report of {{{{ ds }}}}?"
  body: "The numbers are in run_query's log."
schedule:
  cron: "*/10 * * * *"
""",
    "manual/reports.ad_hoc_summary.yaml": """\
name: reports.ad_hoc_summary
{head}parameters:
  - {{name: region, type: string, required: true}}
  - {{name: day, type: date, required: true}}
schedule:
  enabled: false
  cron: "0 6 * * *"
""",
}
DESCRIPTIONS = {
    "iceberg.analytics.daily_clicks": "Daily click aggregation (parameterised; every 5 min here)",
    "analytics.user_metrics": "User metrics (every 3 min)",
    "ingest.orders": "Order ingest that fails now and then (every 2 min)",
    "reports.slow_rollup": "A slow rollup: its query runs 150 s",
    "marts.revenue": "Revenue mart: a code spec overriding a manual one",
    "reports.ad_hoc_summary": "An ad hoc report registered by hand (no schedule)",
    "reports.approved_publish": "Publishing waits for a person: press i on its run to answer",
}


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo keeps its files."""

    root: Path

    @classmethod
    def default(cls) -> DemoPaths:
        return cls(paths.user_cache_dir())

    @property
    def state(self) -> Path:
        """Everything of one demo world (``--reset`` removes it)."""
        return self.root / "demo"

    @property
    def dags(self) -> Path:
        return self.state / "dags"

    @property
    def specs(self) -> Path:
        """The spec store: the daemon's ``[storage] path`` and the factory's spec folder."""
        return self.dags / "specs"

    @property
    def airflow_home(self) -> Path:
        return self.state / "airflow-home"

    @property
    def config(self) -> Path:
        return self.state / "basecamp.toml"

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.state / 'basecamp.db'}"

    @property
    def daemon_log(self) -> Path:
        return self.state / "daemon.log"


def reset(where: DemoPaths) -> None:
    """Forget the demo world (its store, Airflow database, specs and config); the
    installed Airflow stays, so the next start is quick."""
    shutil.rmtree(where.state, ignore_errors=True)


def write_specs(where: DemoPaths) -> None:
    """The demo specs, unless the spec store already exists (the user may have changed
    it: registered specs, paused workflows)."""
    if where.specs.exists() and any(where.specs.rglob("*.yaml")):
        return
    for relative, template in SPECS.items():
        path = where.specs / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        name = template.split("\n", 1)[0].removeprefix("name: ")
        head = _HEAD.format(owner="demo@example.com", description=json.dumps(DESCRIPTIONS[name]))
        path.write_text(template.format(head=head))
    (where.specs / "code" / "analytics" / "daily_clicks.sql").write_text(
        "SELECT day, count(*) FROM clicks WHERE day = '{{ params.execution_date }}' "
        "GROUP BY day LIMIT {{ params.limit }}\n")


def write_config(where: DemoPaths, airflow_url: str) -> Path:
    """The demo's config: its own store and spec store, one cluster (the local Airflow),
    quick intervals so the screen moves."""
    where.config.write_text(f"""\
# Written by `basecamp demo` for its own world; your config is not read or changed.
[database]
url = "{where.store_url}"

[storage]
type = "local"
path = "{where.specs}"

[sync]
spec_interval_seconds = 5
run_interval_seconds = 2
health_interval_seconds = 10
lookback_hours = 24

[daemon]
heartbeat_seconds = 2

[[clusters]]
name = "{CLUSTER}"
team = "{TEAM}"
url = "{airflow_url}"
environment = "development"
dag_name_prefix = "{PREFIX}"
api_version = "v2"
auth = "jwt"
username = "admin"
password_env = "{PASSWORD_ENV}"
timeout_seconds = 10
""")
    return where.config


def airflow_env_extra() -> dict[str, str]:
    """What the DAG factory reads inside the demo's Airflow."""
    return {"BASECAMP_TEAM": TEAM, "BASECAMP_DAG_PREFIX": PREFIX,
            "BASECAMP_DEMO_TASK_SECONDS": str(TASK_SECONDS),
            "BASECAMP_DEMO_FLAKY_DATASETS": FLAKY}
