"""One ``basecamp demo``: a local Airflow 3, the daemon and the dashboard on a demo world
of their own, and everything stopped again when the demo ends.

Every process the demo starts is the root of a process group of its own (Airflow's
standalone and the daemon), so stopping a root's group and the processes below it stops
everything; a reaper process does the same if the demo is killed or its terminal closes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from basecamp_cli.demo.airflow import (
    LocalAirflow,
    clean_env,
    install_airflow,
    start_airflow,
    stop_process_tree,
)
from basecamp_cli.demo.project import (
    FIRST_RUN,
    PASSWORD_ENV,
    PREFIX,
    DemoPaths,
    airflow_env_extra,
    write_config,
    write_specs,
)
from daemon.actions import enqueue
from daemon.core.config import Config, load_config
from daemon.core.errors import BasecampError, UserError
from daemon.read.status import daemon_status
from daemon.read.workflows import WorkflowFilter, list_workflows
from daemon.store.db import open_for_reading

AIRFLOW_VERSION = "3.3.2"
DAEMON_START_TIMEOUT = 60.0
DAG_TIMEOUT = 120.0

Progress = Callable[[str], None]


class DemoInterrupted(BaseException):
    """The demo was asked to end (a signal) while it was starting."""


class DemoSession:
    """Start with :meth:`start`; :meth:`stop` ends every process the demo started (also
    when ``start`` failed halfway)."""

    def __init__(self, where: DemoPaths, progress: Progress) -> None:
        self.where = where
        self.progress = progress
        self.airflow: LocalAirflow | None = None
        self.daemon: subprocess.Popen[bytes] | None = None
        self.reaper: subprocess.Popen[bytes] | None = None

    def start(self) -> Config:
        """Install (first time only) and start everything; returns the demo's config with
        its store open and a first run queued."""
        venv = install_airflow(self.where.root, AIRFLOW_VERSION, progress=self.progress)
        write_specs(self.where)
        self.airflow = start_airflow(venv, AIRFLOW_VERSION, self.where.dags,
                                     self.where.airflow_home, env_extra=airflow_env_extra(),
                                     progress=self.progress)
        self._watch()
        config = load_config(write_config(self.where, self.airflow.url))
        self._start_daemon(config)
        self._wait_for_dag(f"{PREFIX}__{FIRST_RUN}")
        self._queue_first_run(config)
        return config

    def stop(self) -> None:
        """Stop the daemon (it hands its work back) and Airflow; safe to call twice."""
        if self.daemon is not None:
            self.progress("stopping the daemon")
            stop_process_tree(self.daemon, timeout=15)
            self.daemon = None
        if self.airflow is not None:
            self.progress("stopping Airflow")
            self.airflow.stop()
            self.airflow = None

    # -- steps ---------------------------------------------------------------------------

    def _start_daemon(self, config: Config) -> None:
        self.progress("starting the basecamp daemon")
        env = {**clean_env(), PASSWORD_ENV: self.airflow.password if self.airflow else ""}
        command = [sys.executable, "-m", "basecamp_cli.main", "--config", str(self.where.config),
                   "daemon"]
        with open(self.where.daemon_log, "ab") as log:
            self.daemon = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        self._watch()
        deadline = time.monotonic() + DAEMON_START_TIMEOUT
        while True:
            if self.daemon.poll() is not None:
                raise UserError(f"The demo's daemon exited (code {self.daemon.returncode}); "
                                f"its log is {self.where.daemon_log}:\n{self._daemon_log_tail()}")
            try:
                open_for_reading(config.database.url)
                if daemon_status(config.daemon.stale_after_seconds).running:
                    return
            except BasecampError:
                pass  # no schema yet: the daemon is creating it
            if time.monotonic() > deadline:
                raise UserError(f"The demo's daemon did not start in {DAEMON_START_TIMEOUT:.0f} s; "
                                f"its log is {self.where.daemon_log}")
            time.sleep(0.2)

    def _watch(self) -> None:
        """(Re)start the reaper over the processes started so far."""
        roots = [p.pid for p in (self.airflow.process if self.airflow else None, self.daemon) if p]
        if self.reaper is not None:
            self.reaper.kill()
            self.reaper.wait()
        self.reaper = subprocess.Popen(
            [sys.executable, "-m", "basecamp_cli.demo.reaper", str(os.getpid()),
             str(self.where.airflow_home), *map(str, roots)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

    def _wait_for_dag(self, dag_id: str) -> None:
        """Until Airflow has parsed the first workflow's DAG (the factory builds it from
        the spec store a few seconds after Airflow starts)."""
        assert self.airflow is not None
        self.progress("waiting for Airflow to build the demo's DAGs")
        deadline = time.monotonic() + DAG_TIMEOUT
        while time.monotonic() < deadline:
            try:
                token = httpx.post(f"{self.airflow.url}/auth/token", timeout=10, json={
                    "username": self.airflow.username, "password": self.airflow.password})
                response = httpx.get(f"{self.airflow.url}/api/v2/dags/{dag_id}", timeout=10,
                                     headers={"Authorization": f"Bearer {token.json()['access_token']}"})
                if response.status_code == 200:
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(1)
        raise UserError(f"Airflow did not build the DAG {dag_id} in {DAG_TIMEOUT:.0f} s; its "
                        f"log is {self.airflow.log_path}")

    def _queue_first_run(self, config: Config) -> None:
        """A run through the daemon, as a user's would go, once the spec sync saw it."""
        self.progress(f"running {FIRST_RUN}")
        deadline = time.monotonic() + DAEMON_START_TIMEOUT
        while not list_workflows(WorkflowFilter(dataset=FIRST_RUN, source="code")):
            if time.monotonic() > deadline:
                raise UserError(f"The demo's daemon did not sync the specs; its log is "
                                f"{self.where.daemon_log}")
            time.sleep(0.2)
        enqueue("run", FIRST_RUN, params={"parameters": {
            "execution_date": date.today().isoformat()}}, reason="basecamp demo: a first run",
            max_spec_bytes=config.storage.max_spec_bytes)

    def _daemon_log_tail(self) -> str:
        try:
            return self.where.daemon_log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"


class Interrupts:
    """SIGTERM and SIGHUP (a closed terminal) end the demo like Ctrl-C does. While it
    starts, the handler raises :class:`DemoInterrupted`, so the code unwinds through
    ``finally`` and stops what it started; once the dashboard runs, the handler asks the
    dashboard to exit through its event loop (an exception raised into a running Textual
    app can leave it hanging on a terminal that is gone)."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.app: Any = None
        """The running dashboard, once there is one."""
        self.stopping = False
        """Set while the demo stops what it started: a second signal must not cut that short."""
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def __exit__(self, *_: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.stopping:
            return
        if self.app is not None:
            try:
                asyncio.get_running_loop().call_soon_threadsafe(self.app.exit)
                return
            except RuntimeError:  # the dashboard's loop is not running (yet, or any more)
                pass
        raise DemoInterrupted(signal.Signals(signum).name)


def demo_paths(root: Path | None = None) -> DemoPaths:
    return DemoPaths(root) if root is not None else DemoPaths.default()
