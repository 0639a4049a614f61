"""The spec store contract, run against every backend, then each backend's own cases."""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from daemon.core.errors import ConfigError, SpecStoreError
from daemon.spec_store import (
    InvalidSpecKey,
    LocalSpecStore,
    MemorySpecStore,
    S3SpecStore,
    SpecObjectMissing,
    SpecStore,
    open_spec_store,
)
from tests.s3server import free_port

NESTED_KEYS = [
    "manual/zeta.yaml",
    "code/team-b/sub/deep.yml",
    "code/a.yaml",
    "top.yaml",
    "code/team-a/x.yaml",
    "code/team-a/b.yaml",
]
BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside.yaml",
    "code/../../outside.yaml",
    "code\\a.yaml",
    "a//b.yaml",
    "./a.yaml",
    "code/",
    "code/\udcff.yaml",
]


@pytest.fixture(params=["local", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SpecStore:
    if request.param == "local":
        root = tmp_path / "specs"
        root.mkdir()
        return LocalSpecStore(root)
    if request.param == "memory":
        return MemorySpecStore()
    endpoint, bucket = request.getfixturevalue("s3_bucket")
    return S3SpecStore(bucket, "workflows", endpoint_url=endpoint)


# --- the contract, for every backend -------------------------------------------------------


def test_empty_store_lists_nothing(store: SpecStore) -> None:
    assert store.list() == []


def test_list_is_complete_sorted_and_nested(store: SpecStore) -> None:
    written = {key: store.write(key, f"name: {key}\n".encode()) for key in NESTED_KEYS}

    listed = store.list()

    assert [obj.key for obj in listed] == sorted(NESTED_KEYS)
    for obj in listed:
        assert obj.size == len(f"name: {obj.key}\n")
        assert obj.version == written[obj.key].version
        assert obj.last_modified.utcoffset() == timezone.utc.utcoffset(None)


def test_write_then_read_round_trips_bytes(store: SpecStore) -> None:
    data = b"name: x\n\xff\xfe not utf-8\n"
    obj = store.write("code/x.yaml", data)
    assert (obj.key, obj.size) == ("code/x.yaml", len(data))
    assert store.read("code/x.yaml") == data
    store.write("empty.yaml", b"")
    assert store.read("empty.yaml") == b""


def test_version_changes_when_content_changes(store: SpecStore) -> None:
    first = store.write("code/a.yaml", b"a: 1\n")
    second = store.write("code/a.yaml", b"a: 2\n")  # same size, other content
    assert second.version != first.version
    assert store.list()[0].version == second.version
    assert store.read("code/a.yaml") == b"a: 2\n"


def test_delete_removes_and_is_idempotent(store: SpecStore) -> None:
    store.write("code/a.yaml", b"a")
    store.write("code/b.yaml", b"b")
    store.delete("code/a.yaml")
    store.delete("code/a.yaml")
    assert [obj.key for obj in store.list()] == ["code/b.yaml"]
    with pytest.raises(SpecObjectMissing):
        store.read("code/a.yaml")


def test_missing_key_is_spec_object_missing(store: SpecStore) -> None:
    with pytest.raises(SpecObjectMissing) as raised:
        store.read("manual/nope.yaml")
    assert isinstance(raised.value, SpecStoreError)
    assert "manual/nope.yaml" in str(raised.value)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_that_could_escape_the_root_are_rejected(store: SpecStore, key: str) -> None:
    with pytest.raises(InvalidSpecKey):
        store.read(key)
    with pytest.raises(InvalidSpecKey):
        store.write(key, b"x")
    with pytest.raises(InvalidSpecKey):
        store.delete(key)
    assert store.list() == []


def test_concurrent_reads(store: SpecStore) -> None:
    keys = [f"code/{i:02}.yaml" for i in range(40)]
    for key in keys:
        store.write(key, key.encode())
    with ThreadPoolExecutor(max_workers=16) as pool:
        assert list(pool.map(store.read, keys)) == [key.encode() for key in keys]


# --- local folder --------------------------------------------------------------------------


def test_local_missing_root_is_an_error(tmp_path: Path) -> None:
    store = LocalSpecStore(tmp_path / "absent")
    for call in (store.list, lambda: store.write("code/a.yaml", b"a")):
        with pytest.raises(SpecStoreError, match=r"create it or fix \[storage\] path"):
            call()
    assert not (tmp_path / "absent").exists()


def test_local_root_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpecStoreError, match="is not a folder"):
        LocalSpecStore(tmp_path / "file").list()


def test_local_version_is_mtime_ns_and_size(tmp_path: Path) -> None:
    store = LocalSpecStore(tmp_path)
    obj = store.write("code/a.yaml", b"abc")
    st = (tmp_path / "code" / "a.yaml").stat()
    assert obj.version == f"{st.st_mtime_ns}-3"
    os.utime(tmp_path / "code" / "a.yaml", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert store.list()[0].version == f"{st.st_mtime_ns + 1_000_000_000}-3"
    assert store.list()[0].last_modified.timestamp() == pytest.approx(st.st_mtime_ns / 1e9 + 1)


def test_local_skips_dotfiles_temp_files_and_backups(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    (tmp_path / ".a.yaml.1234.tmp").write_text("x")
    (tmp_path / "a.yaml~").write_text("x")
    (tmp_path / "a.yaml").write_text("x")
    assert [obj.key for obj in LocalSpecStore(tmp_path).list()] == ["a.yaml"]


def test_local_write_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    store = LocalSpecStore(tmp_path)
    store.write("manual/deep/er/a.yaml", b"one")
    store.write("manual/deep/er/a.yaml", b"two")
    folder = tmp_path / "manual" / "deep" / "er"
    assert sorted(os.listdir(folder)) == ["a.yaml"]
    assert (folder / "a.yaml").stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_local_symlinks_stay_inside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "code").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.yaml").write_text("secret")
    (root / "code" / "real.yaml").write_text("real")
    (root / "code" / "alias.yaml").symlink_to(root / "code" / "real.yaml")
    (root / "code" / "leak.yaml").symlink_to(outside / "secret.yaml")
    (root / "leakdir").symlink_to(outside, target_is_directory=True)
    (root / "code" / "loop").symlink_to(root, target_is_directory=True)
    store = LocalSpecStore(root)

    assert [obj.key for obj in store.list()] == ["code/alias.yaml", "code/real.yaml"]
    assert store.read("code/alias.yaml") == b"real"
    with pytest.raises(SpecObjectMissing, match="outside"):
        store.read("code/leak.yaml")
    with pytest.raises(SpecStoreError, match="outside"):
        store.write("leakdir/new.yaml", b"x")
    with pytest.raises(SpecStoreError, match="outside"):
        store.delete("leakdir/secret.yaml")
    assert sorted(os.listdir(outside)) == ["secret.yaml"]


def test_local_unreadable_folder_fails_the_whole_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "a.yaml").write_text("a")
    (tmp_path / "manual").mkdir()
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if str(path).endswith("code"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(SpecStoreError, match="Permission denied"):
        LocalSpecStore(tmp_path).list()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- memory --------------------------------------------------------------------------------


def test_memory_injected_failures_and_counters() -> None:
    store = MemorySpecStore({"code/a.yaml": b"a", "code/b.yaml": b"b"})
    assert [obj.version for obj in store.list()] == ["1", "2"]
    store.fail_list = True
    with pytest.raises(SpecStoreError):
        store.list()
    store.fail_read = {"code/a.yaml"}
    with pytest.raises(SpecStoreError):
        store.read("code/a.yaml")
    assert store.read("code/b.yaml") == b"b"
    store.fail_write = {"code/b.yaml"}
    with pytest.raises(SpecStoreError):
        store.delete("code/b.yaml")
    assert (store.list_calls, store.read_calls) == (2, 2)


# --- S3 ------------------------------------------------------------------------------------


def _count_requests(store: S3SpecStore) -> dict[str, int]:
    counts: dict[str, int] = {}

    def before_send(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        counts[operation] = counts.get(operation, 0) + 1

    store.client.meta.events.register("before-send.s3.*", before_send)
    return counts


def _put_many(store: S3SpecStore, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: store.write(key, key.encode()), keys))


@pytest.mark.s3
def test_s3_paginates_with_a_small_page_size(s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    # A page of 7 exercises the same continuation-token path as S3's cap of 1000 keys,
    # without the seconds it takes to put 1001 objects into moto.
    store = S3SpecStore(bucket, endpoint_url=endpoint, page_size=7)
    keys = [f"code/t{i % 3}/{i:03}.yaml" for i in range(25)]
    _put_many(store, keys)
    counts = _count_requests(store)
    assert [obj.key for obj in store.list()] == sorted(keys)
    assert counts == {"ListObjectsV2": 4}


@pytest.mark.s3
def test_s3_version_is_the_etag(s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    store = S3SpecStore(bucket, endpoint_url=endpoint)
    obj = store.write("code/a.yaml", b"abc")
    assert obj.version == hashlib.md5(b"abc").hexdigest() == store.list()[0].version


@pytest.mark.s3
def test_s3_prefix_bounds_the_listing(s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    root = S3SpecStore(bucket, "", endpoint_url=endpoint)
    outside = ["workflows-old/code/b.yaml", "workflows", "other/c.yaml"]
    for key in ["workflows/code/a.yaml", "workflows/code/", *outside]:
        root.client.put_object(Bucket=bucket, Key=key, Body=b"x")

    nested = S3SpecStore(bucket, "/workflows/", endpoint_url=endpoint)
    assert nested.description == f"s3://{bucket}/workflows"
    assert [obj.key for obj in nested.list()] == ["code/a.yaml"]
    nested.write("manual/m.yaml", b"m")
    assert root.read("workflows/manual/m.yaml") == b"m"

    assert root.description == f"s3://{bucket}"
    assert [obj.key for obj in root.list()] == [
        "other/c.yaml",
        "workflows",
        "workflows-old/code/b.yaml",
        "workflows/code/a.yaml",
        "workflows/manual/m.yaml",
    ]


@pytest.mark.s3
def test_s3_missing_bucket_says_so(s3_bucket: tuple[str, str]) -> None:
    endpoint, _ = s3_bucket
    store = S3SpecStore("no-such-bucket-basecamp", endpoint_url=endpoint)
    for call in (store.list, lambda: store.read("code/a.yaml")):
        with pytest.raises(SpecStoreError, match="'no-such-bucket-basecamp' does not exist") as err:
            call()
        assert not isinstance(err.value, SpecObjectMissing)
        assert "s3://no-such-bucket-basecamp/workflows" in str(err.value)


@pytest.mark.s3
def test_s3_unreachable_endpoint_fails_fast_and_names_it(aws_test_credentials: None) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3SpecStore(
        "bucket", endpoint_url=endpoint, max_attempts=1, connect_timeout=1, read_timeout=1
    )
    started = time.monotonic()
    with pytest.raises(SpecStoreError, match=f"cannot reach endpoint {endpoint}"):
        store.list()
    assert time.monotonic() - started < 5


@pytest.mark.s3
def test_s3_without_credentials_says_where_to_set_them(
    aws_test_credentials: None, moto_s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    store = S3SpecStore("bucket", endpoint_url=moto_s3_endpoint, max_attempts=1)
    hint = r"check credentials \(AWS_PROFILE / AWS_ACCESS_KEY_ID\)"
    with pytest.raises(SpecStoreError, match=hint):
        store.list()


# --- open_spec_store -----------------------------------------------------------------------


def _storage(**overrides: Any) -> SimpleNamespace:
    fields = {"type": "local", "path": "", "bucket": "", "prefix": "workflows"}
    return SimpleNamespace(**(fields | {"endpoint_url": "", "region": ""} | overrides))


def test_open_spec_store_builds_the_configured_backend(
    tmp_path: Path, aws_test_credentials: None
) -> None:
    local = open_spec_store(_storage(path=str(tmp_path)))
    assert isinstance(local, LocalSpecStore) and local.description == str(tmp_path)
    endpoint = "http://127.0.0.1:9"
    s3 = open_spec_store(_storage(type="s3", bucket="b", region="eu-west-1", endpoint_url=endpoint))
    assert isinstance(s3, S3SpecStore) and s3.description == "s3://b/workflows"
    assert s3.client.meta.region_name == "eu-west-1"
    assert s3.client.meta.endpoint_url == endpoint


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"type": "s3"}, "bucket is required"), ({"type": "ftp"}, "must be \"local\" or \"s3\"")],
)
def test_open_spec_store_rejects_bad_storage(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_spec_store(_storage(**overrides))

