"""The spec sync: incrementality and the override policy, against the in-memory store,
a local folder and a moto S3 server; failure injection against the in-memory store, and
failed listings against the real backends."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from daemon.spec_store import (
    LocalSpecStore,
    MemorySpecStore,
    S3SpecStore,
    SpecStore,
    StoredObject,
)
from daemon.spec_sync import SpecSync
from daemon.store.models import Event, SpecFile, SyncState, Workflow
from tests.specs import spec_yaml

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


class CountingStore(SpecStore):
    """Any spec store, counting reads, so tests see what the sync fetched."""

    def __init__(self, inner: SpecStore) -> None:
        self.inner, self.description, self.read_calls = inner, inner.description, 0

    def list(self) -> list[StoredObject]:
        return self.inner.list()

    def read(self, key: str) -> bytes:
        self.read_calls += 1
        return self.inner.read(key)

    def write(self, key: str, data: bytes) -> StoredObject:
        return self.inner.write(key, data)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


@pytest.fixture(params=["memory", "local", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request, tmp_path: Path):
    """A function that fills a fresh spec store of each kind with the given objects."""
    def make(objects: dict[str, bytes]) -> CountingStore:
        if request.param == "memory":
            inner: SpecStore = MemorySpecStore()
        elif request.param == "local":
            (tmp_path / "specs").mkdir(exist_ok=True)
            inner = LocalSpecStore(tmp_path / "specs")
        else:
            endpoint, bucket = request.getfixturevalue("s3_bucket")
            inner = S3SpecStore(bucket, "workflows", endpoint_url=endpoint, region="us-east-1")
        for key, data in objects.items():
            inner.write(key, data)
        return CountingStore(inner)
    return make


def make_sync(store, source, fraction: float = 0.5) -> SpecSync:
    return SpecSync(store, source, max_spec_bytes=4096, max_delete_fraction=fraction,
                    clock=lambda: NOW)


def wf(name: str, source: str) -> Workflow:
    return Workflow.get((Workflow.dataset_name == name) & (Workflow.source_type == source))


def kinds() -> list[str]:
    return [e.kind for e in Event.select().order_by(Event.id)]


def test_cold_sync_creates_workflows_with_next_run(store, backend):
    source = backend({
        "code/a.yaml": spec_yaml("ds.a", cron="0 9 * * *", timezone="Asia/Seoul"),
        "manual/ds.b.yaml": spec_yaml("ds.b", enabled=False),
        "README.md": b"not a spec",
    })
    report = make_sync(store, source).run()
    assert report.ok and report.listed == 2 and report.fetched == 2
    a = wf("ds.a", "code")
    assert (a.status, a.cron, a.timezone, a.spec_path) == ("active", "0 9 * * *", "Asia/Seoul", "code/a.yaml")
    assert a.next_run == datetime(2026, 11, 24, 0, 0, tzinfo=timezone.utc)  # 09:00 KST
    b = wf("ds.b", "manual")
    assert (b.status, b.next_run) == ("disabled", None)


def test_unchanged_files_are_not_read_again_and_rows_not_rewritten(store, backend):
    source = backend({f"code/{i}.yaml": spec_yaml(f"ds.{i}") for i in range(5)})
    sync = make_sync(store, source)
    sync.run()
    reads, stamps = source.read_calls, [w.updated_at for w in Workflow.select()]
    report = sync.run()
    assert source.read_calls == reads and report.fetched == 0 and report.unchanged == 5
    assert [w.updated_at for w in Workflow.select()] == stamps

    source.write("code/3.yaml", spec_yaml("ds.3", cron="5 9 * * *"))
    report = sync.run()
    assert source.read_calls == reads + 1 and report.fetched == 1
    assert wf("ds.3", "code").cron == "5 9 * * *"


def test_code_overrides_manual_and_manual_falls_back_when_code_is_deleted(store, backend):
    source = backend({"manual/ds.x.yaml": spec_yaml("ds.x", cron="0 8 * * *")})
    sync = make_sync(store, source)
    sync.run()
    assert wf("ds.x", "manual").status == "active"

    source.write("code/x.yaml", spec_yaml("ds.x"))
    sync.run()
    manual = wf("ds.x", "manual")
    assert (manual.status, manual.overridden_by, manual.next_run) == ("overridden", "code", None)
    assert wf("ds.x", "code").status == "active"
    change = Event.get(Event.kind == "source_change")
    assert change.subject == "ds.x" and change.data == {"dataset_name": "ds.x", "from": "manual", "to": "code"}
    assert source.read("manual/ds.x.yaml")  # the manual file is kept

    source.delete("code/x.yaml")
    sync.run()
    manual = wf("ds.x", "manual")
    assert (manual.status, manual.overridden_by) == ("active", None)
    assert wf("ds.x", "code").status == "removed"
    changes = Event.select().where(Event.kind == "source_change").order_by(Event.id)
    assert [e.data["to"] for e in changes] == ["code", "manual"]


def test_code_spec_that_was_never_valid_does_not_override(store, backend):
    source = backend({
        "manual/ds.x.yaml": spec_yaml("ds.x"),
        "code/x.yaml": spec_yaml("ds.x", cron="61 * * * *"),
    })
    make_sync(store, source).run()
    manual, code = wf("ds.x", "manual"), wf("ds.x", "code")
    assert manual.status == "active" and code.status == "invalid"
    assert "cron" in code.spec_error
    assert "code/x.yaml has never been valid" in manual.spec_error
    assert not Event.select().where(Event.kind == "source_change").exists()


def test_invalid_edit_keeps_last_good_version_and_errors_are_evented(store, backend):
    source = backend({"code/x.yaml": spec_yaml("ds.x", cron="0 9 * * *")})
    sync = make_sync(store, source)
    sync.run()
    source.write("code/x.yaml", spec_yaml("ds.x", cron="not a cron"))
    sync.run()
    row = wf("ds.x", "code")
    assert (row.status, row.cron) == ("active", "0 9 * * *")
    assert "last valid version stays in force" in row.spec_error
    spec_file = SpecFile.get(SpecFile.path == "code/x.yaml")
    assert spec_file.state == "invalid" and spec_file.error_line == 7
    sync.run()  # the same error again: no second event
    assert kinds().count("spec_error") == 1

    source.write("code/x.yaml", spec_yaml("ds.x", cron="30 9 * * *"))
    sync.run()
    row = wf("ds.x", "code")
    assert (row.cron, row.spec_error) == ("30 9 * * *", None)
    assert kinds().count("spec_error_cleared") == 1


def test_duplicate_names_first_key_wins_and_second_takes_over_when_first_goes(store, backend):
    source = backend({
        "code/a.yaml": spec_yaml("ds.x", cron="1 * * * *"),
        "code/b.yaml": spec_yaml("ds.x", cron="2 * * * *"),
    })
    sync = make_sync(store, source)
    sync.run()
    assert wf("ds.x", "code").cron == "1 * * * *"
    duplicate = SpecFile.get(SpecFile.path == "code/b.yaml")
    assert duplicate.state == "duplicate" and "code/a.yaml" in duplicate.error

    source.delete("code/a.yaml")
    sync.run()
    row = wf("ds.x", "code")
    assert (row.cron, row.spec_path, row.status) == ("2 * * * *", "code/b.yaml", "active")
    assert SpecFile.get(SpecFile.path == "code/b.yaml").state == "valid"


def test_failed_listing_changes_nothing_and_is_reported_once(store):
    source = MemorySpecStore({"code/a.yaml": spec_yaml("ds.a"), "code/b.yaml": spec_yaml("ds.b")})
    sync = make_sync(store, source)
    sync.run()
    source.fail_list = True
    for _ in range(2):
        report = sync.run()
        assert not report.ok and "Cannot list" in report.error
    assert Workflow.select().where(Workflow.status == "active").count() == 2
    assert kinds().count("sync_error") == 1
    assert SyncState.get(SyncState.key == "specs").last_error

    source.fail_list = False
    assert sync.run().ok
    assert kinds().count("sync_recovered") == 1
    assert SyncState.get(SyncState.key == "specs").last_error is None


def test_read_failure_keeps_the_last_version(store):
    source = MemorySpecStore({"code/a.yaml": spec_yaml("ds.a", cron="1 * * * *")})
    sync = make_sync(store, source)
    sync.run()
    source.write("code/a.yaml", spec_yaml("ds.a", cron="2 * * * *"))
    source.fail_read = {"code/a.yaml"}
    report = sync.run()
    assert not report.ok and "Could not read code/a.yaml" in report.error
    assert wf("ds.a", "code").cron == "1 * * * *"
    source.fail_read = set()
    assert sync.run().ok and wf("ds.a", "code").cron == "2 * * * *"


def test_mass_removal_is_refused_unless_allowed(store, backend):
    source = backend({f"code/{i}.yaml": spec_yaml(f"ds.{i}") for i in range(10)})
    sync = make_sync(store, source)
    sync.run()
    for i in range(6):
        source.delete(f"code/{i}.yaml")
    report = sync.run()
    assert not report.ok and report.refused_removals == 6
    assert Workflow.select().where(Workflow.status == "removed").count() == 0
    assert SpecFile.select().count() == 10
    assert kinds().count("mass_removal_refused") == 1

    report = sync.run(allow_mass_removal=True)
    assert report.ok and report.removed == 6
    assert Workflow.select().where(Workflow.status == "removed").count() == 6
    assert SpecFile.select().count() == 4


def test_small_removal_goes_through_and_a_returning_spec_is_restored(store, backend):
    source = backend({f"code/{i}.yaml": spec_yaml(f"ds.{i}") for i in range(4)})
    sync = make_sync(store, source)
    sync.run()
    source.delete("code/0.yaml")
    assert sync.run().removed == 1
    row = wf("ds.0", "code")
    assert (row.status, row.removed_at) == ("removed", NOW)
    assert row.spec is not None  # kept for history
    source.write("code/0.yaml", spec_yaml("ds.0"))
    sync.run()
    row = wf("ds.0", "code")
    assert (row.status, row.removed_at) == ("active", None)


def test_oversized_file_is_rejected_without_reading_it(store, backend):
    source = backend({"code/big.yaml": b"#" * 5000})
    make_sync(store, source).run()
    assert source.read_calls == 0
    row = SpecFile.get(SpecFile.path == "code/big.yaml")
    assert row.state == "invalid" and "max_spec_bytes" in row.error


@pytest.mark.parametrize("content", [b"\xff\xfe bad", b"- a\n- list\n", b"a: [unclosed\n"])
def test_hostile_files_are_recorded_not_raised(store, backend, content):
    source = backend({"code/bad.yaml": content, "code/good.yaml": spec_yaml("ds.good")})
    assert make_sync(store, source).run().ok
    assert SpecFile.get(SpecFile.path == "code/bad.yaml").state == "invalid"
    assert wf("ds.good", "code").status == "active"


def test_missing_local_folder_is_a_failed_listing_not_a_deletion(store, tmp_path):
    root = tmp_path / "specs"
    source = LocalSpecStore(root)
    root.mkdir()
    for i in range(3):
        source.write(f"code/{i}.yaml", spec_yaml(f"ds.{i}"))
    sync = make_sync(store, source)
    sync.run()
    root.rename(tmp_path / "moved")
    report = sync.run()
    assert not report.ok and "does not exist" in report.error
    assert Workflow.select().where(Workflow.status == "active").count() == 3
    assert SpecFile.select().count() == 3


@pytest.mark.s3
def test_unreachable_or_missing_bucket_is_a_failed_listing_not_a_deletion(store, s3_bucket):
    endpoint, bucket = s3_bucket
    source = S3SpecStore(bucket, "workflows", endpoint_url=endpoint, region="us-east-1")
    for i in range(3):
        source.write(f"code/{i}.yaml", spec_yaml(f"ds.{i}"))
    make_sync(store, source).run()
    wrong_bucket = S3SpecStore("no-such-bucket-here", "workflows", endpoint_url=endpoint, region="us-east-1")
    closed_port = S3SpecStore(bucket, "workflows", endpoint_url="http://127.0.0.1:9",
                              region="us-east-1", max_attempts=1, connect_timeout=1)
    for broken in (wrong_bucket, closed_port):
        report = make_sync(store, broken).run()
        assert not report.ok and report.error
    assert Workflow.select().where(Workflow.status == "active").count() == 3
    assert SpecFile.select().count() == 3
    assert kinds().count("sync_error") == 2


def test_a_pause_written_while_the_sync_resolves_is_kept(store, monkeypatch):
    """The sync resolves outside its write transaction; a pause that lands meanwhile
    makes it resolve again inside, so the workflow stays paused with no next run."""
    from daemon.run_sync.write import write_dataset_paused

    source = MemorySpecStore()
    source.write("code/a.yaml", spec_yaml("ds.a"))
    sync = make_sync(store, source)
    sync.run()
    source.write("code/a.yaml", spec_yaml("ds.a", cron="0 7 * * *"))
    plan = SpecSync._plan

    def plan_then_pause(self, *args):
        planned = plan(self, *args)
        if not Workflow.get(Workflow.dataset_name == "ds.a").is_paused:
            write_dataset_paused("ds.a", True, NOW)
        return planned

    monkeypatch.setattr(SpecSync, "_plan", plan_then_pause)
    assert sync.run().ok
    row = Workflow.get(Workflow.dataset_name == "ds.a")
    assert (row.cron, row.is_paused, row.status, row.next_run) == ("0 7 * * *", True, "paused", None)
