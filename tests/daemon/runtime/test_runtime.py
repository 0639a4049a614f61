"""The daemon's per-cluster jobs run side by side: a slow cluster never delays another."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from daemon.core.config import parse_config
from daemon.runtime.daemon import Daemon
from daemon.store.models import Cluster


def serve(delay: float) -> ThreadingHTTPServer:
    """A loopback server answering ``/api/v2/version`` and the health probe's
    ``/api/v2/importErrors`` after ``delay`` seconds."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            time.sleep(delay)
            path = self.path.split("?")[0]
            answers = {"/api/v2/version": {"version": "3.3.2", "git_version": None},
                       "/api/v2/importErrors": {"import_errors": [], "total_entries": 0}}
            body = json.dumps(answers.get(path, {})).encode()
            self.send_response(200 if path in answers else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def servers() -> Iterator[tuple[ThreadingHTTPServer, ThreadingHTTPServer]]:
    fast, slow = serve(0), serve(3)
    yield fast, slow
    for server in (fast, slow):
        server.shutdown()


def test_a_slow_cluster_does_not_delay_the_health_of_another(tmp_path: Path, servers):
    fast, slow = servers
    (tmp_path / "specs").mkdir()
    config = parse_config(
        f'[database]\nurl = "sqlite:///{tmp_path}/store.db"\n[storage]\npath = "{tmp_path}/specs"\n'
        f'[[clusters]]\nname = "fast"\nteam = "@a"\nurl = "http://127.0.0.1:{fast.server_port}"\n'
        'api_version = "v2"\nauth = "none"\n'
        f'[[clusters]]\nname = "slow"\nteam = "@b"\nurl = "http://127.0.0.1:{slow.server_port}"\n'
        'api_version = "v2"\nauth = "none"\n',
        None,
    )
    daemon = Daemon(config)
    try:
        started = time.monotonic()
        checking = threading.Thread(target=daemon.check_health)
        checking.start()
        deadline = started + 2
        while time.monotonic() < deadline and not Cluster.get(Cluster.name == "fast").healthy:
            time.sleep(0.05)
        fast_done = time.monotonic() - started
        assert Cluster.get(Cluster.name == "fast").healthy, "the fast cluster waited for the slow one"
        assert Cluster.get(Cluster.name == "slow").healthy is None  # still being checked
        checking.join()
        assert fast_done < 1.5
        assert Cluster.get(Cluster.name == "slow").healthy
    finally:
        daemon.close()


def test_a_cluster_with_active_runs_is_synced_every_busy_interval_an_idle_one_seldom(
        tmp_path: Path, servers):
    from daemon.store.models import Run

    fast, _slow = servers
    (tmp_path / "specs").mkdir()
    config = parse_config(
        f'[database]\nurl = "sqlite:///{tmp_path}/store.db"\n[storage]\npath = "{tmp_path}/specs"\n'
        '[sync]\nrun_interval_seconds = 30\nbusy_interval_seconds = 1\n'
        f'[[clusters]]\nname = "fast"\nteam = "@a"\nurl = "http://127.0.0.1:{fast.server_port}"\n'
        'api_version = "v2"\nauth = "none"\n', None)
    daemon = Daemon(config)
    synced: list[str] = []
    daemon.sync_runs = lambda name=None: synced.append(name)  # type: ignore[method-assign]
    worker = daemon.workers["fast"]

    def tick() -> int:
        before = len(synced)
        daemon._sync_runs_when_due("fast", worker)
        for future in list(daemon.jobs.values()):
            future.result(timeout=5)
        return len(synced) - before

    try:
        assert tick() == 1  # the first look
        assert tick() == 0  # idle: not again before run_interval_seconds
        run = Run.create(cluster="fast", dag_id="d", dag_run_id="r", dataset_name="ds",
                         status="RUNNING")
        assert tick() == 1 and tick() == 1  # busy: every busy interval
        run.delete_instance()
        assert tick() == 0
        daemon._last_run_sync["fast"] -= 31  # run_interval_seconds went by
        assert tick() == 1
    finally:
        daemon.close()
