"""basecamp installed without the PostgreSQL extra (no psycopg2, as
``requirements/basecamp.txt`` installs it): the daemon, the dashboard and the CLI still
import and run a SQLite store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
sys.modules["psycopg2"] = None  # as if not installed: importing it raises ImportError
from basecamp_cli.main import main
import basecamp_tui.app, daemon.runtime.daemon
sys.exit(main(["daemon", "--once"]))
"""


def test_a_sqlite_install_needs_no_psycopg2(tmp_path: Path) -> None:
    (tmp_path / "specs" / "code").mkdir(parents=True)
    (tmp_path / "specs" / "manual").mkdir()
    config = tmp_path / "basecamp.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/store.db"\n'
                      f'[storage]\npath = "{tmp_path}/specs"\n')
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={"BASECAMP_CONFIG": str(config), "PATH": "/usr/bin:/bin",
                                             "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
