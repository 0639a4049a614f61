"""The daemon's lifecycle in this process: whatever ends the loop cleans up, and a
reload whose config cannot be built keeps the running one. No cluster is reached: the
configured ones point at a closed loopback port and none of their jobs runs here."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from peewee import OperationalError

from daemon.core.config import load_config
from daemon.runtime import components
from daemon.runtime.daemon import Daemon
from daemon.runtime.systemd import SystemdNotifier
from daemon.spec_store import LocalSpecStore
from daemon.store.models import Cluster, DaemonLease
from tests.waiting import wait_until

BROKEN_S3 = {
    "endpoint": ('[storage]\ntype = "s3"\nbucket = "specs"\nendpoint_url = "not a url"\n', {},
                 'cannot open spec store s3://specs/workflows: Invalid endpoint: not a url: '
                 "check [storage] endpoint_url and region"),
    "profile": ('[storage]\ntype = "s3"\nbucket = "specs"\n', {"AWS_PROFILE": "no-such-profile"},
                "cannot open spec store s3://specs/workflows: The config profile "
                "(no-such-profile) could not be found: fix AWS_PROFILE"),
}


class RecordingSystemd(SystemdNotifier):
    """Keeps what would have been sent to $NOTIFY_SOCKET."""

    def __init__(self) -> None:
        super().__init__(environ={})
        self.sent: list[str] = []

    def _send(self, fields: str | None, status: str | None = None) -> None:
        self.sent.append("\n".join(x for x in (fields, f"STATUS={status}" if status else None) if x))

    def has(self, text: str) -> bool:
        return any(text in message for message in self.sent)



def config_text(tmp_path: Path, *, storage: str | None = None, clusters: tuple[str, ...] = ("a",)) -> str:
    text = f'[database]\nurl = "sqlite:///{tmp_path}/store.db"\n'
    text += storage if storage is not None else f'[storage]\npath = "{tmp_path}/specs"\n'
    for name in clusters:
        text += (f'[[clusters]]\nname = "{name}"\nteam = "@{name}"\nurl = "http://127.0.0.1:9"\n'
                 'api_version = "v2"\nauth = "none"\n')
    return text


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "specs").mkdir()
    path = tmp_path / "basecamp.toml"
    path.write_text(config_text(tmp_path))
    # boto3 must not read the developer's AWS files or credentials.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return path


@pytest.fixture
def systemd() -> RecordingSystemd:
    return RecordingSystemd()


@pytest.fixture
def make_daemon(config_file: Path, systemd: RecordingSystemd) -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(clusters: tuple[str, ...] = ("a",)) -> Daemon:
        """A daemon on ``config_file``; tests that run the loop pass ``clusters=()``, so
        that no job tries to reach a cluster."""
        config_file.write_text(config_text(config_file.parent, clusters=clusters))
        made.append(Daemon(load_config(str(config_file)), config_path=str(config_file),
                           systemd=systemd))
        return made[-1]

    yield make
    for runner in made:
        runner.close(wait=True)  # again after run_forever: wait for jobs still in the pools


@pytest.fixture
def daemon(make_daemon: Callable[..., Daemon]) -> Daemon:
    return make_daemon()


def reload_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("config reload failed")]


def test_an_exception_in_the_loop_releases_the_lease_and_ends_cleanly(make_daemon, systemd, caplog,
                                                                      monkeypatch):
    daemon = make_daemon(clusters=())

    def broken_dispatch() -> int:
        raise RuntimeError("dispatch broke")

    monkeypatch.setattr(daemon.dispatcher, "dispatch", broken_dispatch)
    handler_before = signal.getsignal(signal.SIGTERM)
    with caplog.at_level(logging.INFO, logger="daemon.runtime.daemon"):
        assert daemon.run_forever() == 1

    lease = DaemonLease.get()
    assert lease.stopped_at is not None and lease.status == "stopped"
    failed = [r for r in caplog.records if r.getMessage() == "the daemon's main loop failed; stopping"]
    assert len(failed) == 1 and failed[0].levelno == logging.ERROR
    assert isinstance(failed[0].exc_info[1], RuntimeError)  # with its traceback: it is a bug
    assert caplog.records[-1].getMessage() == "daemon stopped"
    assert systemd.has("READY=1") and systemd.has("STOPPING=1")
    for pool in (daemon.spec_pool, daemon.heartbeat_pool, daemon.notify_pool, daemon.dispatcher._pool):
        with pytest.raises(RuntimeError, match="shutdown"):
            pool.submit(print)
    assert signal.getsignal(signal.SIGTERM) is handler_before


def test_a_store_briefly_unavailable_is_ridden_out(make_daemon, monkeypatch, caplog):
    """A locked SQLite (past its busy timeout) or a restarting PostgreSQL is not a bug:
    the loop says so and goes on, and the daemon stops only when asked."""
    daemon = make_daemon(clusters=())
    calls = []

    def locked_twice() -> int:
        calls.append(1)
        if len(calls) <= 2:
            raise OperationalError("database is locked")
        daemon.stop.set()
        return 0

    monkeypatch.setattr(daemon.dispatcher, "dispatch", locked_twice)
    monkeypatch.setattr("daemon.runtime.daemon.STORE_RETRY_SECONDS", 0.01)
    with caplog.at_level(logging.WARNING, logger="daemon.runtime.daemon"):
        assert daemon.run_forever() == 0
    assert len(calls) == 3
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "store unavailable in the main loop, trying again: database is locked"] * 2
    assert DaemonLease.get().stopped_at is not None


def test_a_stopped_worker_closes_its_client_after_the_running_job(daemon):
    worker = daemon.workers["a"]
    started, release = threading.Event(), threading.Event()

    def job() -> bool:
        started.set()
        release.wait(5)
        return worker.client._http.is_closed

    running, queued = worker.pool.submit(job), worker.pool.submit(print)
    assert started.wait(5)
    worker.close(wait=False)  # returns at once
    assert queued.cancelled()
    release.set()
    assert running.result(5) is False  # the client stayed open for the job it had
    wait_until(lambda: worker.client._http.is_closed)


def test_a_lease_release_that_fails_still_shuts_the_pools_down(make_daemon, caplog, monkeypatch):
    daemon = make_daemon(clusters=())

    def broken_release() -> None:
        raise OSError("store gone")

    daemon.stop.set()  # the loop ends at once
    monkeypatch.setattr(daemon.lease, "release", broken_release)
    assert daemon.run_forever() == 0
    assert any(r.getMessage() == "stopping: releasing the store lease failed" for r in caplog.records)
    with pytest.raises(RuntimeError, match="shutdown"):
        daemon.spec_pool.submit(print)


@pytest.mark.parametrize("case", sorted(BROKEN_S3))
def test_reload_with_s3_storage_that_cannot_be_built_keeps_the_running_config(
        case, daemon, config_file, systemd, caplog, monkeypatch):
    storage, env, why = BROKEN_S3[case]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = (daemon.config, daemon.parts, daemon.executor, daemon.scheduler)
    config_file.write_text(config_text(config_file.parent, storage=storage, clusters=("a", "b")))

    daemon.reload()

    assert (daemon.config, daemon.parts, daemon.executor, daemon.scheduler) == before
    assert isinstance(daemon.parts.spec_sync.source, LocalSpecStore)
    assert not daemon.executor.ctx.stop.is_set()  # in-flight actions were not disturbed
    assert [c.name for c in Cluster.select()] == ["a"]  # the store still has the old clusters
    [record] = reload_errors(caplog)
    assert record.levelno == logging.ERROR and not record.exc_info  # one line, no traceback
    assert record.getMessage() == (
        f"config reload failed, keeping the running config: {config_file}: "
        f'[storage] type = "s3": {why}. Reload again once that is fixed '
        f"(systemctl reload basecamp-daemon, or kill -HUP {os.getpid()})."
    )
    assert systemd.sent[0].startswith("RELOADING=1")
    assert systemd.sent[-1].startswith("READY=1\nSTATUS=config reload failed, running the previous config: ")


def test_reload_with_a_cluster_that_cannot_be_built_closes_what_it_built(
        daemon, config_file, caplog, monkeypatch):
    built: list[components.AirflowClient] = []
    real_client = components.AirflowClient

    def client_for(cluster: components.ClusterConfig) -> components.AirflowClient:
        if cluster.name == "broken":
            raise ValueError("Unknown scheme for proxy URL")
        built.append(real_client(cluster))
        return built[-1]

    monkeypatch.setattr(components, "AirflowClient", client_for)
    old_worker = daemon.workers["a"]
    config_file.write_text(config_text(config_file.parent, clusters=("a", "b", "broken")))

    daemon.reload()

    assert [c.name for c in daemon.config.clusters] == ["a"]
    assert daemon.workers["a"] is old_worker and not old_worker.client._http.is_closed
    assert len(built) == 2 and all(client._http.is_closed for client in built)
    [record] = reload_errors(caplog)
    assert (f'{config_file}: [[clusters]] name = "broken": ValueError: Unknown scheme for proxy URL. '
            "Reload again once that is fixed") in record.getMessage()
    assert record.exc_info  # not a basecamp error: the traceback helps


def test_reload_swaps_in_the_new_components_and_retires_the_old(daemon, config_file, systemd):
    old_worker, old_ctx = daemon.workers["a"], daemon.executor.ctx
    config_file.write_text(config_text(config_file.parent, clusters=("b",)).replace(
        "[[clusters]]", "[daemon]\naction_workers = 2\n[[clusters]]", 1))

    daemon.reload()

    assert list(daemon.workers) == ["b"] and daemon.dispatcher.workers == 2
    assert daemon.executor.ctx.clients == {"b": daemon.workers["b"].client}
    assert old_ctx.stop.is_set()  # long actions were asked to hand themselves back
    wait_until(lambda: old_worker.client._http.is_closed)
    with pytest.raises(RuntimeError, match="shutdown"):
        old_worker.pool.submit(print)
    assert {c.name: c.configured for c in Cluster.select()} == {"a": False, "b": True}
    assert systemd.sent[-1] == "READY=1\nSTATUS=config reloaded"


def test_signals_only_set_flags_that_the_loop_acts_on(make_daemon, config_file, systemd, caplog):
    """SIGHUP with an S3 config boto3 refuses, then SIGTERM: the reload fails, the
    daemon runs on with its old config and stops cleanly with exit code 0."""
    daemon = make_daemon(clusters=())
    storage, _, why = BROKEN_S3["endpoint"]
    config_file.write_text(config_text(config_file.parent, storage=storage, clusters=()))
    before = daemon.config

    def send_signals() -> None:
        wait_until(lambda: systemd.has("READY=1"))
        os.kill(os.getpid(), signal.SIGHUP)
        wait_until(lambda: systemd.has("config reload failed"))
        os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=send_signals)
    sender.start()
    try:
        with caplog.at_level(logging.INFO, logger="daemon.runtime.daemon"):
            assert daemon.run_forever() == 0
    finally:
        sender.join()
    assert daemon.config is before
    assert why in reload_errors(caplog)[0].getMessage()
    assert any(r.getMessage() == "received SIGTERM: stopping" for r in caplog.records)
    assert DaemonLease.get().stopped_at is not None
