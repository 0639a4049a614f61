"""The SPEC's example spec (``execution_date``: string, required, no default) on a real
Airflow: scheduled runs and backfills take the run's logical date; a manual run without
it is still refused by basecamp, and fails in Airflow.

Airflow 3.3 runs under the ``airflow`` marker, Airflow 2.11 under ``airflow2``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.actions import validate_request
from daemon.core.errors import UserError
from daemon.store.models import Run, TaskLog
from tests.integration.conftest import POLL, TEAM, carried_out, operated
from tests.specs import spec_yaml
from tests.waiting import wait_until

EXAMPLE_PARAMETERS = (
    "parameters:\n"
    "  - {name: execution_date, type: string, required: true}\n"
    "  - {name: limit, type: int, required: false, default: 100}\n"
)
ZONE = "Asia/Seoul"


@pytest.fixture
def world(store, airflow, monkeypatch):
    """Two copies of the example spec: one firing every minute, one daily (to backfill)."""
    names = {"minutely": f"iceberg.analytics.minutely_{airflow.api_version}",
             "daily": f"iceberg.analytics.daily_clicks_{airflow.api_version}"}
    crons = {"minutely": "* * * * *", "daily": "0 9 * * *"}
    for key, name in names.items():
        path = airflow.spec_dir / "code" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(spec_yaml(name, team=TEAM, cron=crons[key], timezone=ZONE,
                                   parameters=EXAMPLE_PARAMETERS))
    world = operated(store, airflow, monkeypatch, [f"bc__{name}" for name in names.values()])
    yield {**world, "names": names}
    world["client"].set_dag_paused(f"bc__{names['minutely']}", True)  # spare the shared server
    world["client"].close()


def rendered_parameters(world, run: Run) -> str:
    """The ``prepare`` task's log (it logs the rendered parameters), fetched by basecamp."""
    carried_out(world, "fetch_log", run.public_id, params={"task_id": "prepare"})
    return TaskLog.get((TaskLog.run_id == run.id) & (TaskLog.task_id == "prepare")).content


def seoul_day(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(ZONE)).date().isoformat()


def test_a_scheduled_run_takes_its_logical_date(world):
    name, sync = world["names"]["minutely"], world["run_sync"]

    def scheduled_run() -> Run | None:
        return (Run.select().where((Run.dataset_name == name) & (Run.run_type == "scheduled")
                                   & Run.status.in_(("SUCCESS", "FAILED")))
                .order_by(Run.logical_date).first())

    wait_until(scheduled_run, 240, f"a scheduled run of {name} to finish", step=sync.run, interval=POLL)
    run = scheduled_run()
    assert run.status == "SUCCESS", f"{run.public_id} {run.status}"
    assert f"'execution_date': '{seoul_day(run.logical_date)}'" in rendered_parameters(world, run)


def test_a_manual_run_still_needs_the_parameter(world):
    name, client = world["names"]["daily"], world["client"]
    with pytest.raises(UserError, match="Missing required parameter: execution_date"):
        validate_request("run", name, None, {"parameters": {}})
    # Through Airflow itself the run starts (the param defaults to null on a scheduled DAG)
    # and `prepare` fails it.
    dag_id = f"bc__{name}"
    client.trigger_dag_run(dag_id, "no_execution_date", {})
    wait_until(lambda: client.get_dag_run(dag_id, "no_execution_date").state == "failed", 180,
               "the run without execution_date to fail", interval=POLL)


def test_a_backfill_without_parameters_runs_each_day_with_its_date(world):
    name, sync = world["names"]["daily"], world["run_sync"]
    start = date.today() - timedelta(days=4)
    end = start + timedelta(days=1)
    done = carried_out(world, "backfill", name,
                     params={"start": start.isoformat(), "end": end.isoformat()})
    assert (done.result["total"], done.result["succeeded"]) == (2, 2), done.message
    sync.run()
    runs = [Run.get((Run.dataset_name == name) & (Run.dag_run_id == dag_run_id))
            for dag_run_id in done.result["dag_run_ids"]]
    days = sorted(seoul_day(run.logical_date) for run in runs)
    assert days == [start.isoformat(), end.isoformat()]
    for run in runs:
        assert f"'execution_date': '{seoul_day(run.logical_date)}'" in rendered_parameters(world, run)
