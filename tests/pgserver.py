"""A real PostgreSQL server for tests: one throwaway cluster on loopback per test session.

Fixtures: ``postgres_url`` (session: URL of the server's ``postgres`` maintenance database)
and ``postgres_store`` (function: a fresh database with the schema applied, bound to the
models). For code that must behave the same on both backends, ``empty_store_url`` and
``db_store`` are parametrized over SQLite and PostgreSQL (the latter marked ``postgres``).
``start_postgres``/``stop_postgres`` are plain functions so ``bench/`` can reuse them.
The cluster lives in a temp directory with fsync off and trust auth; PostgreSQL refuses
to run as root, so under root it runs as the ``postgres`` OS user.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from peewee import Database

from daemon.store.db import open_for_reading, open_store
from daemon.store.models import ALL_MODELS
from tests.s3server import free_port

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, postgres, pg_ctl) were not found in "
    "/usr/lib/postgresql/*/bin or on PATH. Install them: apt-get install -y postgresql"
)
OS_USER = "postgres"


class PostgresNotInstalled(RuntimeError):
    pass


@dataclass
class PostgresServer:
    process: subprocess.Popen[bytes]
    bin_dir: Path
    base_dir: Path
    port: int
    run_as: list[str]

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"


def find_bin_dir() -> Path:
    """The directory holding ``initdb``/``postgres``/``pg_ctl`` (newest Debian version first)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: [int(n) for n in Path(path).parent.parent.name.split(".") if n.isdigit()],
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(on_path)
    for initdb in candidates:
        bin_dir = Path(initdb).parent
        if all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "postgres", "pg_ctl")):
            return bin_dir
    raise PostgresNotInstalled(INSTALL_HINT)


def _run_as() -> list[str]:
    """Command prefix that drops root to the ``postgres`` OS user (empty when not root)."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root but `runuser` is missing: cannot start PostgreSQL")
    return [runuser, "-u", OS_USER, "--"]


def start_postgres(timeout: float = 60.0) -> tuple[str, PostgresServer]:
    """initdb a cluster in a temp dir and start it on a free 127.0.0.1 port.

    Returns the URL of the ``postgres`` database once it accepts connections, and the
    handle for ``stop_postgres``. The server log is shown if it does not come up.
    """
    deadline = time.monotonic() + timeout
    bin_dir = find_bin_dir()
    run_as = _run_as()
    base_dir = Path(tempfile.mkdtemp(prefix="basecamp-pg-"))
    if run_as:
        shutil.chown(base_dir, user=OS_USER, group=OS_USER)
    data_dir, log_path = base_dir / "data", base_dir / "postgres.log"
    initdb = [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "-A", "trust"]
    try:
        init = subprocess.run(
            [*run_as, *initdb, "-E", "UTF8", "--no-locale", "--no-sync"],
            cwd=base_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(base_dir, ignore_errors=True)
        raise RuntimeError(f"initdb did not finish within {timeout:.0f} s") from exc
    if init.returncode != 0:
        shutil.rmtree(base_dir, ignore_errors=True)
        output = (init.stdout + init.stderr).decode(errors="replace")[-2000:]
        raise RuntimeError(f"initdb failed with code {init.returncode}:\n{output}")
    port = free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(base_dir),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*run_as, str(bin_dir / "postgres"), "-D", str(data_dir), *options],
            cwd=base_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stop_postgres can kill it all
        )
    server = PostgresServer(process, bin_dir, base_dir, port, run_as)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    while not _accepts_connections(port):
        exit_code = process.poll()
        if exit_code is not None or time.monotonic() > deadline:
            state = "did not accept connections" if exit_code is None else f"exited ({exit_code})"
            output = log_path.read_text(errors="replace")[-2000:]
            stop_postgres(server)
            raise RuntimeError(
                f"PostgreSQL on 127.0.0.1:{port} {state} within {timeout:.0f} s; its log:\n{output}"
            )
        time.sleep(0.05)
    return url, server


def stop_postgres(server: PostgresServer) -> None:
    """Stop the server at once (no shutdown checkpoint) and delete its directory."""
    if server.process.poll() is None:
        pg_ctl = [str(server.bin_dir / "pg_ctl"), "stop", "-D", str(server.data_dir)]
        subprocess.run(
            [*server.run_as, *pg_ctl, "-m", "immediate", "-w", "-t", "10"],
            cwd=server.base_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
    shutil.rmtree(server.base_dir, ignore_errors=True)


def _accepts_connections(port: int) -> bool:
    try:
        psycopg2.connect(
            host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=1
        ).close()
        return True
    except psycopg2.OperationalError:
        return False


def create_database(server_url: str) -> str:
    """Create an empty, uniquely named database; return its URL."""
    name = f"basecamp_test_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(server_url)
    try:
        conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with conn.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        url, server = start_postgres()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield url
    finally:
        stop_postgres(server)


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[Database]:
    """A fresh PostgreSQL database with the schema applied, bound to the models."""
    db = open_store(create_database(postgres_url))
    yield db
    db.close()


STORE_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORE_BACKENDS)
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database (no tables), once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return create_database(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def postgres_reused_url(postgres_url: str) -> str:
    """A database with the schema applied, shared by the tests of a session (``db_store``)."""
    url = create_database(postgres_url)
    open_store(url).close()
    return url


@pytest.fixture(params=STORE_BACKENDS)
def db_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty store with the schema applied and bound to the models, once on SQLite and
    once on PostgreSQL: for store-level code whose SQL must mean the same on both.

    The PostgreSQL store is one database per session whose tables are emptied (ids
    restarted) before each test: 40 ms instead of 300 for a new database. Tests that
    change the schema or the migration rows take ``postgres_store`` instead."""
    if request.param == "sqlite":
        db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        db = open_for_reading(request.getfixturevalue("postgres_reused_url"))
        tables = ", ".join(f'"{model._meta.table_name}"' for model in ALL_MODELS)
        with db.atomic():
            # a connection a test left inside a transaction would block this: fail instead
            db.execute_sql("SET LOCAL lock_timeout = '5s'")
            db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY")
    yield db
    db.close()
