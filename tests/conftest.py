"""Shared fixtures: every test gets private XDG directories and no inherited config, so
nothing reads or writes the developer's real ~/.local/share/basecamp."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from peewee import Database

from daemon.store.db import open_store

pytest_plugins = ["tests.s3server", "tests.pgserver", "tests.airflow_server"]


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
