"""What an empty list means and what to do next: the empty states of the dashboard's tabs
and of the CLI's tables (one text for both)."""

from __future__ import annotations

from datetime import datetime

from daemon.core.config import StorageConfig
from daemon.core.paths import default_spec_dir
from daemon.core.timefmt import ago, utcnow
from daemon.read.clusters import ClusterRow
from daemon.read.status import DaemonStatus

CLUSTER_BLOCK = """\
[[clusters]]
name = "my-airflow"
team = "@my-team"                    # the team your specs name
url = "https://airflow.example.com"
dag_name_prefix = ""                 # as BASECAMP_DAG_PREFIX of the DAG factory
auth = "jwt"                         # Airflow 3; "basic" for Airflow 2
username = "svc-basecamp"
password_env = "MY_AIRFLOW_PASSWORD" # the variable that holds the password"""

TRY_DEMO = ("To see basecamp with a real Airflow first: `basecamp demo` (a local Airflow 3 "
            "with runs moving in a few minutes; your config and store are not touched).")


def no_clusters() -> str:
    return ("No Airflow cluster is configured. Add one to the daemon's config file "
            f"(`basecamp config check` shows which file) and reload the daemon:\n\n"
            f"{CLUSTER_BLOCK}\n\n{TRY_DEMO}")


def no_daemon(status: DaemonStatus | None) -> str | None:
    """Why nothing is synced when the daemon is down; None when it runs."""
    if status is None or status.running:
        return None
    return (f"The daemon is not running ({status.last_seen()}): it syncs specs and runs and "
            "carries out actions. Start it with `basecamp daemon` (or `systemctl start "
            "basecamp-daemon`).")


def spec_store_label(storage: StorageConfig) -> str:
    if storage.type == "s3":
        return f"s3://{storage.bucket}/{storage.prefix}".rstrip("/")
    return storage.path or str(default_spec_dir())


def no_workflows(daemon: DaemonStatus | None, storage: StorageConfig) -> str:
    down = no_daemon(daemon)
    if down:
        return down
    return (f"No workflows: the spec store {spec_store_label(storage)} holds no valid spec "
            "(`basecamp specs --errors` shows files that failed). Register one with "
            f"`basecamp workflow register SPEC.yaml`.\n\n{TRY_DEMO}")


def no_runs(clusters: list[ClusterRow], daemon: DaemonStatus | None, lookback_hours: float,
            now: datetime | None = None) -> str:
    if not clusters:
        return no_clusters()
    now = now or utcnow()
    failing = [c for c in clusters if c.healthy is False]
    down = no_daemon(daemon)
    if down and not failing:
        return down
    if failing:
        lines = []
        for cluster in failing:
            since = ("never reached" if cluster.last_ok_at is None
                     else f"unreachable since {ago((now - cluster.last_ok_at).total_seconds())}")
            reason = (cluster.last_error or "").splitlines()[0] if cluster.last_error else ""
            lines.append(f"{cluster.name}: {since}" + (f": {reason}" if reason else ""))
        return "No runs synced:\n" + "\n".join(lines)
    names = ", ".join(c.name for c in clusters)
    return (f"No runs in the last {lookback_hours:g} hours on {names}. Runs show here as "
            "Airflow starts them: on their schedules, triggered here (`t` on a workflow), "
            "or from Airflow.")
