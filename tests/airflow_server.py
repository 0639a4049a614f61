"""A real Apache Airflow for tests: ``airflow standalone`` on loopback, one per test session.

Plain functions (reused by ``bench/``):

- ``ensure_airflow_venv(version)`` installs ``apache-airflow==<version>`` once into
  ``${BASECAMP_TEST_CACHE:-~/.cache/basecamp-tests}/airflow-<version>`` from the committed
  lock ``requirements/airflow-<version>.txt`` (a marker file records the lock's digest after a
  successful install; a lock file serialises concurrent sessions).
- ``start_airflow(version, dags_dir, env_extra)`` starts ``airflow standalone`` on a free
  127.0.0.1 port in its own process group and returns an ``AirflowServer`` once the REST
  API answers with valid credentials; ``AirflowServer.stop()`` kills the whole group.
- ``restart_airflow(server)`` starts a stopped server again on the same port and database.
- ``wait_for_dag(server, dag_id, timeout)`` polls the REST API until the DAG is parsed.
- ``prepare_dags_dir(dags_dir)`` copies ``contrib/airflow/basecamp_dag_factory.py`` into a
  DAG folder; the spec dir is ``dags_dir/specs`` (passed as ``BASECAMP_SPEC_DIR``).

Session fixtures ``airflow3`` (3.3.2, REST ``/api/v2`` with a JWT) and ``airflow2`` (2.11.2,
REST ``/api/v1`` with basic auth) run with ``BASECAMP_DAG_PREFIX=bc`` and
``BASECAMP_TEAM=@data-engineering``; tests write specs into ``server.spec_dir``. Mark tests
that use them ``@pytest.mark.airflow`` / ``@pytest.mark.airflow2``.

Basecamp is never installed into these venvs: python-daemon owns the module name ``daemon``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.s3server import free_port

AIRFLOW3_VERSION = "3.3.2"
AIRFLOW2_VERSION = "2.11.2"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"
REPO_ROOT = Path(__file__).resolve().parent.parent
FACTORY_FILE = REPO_ROOT / "contrib" / "airflow" / "basecamp_dag_factory.py"
TEST_TEAM = "@data-engineering"
TEST_PREFIX = "bc"
START_TIMEOUT = 180.0
INSTALL_TIMEOUT = 1800.0


def cache_dir() -> Path:
    root = os.environ.get("BASECAMP_TEST_CACHE") or str(Path.home() / ".cache" / "basecamp-tests")
    return Path(root).expanduser()


def _log(message: str) -> None:
    print(f"[airflow-tests] {message}", file=sys.stderr, flush=True)


def airflow_lock(version: str) -> Path:
    """The committed lock (exact versions with hashes) of ``apache-airflow==version``."""
    return REPO_ROOT / "requirements" / f"airflow-{version}.txt"


def _installed(venv: Path, lock_digest: str) -> bool:
    """The venv was installed completely, from the lock as it is now."""
    marker = venv / ".basecamp-installed"
    return marker.exists() and marker.read_text().split("\n", 1)[0] == lock_digest


def ensure_airflow_venv(version: str) -> Path:
    """Install ``apache-airflow==version`` from its lock into its own cached venv (once, and
    again when the lock changes); return the venv."""
    venv = cache_dir() / f"airflow-{version}"
    lock_file = airflow_lock(version)
    lock_digest = hashlib.sha256(lock_file.read_bytes()).hexdigest()
    if _installed(venv, lock_digest):
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    lock_path = venv.parent / f"airflow-{version}.lock"
    with open(lock_path, "w") as lock:
        _log(f"waiting for the install lock {lock_path}")
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _installed(venv, lock_digest):  # another session installed it meanwhile
                return venv
            if venv.exists():
                shutil.rmtree(venv)
            python = shutil.which("python3.11") or shutil.which("python3") or sys.executable
            _log(f"creating {venv} with {python}")
            subprocess.run([python, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip"]
            subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True)
            reqs = ["--require-hashes", "-r", str(lock_file)]
            _log(f"pip install -r {lock_file.name} (takes a minute or more)")
            started = time.monotonic()
            result = subprocess.run(
                [*pip, "install", "--progress-bar", "off", *reqs],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
            if result.returncode != 0:
                tail = result.stdout.decode(errors="replace")[-3000:]
                raise RuntimeError(f"pip install {' '.join(reqs)} failed:\n{tail}")
            check = subprocess.run(
                [str(venv / "bin" / "airflow"), "version"],
                env={**_clean_env(), "AIRFLOW_HOME": str(venv / "_probe_home")},
                capture_output=True,
                timeout=300,
                check=False,
            )
            shutil.rmtree(venv / "_probe_home", ignore_errors=True)
            if check.returncode != 0:
                tail = (check.stdout + check.stderr).decode(errors="replace")[-3000:]
                raise RuntimeError(f"`airflow version` fails in {venv}:\n{tail}")
            (venv / ".basecamp-installed").write_text(
                f"{lock_digest}\n{check.stdout.decode().strip()}\n"
            )
            _log(f"installed Airflow {version} in {time.monotonic() - started:.0f} s")
            return venv
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _clean_env() -> dict[str, str]:
    """This process's environment without anything that would leak basecamp's venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BASECAMP_"))}
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONHOME", None)
    return env


def airflow_env(
    venv: Path, home: Path, dags_dir: Path, env_extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment for an ``airflow`` command from ``venv`` (its ``bin`` first on PATH)."""
    env = _clean_env()
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "BASECAMP_SPEC_DIR": str(dags_dir / "specs"),
        }
    )
    env.update(env_extra or {})
    return env


def prepare_dags_dir(dags_dir: Path) -> Path:
    """Copy the DAG factory into ``dags_dir``; create and return the spec dir ``dags_dir/specs``."""
    dags_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(FACTORY_FILE, dags_dir / FACTORY_FILE.name)
    spec_dir = dags_dir / "specs"
    for source in ("code", "manual"):
        (spec_dir / source).mkdir(parents=True, exist_ok=True)
    return spec_dir


@dataclass
class AirflowServer:
    url: str
    username: str
    password: str
    api_version: str  # "v2" (Airflow 3, JWT) or "v1" (Airflow 2, basic auth)
    home: Path
    process: subprocess.Popen[bytes]
    dags_dir: Path = field(default=Path())
    log_path: Path = field(default=Path())
    token: str | None = None
    token_expires: float = 0.0
    version: str = ""
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def spec_dir(self) -> Path:
        return self.dags_dir / "specs"

    @property
    def api(self) -> str:
        return f"/api/{self.api_version}"

    def auth_headers(self) -> dict[str, str]:
        if self.api_version == "v1":
            return {}
        if self.token is None or time.time() > self.token_expires - 60:
            self.token, self.token_expires = fetch_token(self.url, self.username, self.password)
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """An httpx client on the server with credentials (bearer JWT or basic auth)."""
        auth = (self.username, self.password) if self.api_version == "v1" else None
        return httpx.Client(
            base_url=self.url, headers=self.auth_headers(), auth=auth, timeout=timeout
        )

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the whole process group (standalone's children outlive it) and every
        descendant that moved to a session of its own, then SIGKILL what is left."""
        root = self.process.pid
        pids = _descendants(root)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            _signal_group(root, sig)
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 10)
            while time.monotonic() < deadline:
                self.process.poll()
                pids = [pid for pid in pids if _alive(pid)]
                if not _group_alive(root) and not pids:
                    break
                time.sleep(0.2)
            else:
                continue
            break
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _descendants(root: int) -> list[int]:
    """PIDs below ``root`` in the process tree (Linux /proc), whatever their group."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def fetch_token(url: str, username: str, password: str) -> tuple[str, float]:
    """Airflow 3: a JWT from ``POST /auth/token``; returns (token, expiry epoch seconds)."""
    response = httpx.post(
        f"{url}/auth/token", json={"username": username, "password": password}, timeout=30
    )
    response.raise_for_status()
    token = response.json()["access_token"]
    return token, _jwt_expiry(token)


def _jwt_expiry(token: str) -> float:
    import base64

    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return float(json.loads(base64.urlsafe_b64decode(payload))["exp"])
    except (IndexError, KeyError, ValueError):
        return time.time() + 300


def _server_env(version: str, port: int, home: Path) -> dict[str, str]:
    """Settings that keep a test Airflow light and quick on a 2-core machine."""
    env = {
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "3",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
    }
    if version.startswith("2."):
        env.update(
            {
                "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
                "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(port),
                "AIRFLOW__WEBSERVER__WORKERS": "1",
                "AIRFLOW__WEBSERVER__SECRET_KEY": "basecamp-tests",
                "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
                "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "3",
                "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            }
        )
    else:
        passwords = home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
        env.update(
            {
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__API_AUTH__JWT_SECRET": "basecamp-tests-jwt-secret",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            }
        )
    return env


def _create_airflow2_admin(env: dict[str, str], log_path: Path) -> None:
    """Airflow 2's standalone picks a random admin password: create ``admin`` first."""
    with open(log_path, "ab") as log:
        for args in (
            ["db", "migrate"],
            ["users", "create", "--username", ADMIN_USER, "--password", ADMIN_PASSWORD,
             "--firstname", "Admin", "--lastname", "User", "--role", "Admin",
             "--email", "admin@example.com"],
        ):
            result = subprocess.run(
                ["airflow", *args], env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, timeout=600, check=False,
            )
            if result.returncode != 0:
                tail = log_path.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"`airflow {' '.join(args)}` failed:\n{tail}")


def start_airflow(
    version: str, dags_dir: Path, env_extra: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT,
) -> AirflowServer:
    """``airflow standalone`` of ``version`` on a free loopback port, serving ``dags_dir``.

    Returns once the REST API answers an authenticated request. ``env_extra`` is added to
    the environment last (e.g. ``BASECAMP_TEAM``, ``BASECAMP_DAG_PREFIX``).
    """
    venv = ensure_airflow_venv(version)
    spec_dir = prepare_dags_dir(dags_dir)
    home = Path(dags_dir).parent / f"airflow-home-{version}"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = airflow_env(venv, home, dags_dir, {"BASECAMP_SPEC_DIR": str(spec_dir)})
    env.update(_server_env(version, port, home))
    env.update(env_extra or {})
    log_path = home / "standalone.log"
    api_version = "v1" if version.startswith("2.") else "v2"
    if api_version == "v1":
        _create_airflow2_admin(env, log_path)
    _log(f"starting Airflow {version} on 127.0.0.1:{port} (home {home})")
    server = AirflowServer(
        url=f"http://127.0.0.1:{port}", username=ADMIN_USER, password=ADMIN_PASSWORD,
        api_version=api_version, home=home, process=_spawn(env, home, log_path),
        dags_dir=dags_dir, log_path=log_path, version=version, env=env,
    )
    _wait_ready(server, timeout)
    return server


def restart_airflow(server: AirflowServer, timeout: float = START_TIMEOUT) -> AirflowServer:
    """Start a stopped ``server`` again: same port, home, database and environment.

    ``server`` is updated in place (new process) and returned once the API answers.
    """
    server.stop()
    server.token = None
    _log(f"restarting Airflow {server.version} on {server.url}")
    server.process = _spawn(server.env, server.home, server.log_path)
    _wait_ready(server, timeout)
    return server


def _spawn(env: dict[str, str], home: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            ["airflow", "standalone"], env=env, cwd=home, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills all its children
        )


def _wait_ready(server: AirflowServer, timeout: float) -> None:
    """Poll until the REST API is ready; on failure stop the server and show its log."""
    started = time.monotonic()
    last_error = "no answer yet"
    while True:
        ok, last_error = _api_ready(server)
        if ok:
            _log(f"Airflow {server.version} is up in {time.monotonic() - started:.0f} s")
            return
        exit_code = server.process.poll()
        if exit_code is not None or time.monotonic() - started > timeout:
            state = f"exited with code {exit_code}" if exit_code is not None else "is not ready"
            server.stop()
            raise RuntimeError(
                f"Airflow {server.version} on {server.url} {state} after {timeout:.0f} s "
                f"(last check: {last_error}); log tail:\n{server.log_tail()}"
            )
        time.sleep(0.5)


def _api_ready(server: AirflowServer) -> tuple[bool, str]:
    """The version endpoint answers 200 and the credentials are accepted."""
    try:
        with server.client(timeout=5) as client:
            version = client.get(f"{server.api}/version")
            if version.status_code != 200:
                return False, f"GET {server.api}/version -> {version.status_code}"
            dags = client.get(f"{server.api}/dags", params={"limit": 1})
            if dags.status_code != 200:
                return False, f"GET {server.api}/dags -> {dags.status_code}: {dags.text[:200]}"
            return True, ""
    except (httpx.HTTPError, OSError) as exc:
        server.token = None
        return False, repr(exc)


def wait_for_dag(server: AirflowServer, dag_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """Poll ``GET /api/vN/dags/{dag_id}`` until the DAG is registered; return its JSON."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        with server.client() as client:
            response = client.get(f"{server.api}/dags/{dag_id}")
            if response.status_code == 200:
                dag = response.json()
                usable = dag.get("is_active", True) is not False and not dag.get("is_stale")
                if usable and not dag.get("has_import_errors"):
                    details = client.get(f"{server.api}/dags/{dag_id}/details")
                    if details.status_code == 200:
                        return dag
                    last = f"details -> {details.status_code}"
                else:
                    last = f"dag listed but not usable: {dag}"
            else:
                last = f"{response.status_code}: {response.text[:200]}"
        time.sleep(1)
    raise AssertionError(
        f"DAG {dag_id} not registered on {server.url} within {timeout:.0f} s ({last}); "
        f"log tail:\n{server.log_tail()}"
    )


def _server_fixture(
    version: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowServer]:
    base = tmp_path_factory.mktemp(f"airflow-{version}")
    try:
        server = start_airflow(
            version, base / "dags",
            {"BASECAMP_DAG_PREFIX": TEST_PREFIX, "BASECAMP_TEAM": TEST_TEAM},
        )
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def airflow3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """A running Airflow 3.3.2 (REST /api/v2, JWT) serving the DAG factory."""
    yield from _server_fixture(AIRFLOW3_VERSION, tmp_path_factory)


@pytest.fixture(scope="session")
def airflow2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """A running Airflow 2.11.2 (REST /api/v1, basic auth) serving the DAG factory."""
    yield from _server_fixture(AIRFLOW2_VERSION, tmp_path_factory)


if __name__ == "__main__":  # python -m tests.airflow_server 3.3.2 2.11.2: pre-install
    for arg in sys.argv[1:] or [AIRFLOW3_VERSION, AIRFLOW2_VERSION]:
        print(ensure_airflow_venv(arg))
