"""The sd_notify client against real AF_UNIX datagram sockets."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from daemon.runtime import systemd
from daemon.runtime.systemd import SystemdNotifier

RECV_TIMEOUT_S = 5.0


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A bound datagram socket in tmp_path and its path (the ``$NOTIFY_SOCKET`` value)."""
    path = tmp_path / "n.sock"
    if len(os.fsencode(path)) >= 108:  # sun_path limit
        pytest.skip(f"tmp_path too long for an AF_UNIX socket: {path}")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(RECV_TIMEOUT_S)
        yield sock, str(path)


def receive(sock: socket.socket) -> list[str]:
    return sock.recv(65536).decode("utf-8").split("\n")


def nothing_queued(sock: socket.socket) -> bool:
    sock.settimeout(0)
    try:
        sock.recv(65536)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(RECV_TIMEOUT_S)
    return False


def test_messages_arrive(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    assert notifier.enabled

    notifier.ready("syncing 3 clusters")
    assert receive(sock) == ["READY=1", "STATUS=syncing 3 clusters"]
    notifier.ready()
    assert receive(sock) == ["READY=1"]
    notifier.status("run sync: 12 runs")
    assert receive(sock) == ["STATUS=run sync: 12 runs"]
    notifier.watchdog()
    assert receive(sock) == ["WATCHDOG=1"]
    notifier.stopping("finishing 1 action")
    assert receive(sock) == ["STOPPING=1", "STATUS=finishing 1 action"]
    notifier.stopping()
    assert receive(sock) == ["STOPPING=1"]
    assert nothing_queued(sock)


def test_reloading_then_reloaded(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    before = time_usec()
    notifier.reloading()
    reloading, monotonic = receive(sock)
    assert reloading == "RELOADING=1"
    key, _, value = monotonic.partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= time_usec()
    notifier.reloaded()
    assert receive(sock) == ["READY=1"]


def time_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def test_status_is_one_line_and_bounded(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    notifier = SystemdNotifier({"NOTIFY_SOCKET": path})
    notifier.status("line one\nREADY=1\r\nline three")
    assert receive(sock) == ["STATUS=line one READY=1 line three"]

    notifier.status("x" * 10_000)
    (line,) = receive(sock)
    assert line.startswith("STATUS=xxx")
    assert len(line) == len("STATUS=") + systemd.MAX_STATUS_CHARS


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux-only")
def test_abstract_namespace_socket() -> None:
    name = f"basecamp-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(RECV_TIMEOUT_S)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        notifier.ready("up")
        assert receive(sock) == ["READY=1", "STATUS=up"]
        notifier.watchdog()
        assert receive(sock) == ["WATCHDOG=1"]


def test_environment_is_read_once(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    environ = {"NOTIFY_SOCKET": path}
    notifier = SystemdNotifier(environ)
    environ.clear()
    notifier.watchdog()
    assert receive(sock) == ["WATCHDOG=1"]


def test_defaults_to_os_environ(
    notify_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    SystemdNotifier().watchdog()
    assert receive(sock) == ["WATCHDOG=1"]
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not SystemdNotifier().enabled


def test_no_socket_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sockets(*args: object, **kwargs: object) -> None:
        raise AssertionError("a disabled notifier opened a socket")

    monkeypatch.setattr(systemd.socket, "socket", no_sockets)
    for environ in ({}, {"NOTIFY_SOCKET": ""}):
        notifier = SystemdNotifier(environ)
        assert not notifier.enabled
        notifier.ready("up")
        notifier.status("x")
        notifier.watchdog()
        notifier.stopping("bye")
        notifier.reloading()
        notifier.reloaded()


@pytest.mark.parametrize(
    "value", ["/nonexistent/basecamp/notify.sock", "relative.sock", "vsock:2:1234"]
)
def test_unreachable_socket_never_raises_and_logs_once(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": value})
    assert notifier.enabled
    with caplog.at_level(logging.DEBUG, logger="daemon.runtime.systemd"):
        notifier.ready("up")
        notifier.status("x")
        notifier.watchdog()
        notifier.stopping()
        notifier.reloading()
        notifier.reloaded()
    records = [r for r in caplog.records if r.name == "daemon.runtime.systemd"]
    assert len(records) == 1
    assert records[0].levelno == logging.DEBUG
    assert value in records[0].getMessage()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "not-a-pid"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    if environ.get("WATCHDOG_PID") == "1" and os.getpid() == 1:
        pytest.skip("the test process is pid 1")
    assert SystemdNotifier(environ).watchdog_interval() == expected


def test_watchdog_interval_does_not_need_the_socket() -> None:
    """systemd sets WATCHDOG_USEC together with NOTIFY_SOCKET, but the interval is
    a pure function of the environment."""
    notifier = SystemdNotifier({"WATCHDOG_USEC": "500000"})
    assert not notifier.enabled
    assert notifier.watchdog_interval() == 0.25
