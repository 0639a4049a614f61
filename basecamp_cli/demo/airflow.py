"""A private Apache Airflow on loopback, for ``basecamp demo`` and for the tests.

- :func:`install_airflow` installs ``apache-airflow==VERSION`` from the committed lock
  (``requirements/airflow-VERSION.txt``: exact versions with hashes) into its own virtual
  environment, never into basecamp's (python-daemon, which Airflow pulls in, owns the
  module name ``daemon``). A marker holding the lock's digest is written once
  ``airflow version`` runs: an install that fails or is interrupted is removed (and one
  killed outright is rebuilt on the next call), and a changed lock installs again.
- :func:`start_airflow` runs ``airflow standalone`` on a free 127.0.0.1 port, in a
  process group of its own, and returns once the REST API accepts the credentials;
  :meth:`LocalAirflow.stop` ends the group and every process below it (standalone's
  children outlive it otherwise).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from daemon.core.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCKS = REPO_ROOT / "requirements"
FACTORY_FILE = REPO_ROOT / "contrib" / "airflow" / "basecamp_dag_factory.py"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"
START_TIMEOUT = 180.0
INSTALL_TIMEOUT = 1800.0
MARKER = ".basecamp-installed"

Progress = Callable[[str], None]
"""Told each step of a long operation, as one line of text."""


class AirflowInstallError(UserError):
    """Airflow could not be installed; the message says why and what to do."""


class AirflowStartError(UserError):
    """Airflow did not come up; the message has the end of its log."""


def lock_file(version: str) -> Path:
    return LOCKS / f"airflow-{version}.txt"


def airflow_venv(root: Path, version: str) -> Path:
    return root / f"airflow-{version}"


def _installed(venv: Path, digest: str) -> bool:
    marker = venv / MARKER
    return marker.exists() and marker.read_text().split("\n", 1)[0] == digest


def clean_env() -> dict[str, str]:
    """This process's environment without anything of basecamp's venv or Airflow's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BASECAMP_"))}
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    return env


def install_airflow(root: Path, version: str, progress: Progress = lambda _: None) -> Path:
    """The venv with ``apache-airflow==version`` from its lock, installed once (again when
    the lock changes); concurrent callers wait for each other."""
    lock = lock_file(version)
    if not lock.exists():
        raise AirflowInstallError(f"There is no lock for Airflow {version} ({lock}): run "
                                  "basecamp from its source checkout, or `bash .ci/lock`.")
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    venv = airflow_venv(root, version)
    if _installed(venv, digest):
        return venv
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"airflow-{version}.lock", "w") as held:
        progress("waiting for another install of Airflow to finish")
        fcntl.flock(held, fcntl.LOCK_EX)
        if _installed(venv, digest):  # the other install finished it
            return venv
        # A venv cannot move (its scripts name their interpreter by path): it is built
        # in place, the marker written last, and removed unless it was completed.
        shutil.rmtree(venv, ignore_errors=True)
        complete = False
        try:
            _build(venv, lock, version, progress)
            (venv / MARKER).write_text(f"{digest}\n")
            complete = True
        finally:
            if not complete:
                shutil.rmtree(venv, ignore_errors=True)
    return venv


def _build(venv: Path, lock: Path, version: str, progress: Progress) -> None:
    if sys.version_info < (3, 11):
        raise AirflowInstallError(
            f"basecamp runs on Python {sys.version.split()[0]}; the demo's Airflow needs "
            "Python 3.11 or newer. Install basecamp with a newer Python and try again.")
    progress("creating a virtual environment")
    # The venv takes this Python, not a python3 on PATH: one known to be new enough.
    _step([sys.executable, "-m", "venv", str(venv)], "create a virtual environment", 300)
    packages = len(re.findall(r"^\S+==", lock.read_text(), re.M))
    command = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-input",
               "--progress-bar", "off", "--require-hashes", "-r", str(lock)]
    process = subprocess.Popen(command, env=clean_env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    seen, tail = 0, []
    started = time.monotonic()
    for line in process.stdout:
        tail = (tail + [line.rstrip()])[-40:]
        if line.startswith("Collecting "):
            seen += 1
            name = line.split()[1]
            progress(f"downloading packages ({seen} of {packages}): {name}")
        elif line.startswith("Installing collected packages"):
            progress(f"installing {packages} packages")
        if time.monotonic() - started > INSTALL_TIMEOUT:
            process.kill()
    if process.wait() != 0:
        raise AirflowInstallError(_install_failure(version, "\n".join(tail)))
    progress("checking the installation")
    check = subprocess.run([str(venv / "bin" / "airflow"), "version"], capture_output=True,
                           text=True, timeout=300, check=False,
                           env={**clean_env(), "AIRFLOW_HOME": str(venv / "_probe_home")})
    shutil.rmtree(venv / "_probe_home", ignore_errors=True)
    if check.returncode != 0:
        raise AirflowInstallError(_install_failure(version, (check.stdout + check.stderr)[-3000:]))


def _step(command: list[str], what: str, timeout: float) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            check=False, env=clean_env())
    if result.returncode != 0:
        raise AirflowInstallError(f"Could not {what} for Airflow: {result.stderr.strip()[-500:]}. "
                                  "Check that Python's venv module is installed "
                                  "(Debian: apt-get install python3-venv).")


def _install_failure(version: str, output: str) -> str:
    offline = re.search(r"(?i)(network is unreachable|name or service not known|"
                        r"temporary failure in name resolution|connection (refused|reset)|"
                        r"no matching distribution|could not fetch|max retries exceeded)", output)
    why = ("the package index could not be reached" if offline
           else "pip failed (the end of its output is below)")
    return (f"Could not install Apache Airflow {version} for the demo: {why}. The demo needs "
            "network access to PyPI once (about 400 MB, a minute or two); later runs reuse the "
            "installation. Check your network or proxy (pip honours HTTPS_PROXY and "
            "PIP_INDEX_URL) and run `basecamp demo` again; nothing was left half installed.\n"
            + ("" if offline else output[-2000:]))


# --- running it ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalAirflow:
    """A running ``airflow standalone`` (or one stopped, to be started again)."""

    url: str
    version: str
    home: Path
    dags_dir: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(repr=False)
    username: str = ADMIN_USER
    password: str = ADMIN_PASSWORD

    @property
    def api_version(self) -> str:
        """``v2`` (Airflow 3, JWT) or ``v1`` (Airflow 2, basic auth)."""
        return "v1" if self.version.startswith("2.") else "v2"

    @property
    def spec_dir(self) -> Path:
        return self.dags_dir / "specs"

    @property
    def log_path(self) -> Path:
        return self.home / "standalone.log"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group and every process below it (some move to groups of
        their own), then SIGKILL what is left; then whatever still runs in Airflow's home
        (a task's process can outlive the worker that started it)."""
        stop_process_tree(self.process, timeout)
        terminate_pids(processes_in(self.home), timeout=10)

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        """Start again on the same port, home and database (after :meth:`stop`)."""
        self.stop()
        self.process = _spawn(self.env, self.home)
        wait_ready(self, timeout)


def stop_process_tree(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """End ``process`` (started with ``start_new_session``), its group and everything
    below it, and reap it."""
    terminate_tree(process.pid, timeout, poll=process.poll)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def terminate_tree(root: int, timeout: float = 20.0,
                   poll: Callable[[], object] = lambda: None) -> None:
    """SIGTERM the process group ``root`` leads and every descendant of ``root`` (some
    move to groups of their own), then SIGKILL what is left after ``timeout``."""
    pids = _descendants(root)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        _signal_group(root, sig)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            poll()
            pids = [pid for pid in pids if alive(pid)]
            if not _group_alive(root) and not pids:
                return
            time.sleep(0.2)


def processes_in(directory: Path) -> list[int]:
    """Processes working in ``directory`` or below: everything Airflow's standalone
    started there, also what left its process group and session and cleared its
    environment (a task's supervisor does both). Never this process or its parents."""
    ours = {os.getpid()}
    pid = os.getpid()
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        ours.add(pid)
    root = str(directory.resolve())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in ours:
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if (cwd == root or cwd.startswith(root + os.sep)) and alive(int(entry)):
            found.append(int(entry))
    return found


def terminate_pids(pids: list[int], timeout: float) -> None:
    """SIGTERM ``pids``, then SIGKILL those still there after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if alive(pid)]
            time.sleep(0.2)
        if not pids:
            return


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


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
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


def prepare_dags_dir(dags_dir: Path) -> Path:
    """Copy the DAG factory into ``dags_dir``; create and return its spec store
    ``dags_dir/specs`` (code/ and manual/)."""
    if not FACTORY_FILE.exists():
        raise AirflowStartError(f"The DAG factory {FACTORY_FILE} is missing: run basecamp "
                                "from its source checkout.")
    dags_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(FACTORY_FILE, dags_dir / FACTORY_FILE.name)
    spec_dir = dags_dir / "specs"
    for source in ("code", "manual"):
        (spec_dir / source).mkdir(parents=True, exist_ok=True)
    return spec_dir


def airflow_env(venv: Path, home: Path, dags_dir: Path, port: int, version: str,
                extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an ``airflow`` command from ``venv`` serving ``dags_dir``:
    loopback only, light on a small machine, an ``admin`` user with password ``admin``."""
    env = clean_env()
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "3",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        "BASECAMP_SPEC_DIR": str(dags_dir / "specs"),
    })
    if version.startswith("2."):
        env.update({
            "AIRFLOW__WEBSERVER__WEB_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__WEBSERVER__WEB_SERVER_PORT": str(port),
            "AIRFLOW__WEBSERVER__WORKERS": "1",
            "AIRFLOW__WEBSERVER__SECRET_KEY": "basecamp-local",
            "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
            "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "3",
            "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
        })
    else:
        passwords = home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
        env.update({
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API_AUTH__JWT_SECRET": "basecamp-local-jwt-secret",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        })
    env.update(extra or {})
    return env


def start_airflow(venv: Path, version: str, dags_dir: Path, home: Path, *,
                  env_extra: dict[str, str] | None = None, timeout: float = START_TIMEOUT,
                  progress: Progress = lambda _: None) -> LocalAirflow:
    """``airflow standalone`` of the venv's Airflow on a free loopback port, serving
    ``dags_dir`` (with the DAG factory) from the home ``home`` (kept between starts: a
    second start skips creating Airflow's database)."""
    prepare_dags_dir(dags_dir)
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = airflow_env(venv, home, dags_dir, port, version, env_extra)
    if version.startswith("2."):
        progress("creating Airflow's database and admin user")
        _create_airflow2_admin(env, home)
    progress(f"starting Airflow {version} on 127.0.0.1:{port}")
    airflow = LocalAirflow(url=f"http://127.0.0.1:{port}", version=version, home=home,
                           dags_dir=dags_dir, process=_spawn(env, home), env=env)
    wait_ready(airflow, timeout)
    return airflow


def _create_airflow2_admin(env: dict[str, str], home: Path) -> None:
    """Airflow 2's standalone picks a random admin password: create ``admin`` first."""
    with open(home / "standalone.log", "ab") as log:
        for args in (["db", "migrate"],
                     ["users", "create", "--username", ADMIN_USER, "--password", ADMIN_PASSWORD,
                      "--firstname", "Admin", "--lastname", "User", "--role", "Admin",
                      "--email", "admin@example.com"]):
            result = subprocess.run(["airflow", *args], env=env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, timeout=600, check=False)
            if result.returncode != 0:
                tail = (home / "standalone.log").read_text(errors="replace")[-4000:]
                raise AirflowStartError(f"`airflow {' '.join(args)}` failed:\n{tail}")


def _spawn(env: dict[str, str], home: Path) -> subprocess.Popen[bytes]:
    with open(home / "standalone.log", "ab") as log:
        return subprocess.Popen(["airflow", "standalone"], env=env, cwd=home,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own group: stop() ends it all


def wait_ready(airflow: LocalAirflow, timeout: float) -> None:
    """Until the REST API accepts the credentials; on failure stop it and show its log."""
    started = time.monotonic()
    last_error = "no answer yet"
    while True:
        ok, last_error = _api_ready(airflow)
        if ok:
            return
        code = airflow.process.poll()
        if code is not None or time.monotonic() - started > timeout:
            state = f"exited with code {code}" if code is not None else "is not ready"
            airflow.stop()
            raise AirflowStartError(
                f"Airflow {airflow.version} on {airflow.url} {state} after {timeout:.0f} s "
                f"(last check: {last_error}); its log ends with:\n{airflow.log_tail()}")
        time.sleep(0.5)


def _api_ready(airflow: LocalAirflow) -> tuple[bool, str]:
    api = f"{airflow.url}/api/{airflow.api_version}"
    try:
        headers: dict[str, str] = {}
        auth: tuple[str, str] | None = (airflow.username, airflow.password)
        if airflow.api_version == "v2":
            token = httpx.post(f"{airflow.url}/auth/token", timeout=5,
                               json={"username": airflow.username, "password": airflow.password})
            if token.status_code not in (200, 201):
                return False, f"POST /auth/token -> {token.status_code}"
            headers, auth = {"Authorization": f"Bearer {token.json()['access_token']}"}, None
        dags = httpx.get(f"{api}/dags", params={"limit": 1}, headers=headers, auth=auth, timeout=5)
        if dags.status_code != 200:
            return False, f"GET {api}/dags -> {dags.status_code}"
        return True, ""
    except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
        return False, repr(exc)
