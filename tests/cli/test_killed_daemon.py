"""A daemon killed in the middle of a spec sync leaves a consistent store: the next run
completes the sync with nothing lost or duplicated (everything is written in one
transaction)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from basecamp_cli.main import main
from daemon.store.db import open_store
from daemon.store.models import SpecFile, Workflow
from tests.specs import spec_yaml

SPECS = 3000


def test_kill_9_during_a_spec_sync_loses_nothing(tmp_path: Path, monkeypatch, capsys):
    specs = tmp_path / "specs"
    (specs / "code").mkdir(parents=True)
    (specs / "manual").mkdir()
    for i in range(SPECS):
        (specs / "code" / f"{i:05d}.yaml").write_bytes(spec_yaml(f"ds.{i:05d}"))
    config = tmp_path / "basecamp.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/store.db"\n[storage]\npath = "{specs}"\n')
    env = {**os.environ, "BASECAMP_CONFIG": str(config)}
    command = [sys.executable, "-c", "import sys; from basecamp_cli.main import main; sys.exit(main())",
               "daemon", "--once"]

    victim = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    time.sleep(1.0)  # into the fetch/parse/write of 3,000 files
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    assert victim.returncode == -signal.SIGKILL, "the sync finished before it could be killed"

    open_store(f"sqlite:///{tmp_path}/store.db")
    assert SpecFile.select().count() in (0, SPECS)  # all or nothing, never half
    monkeypatch.setenv("BASECAMP_CONFIG", str(config))
    assert main(["daemon", "--once"]) == 0
    assert SpecFile.select().count() == SPECS
    assert Workflow.select().where(Workflow.status == "active").count() == SPECS
