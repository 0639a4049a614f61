"""The tries the read side shows (both backends): the stored earlier ones and the task
instance's own, whose times left over from the try before are not its own."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from daemon.read.runs import run_detail
from daemon.store.models import Run, TaskInstance, TaskTry

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def retried(**latest: object) -> Run:
    """A run whose task ``load`` failed try 1 (queued 0, ran 1 to 3) and is at try 2."""
    run = Run.create(cluster="c", dag_id="bc__ds.a", dag_run_id="manual__1",
                     dataset_name="ds.a", status="RUNNING", started_at=T0)
    TaskInstance.create(run_id=run.id, task_id="load", try_number=2, tries_synced=2, **latest)
    TaskTry.create(run_id=run.id, task_id="load", try_number=1, state="failed",
                   queued_at=at(0), started_at=at(1), ended_at=at(3), duration_seconds=120.0)
    return run


def tries() -> list[tuple[int, str | None, datetime | None, datetime | None, datetime | None]]:
    [task] = run_detail("ds.a/manual__1").tasks
    return [(t.try_number, t.state, t.queued_at, t.started_at, t.ended_at) for t in task.tries]


def test_a_retry_waiting_to_run_does_not_show_the_times_of_the_try_before(db_store):
    """Airflow keeps the previous try's times on the task instance until the retry runs."""
    retried(state="scheduled", queued_at=at(0), started_at=at(1), ended_at=at(3),
            duration_seconds=120.0)
    assert tries() == [(1, "failed", at(0), at(1), at(3)), (2, "scheduled", None, None, None)]


def test_a_retry_queued_then_running_shows_its_own_times(db_store):
    run = retried(state="queued", queued_at=at(8), started_at=at(1), ended_at=at(3))
    assert tries()[-1] == (2, "queued", at(8), None, None)
    TaskInstance.update(state="running", started_at=at(9), ended_at=None).where(
        TaskInstance.run_id == run.id).execute()
    assert tries()[-1] == (2, "running", at(8), at(9), None)


def test_stored_tries_of_a_run_made_again_under_the_same_id_are_not_its_own(db_store):
    run = retried(state="success", queued_at=at(8), started_at=at(9), ended_at=at(10))
    TaskTry.create(run_id=run.id, task_id="load", try_number=2, state="failed")
    TaskTry.create(run_id=run.id, task_id="load", map_index=0, try_number=1, state="failed")
    assert [(t[0], t[1]) for t in tries()] == [(1, "failed"), (2, "success")]
