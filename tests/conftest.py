"""Shared fixtures: every test gets private XDG directories and no inherited config, so
nothing reads or writes the developer's real ~/.local/share/basecamp.

A plain ``pytest`` leaves out the tests that need a real Airflow (markers ``airflow`` and
``airflow2``: the first run installs Airflow, which takes minutes). ``pytest --airflow``
runs them too, as ``.ci/run`` does; so does a ``-m`` expression that names them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from peewee import Database

from daemon.store.db import open_store

pytest_plugins = ["tests.s3server", "tests.pgserver", "tests.airflow_server"]

AIRFLOW_MARKERS = ("airflow", "airflow2")
_LEFT_OUT = pytest.StashKey[int]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--airflow", action="store_true",
                     help="also run the tests against a real Airflow 3 and 2 (CI does)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--airflow") or any(m in config.getoption("-m") for m in AIRFLOW_MARKERS):
        return
    kept, left_out = [], []
    for item in items:
        needs_airflow = any(item.get_closest_marker(m) for m in AIRFLOW_MARKERS)
        (left_out if needs_airflow else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
        config.stash[_LEFT_OUT] = len(left_out)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    left_out = config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(
            f"{left_out} tests against a real Airflow were not run: `pytest --airflow` "
            "(or `bash .ci/run`) runs them.")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.delenv("BASECAMP_CONFIG", raising=False)
    return home


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite store with the schema applied, bound to the models."""
    db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield db
    db.close()
