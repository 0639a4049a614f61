"""A shared PostgreSQL store read by people with the least privilege
(contrib/postgres/readers.sql): the dashboard and every CLI command work with only
``[database] url``, actions are queued in the person's own name (the database's word),
and a write outside the action queue is refused by PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest

from basecamp_cli.main import main
from daemon.store.db import open_for_reading
from tests.specs import spec_yaml
from tests.tui.conftest import loaded

READERS_SQL = Path(__file__).resolve().parents[2] / "contrib" / "postgres" / "readers.sql"
pytestmark = pytest.mark.postgres


@pytest.fixture
def shared(tmp_path: Path, postgres_store, monkeypatch) -> dict[str, object]:
    """A store filled by the daemon (the owner role), and a laptop config for alice."""
    owner_url = _url(postgres_store)
    specs = tmp_path / "specs"
    (specs / "code").mkdir(parents=True)
    (specs / "manual").mkdir()
    (specs / "code" / "clicks.yaml").write_bytes(spec_yaml("ds.clicks", team="@data-platform"))
    daemon_config = tmp_path / "daemon.toml"
    daemon_config.write_text(
        f'[database]\nurl = "{owner_url}"\n[storage]\npath = "{specs}"\n'
        '[[clusters]]\nname = "dp"\nteam = "@data-platform"\nurl = "http://127.0.0.1:9"\n'
        'auth = "none"\ntimeout_seconds = 1\n')
    monkeypatch.chdir(tmp_path)
    main(["--config", str(daemon_config), "daemon", "--once"])  # 1: the cluster is down
    with psycopg2.connect(owner_url) as conn, conn.cursor() as cursor:
        cursor.execute(READERS_SQL.read_text())
        cursor.execute("DROP ROLE IF EXISTS alice")
        cursor.execute("CREATE ROLE alice LOGIN IN ROLE basecamp_reader")
    alice_url = _url(postgres_store, user="alice")
    laptop = tmp_path / "laptop.toml"
    laptop.write_text(f'[database]\nurl = "{alice_url}"\n')
    return {"laptop": laptop, "alice_url": alice_url}


def _url(db, user: str | None = None) -> str:
    params = db.connect_params
    return (f"postgresql://{user or params.get('user')}@{params.get('host')}:"
            f"{params.get('port')}/{db.database}")


def run(capsys, laptop: Path, *argv: str) -> str:
    capsys.readouterr()
    code = main(["--config", str(laptop), *argv])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_every_reader_command_works_with_read_and_insert_action_only(shared, capsys):
    laptop = shared["laptop"]
    listed = json.loads(run(capsys, laptop, "workflow", "list", "--format", "json"))
    assert [w["dataset_name"] for w in listed] == ["ds.clicks"]
    for argv in (["workflow", "history"], ["specs"], ["events"], ["clusters"],
                 ["workflow", "list", "--all"]):
        run(capsys, laptop, *argv)
    assert "Queued action" in run(capsys, laptop, "workflow", "pause", "ds.clicks", "--no-wait")
    with psycopg2.connect(shared["alice_url"]) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT requested_by, requested_by_os FROM action")
        [(who, os_user)] = cursor.fetchall()
    assert who == "alice" and os_user != "alice"  # the database's word, the client's aside


def test_a_write_outside_the_action_queue_is_refused(shared):
    with psycopg2.connect(shared["alice_url"]) as conn, conn.cursor() as cursor:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cursor.execute("UPDATE workflow SET status = 'paused'")
    with psycopg2.connect(shared["alice_url"]) as conn, conn.cursor() as cursor:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cursor.execute("INSERT INTO event (at, kind, severity, subject, message) "
                           "VALUES (now(), 'x', 'info', 's', 'm')")


@pytest.mark.anyio
async def test_the_dashboard_works_for_a_reader(shared):
    from basecamp_tui.app import BasecampApp
    from daemon.core.config import load_config

    config = load_config(str(shared["laptop"]))
    open_for_reading(config.database.url)
    app = BasecampApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        assert "ds.clicks\x00code" in app.main.workflows.model
        assert not [n for n in app._notifications if n.severity == "error"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
