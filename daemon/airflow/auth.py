"""How the client authenticates to one cluster (``auth`` in ``[[clusters]]``).

- ``jwt`` (Airflow 3): ``POST {url}/auth/token`` with the username and the password
  from ``password_env``; the token is reused until shortly before its ``exp`` and
  fetched again after a 401.
- ``basic`` (Airflow 2): username and the password from ``password_env``.
- ``token``: a bearer token from ``token_env``, or printed by ``token_command``
  (re-run when its JWT ``exp`` passes or after a 401).
- ``none``: no header (a local demo or an authenticating proxy in front).

Secrets are read from the environment when a request needs them, kept only in memory,
and never logged or put in a message or a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import shlex
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from typing import Callable, Protocol

import httpx

from daemon.airflow.errors import (
    AirflowAuthError,
    AirflowProtocolError,
    error_for_exception,
    error_for_status,
)
from daemon.core.config import ClusterConfig

log = logging.getLogger(__name__)

TOKEN_COMMAND_TIMEOUT = 30.0
REFRESH_MARGIN = 60.0
"""Fetch a new token this long before ``exp`` so none expires in flight."""


class Auth(Protocol):
    def headers(self) -> dict[str, str]:
        """Headers to send; may fetch a token (raising AirflowError on failure)."""
        ...

    def invalidate(self) -> bool:
        """After a 401: drop what is cached; True when asking again may help."""
        ...

    def secrets(self) -> list[str]:
        """Secret values currently in use, for redacting quoted response bodies."""
        ...


def jwt_exp(token: str) -> float | None:
    """The ``exp`` claim (epoch seconds) of a JWT, None if ``token`` is not a JWT.
    The signature is not checked: we only want to know when to ask for a new one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def _read_env(cluster: ClusterConfig, key: str) -> str:
    """The value of the env var named by ``cluster.<key>``; never echoes the value."""
    name = getattr(cluster, key)
    if not name:
        raise AirflowAuthError(cluster.name, f"cluster {cluster.name} has no {key} configured")
    value = os.environ.get(name, "")
    if not value:
        raise AirflowAuthError(cluster.name, f"environment variable {name} ({key} of cluster "
                               f"{cluster.name}) is not set or empty: export it before "
                               "starting basecamp")
    return value


class _CachedToken:
    """A bearer token with the monotonic time after which it should be replaced."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.value: str | None = None
        self._renew_at: float | None = None

    def set(self, value: str) -> None:
        self.value = value
        exp = jwt_exp(value)
        if exp is None:
            self._renew_at = None
            return
        lifetime = exp - time.time()  # exp is wall-clock; keep the rest on the monotonic clock
        margin = min(REFRESH_MARGIN, max(lifetime, 0.0) / 2)
        self._renew_at = self._clock() + lifetime - margin

    def fresh(self) -> bool:
        if self.value is None:
            return False
        return self._renew_at is None or self._clock() < self._renew_at

    def clear(self) -> None:
        self.value, self._renew_at = None, None


class NoAuth:
    def headers(self) -> dict[str, str]:
        return {}

    def invalidate(self) -> bool:
        return False

    def secrets(self) -> list[str]:
        return []

    def __repr__(self) -> str:
        return "NoAuth()"


class BasicAuth:
    def __init__(self, cluster: ClusterConfig) -> None:
        self._cluster = cluster

    def _encoded(self) -> tuple[str, str]:
        password = _read_env(self._cluster, "password_env")
        raw = f"{self._cluster.username}:{password}".encode()
        return password, base64.b64encode(raw).decode("ascii")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Basic {self._encoded()[1]}"}

    def invalidate(self) -> bool:
        return False  # the same env var would give the same password

    def secrets(self) -> list[str]:
        try:
            return list(self._encoded())
        except AirflowAuthError:
            return []

    def __repr__(self) -> str:
        return f"BasicAuth(username={self._cluster.username!r})"


class EnvTokenAuth:
    def __init__(self, cluster: ClusterConfig) -> None:
        self._cluster = cluster

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {_read_env(self._cluster, 'token_env')}"}

    def invalidate(self) -> bool:
        return False

    def secrets(self) -> list[str]:
        return [os.environ.get(self._cluster.token_env, "")]

    def __repr__(self) -> str:
        return f"EnvTokenAuth(token_env={self._cluster.token_env!r})"


class _RenewedToken(ABC):
    """Bearer auth whose token is obtained on demand and renewed before it expires or
    after the server refused it (subclasses say how to obtain one)."""

    def __init__(self, cluster: ClusterConfig, clock: Callable[[], float]) -> None:
        self._cluster = cluster
        self._token = _CachedToken(clock)
        self._lock = threading.Lock()

    @abstractmethod
    def _obtain(self) -> str:
        """A new token from the source (a command, the token endpoint)."""

    def headers(self) -> dict[str, str]:
        with self._lock:
            if not self._token.fresh():
                self._token.set(self._obtain())
            return {"Authorization": f"Bearer {self._token.value}"}

    def invalidate(self) -> bool:
        with self._lock:
            self._token.clear()
        return True


class CommandTokenAuth(_RenewedToken):
    """A token printed by ``token_command`` (e.g. a cloud CLI), cached until it expires."""

    def _obtain(self) -> str:
        name = self._cluster.name
        log.debug("running token_command for cluster %s", name)
        try:
            argv = shlex.split(self._cluster.token_command)
            done = subprocess.run(argv, capture_output=True, text=True,
                                  timeout=TOKEN_COMMAND_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise AirflowAuthError(name, f"token_command of cluster {name} did not finish "
                                   f"within {TOKEN_COMMAND_TIMEOUT:.0f} s") from None
        except (OSError, ValueError) as exc:
            raise AirflowAuthError(name, f"token_command of cluster {name} could not be "
                                   f"run: {exc}") from None
        token = done.stdout.strip()
        if done.returncode != 0:
            # stderr is quoted (it explains "not logged in"); stdout never is.
            lines = done.stderr.strip().splitlines()
            hint = f": {lines[-1][:200]}" if lines else ""
            raise AirflowAuthError(name, f"token_command of cluster {name} exited with "
                                   f"status {done.returncode}{hint}")
        if not token:
            raise AirflowAuthError(name, f"token_command of cluster {name} printed no token")
        return token

    def secrets(self) -> list[str]:
        return [self._token.value or ""]

    def __repr__(self) -> str:
        return f"CommandTokenAuth(cluster={self._cluster.name!r})"


class JwtAuth(_RenewedToken):
    """Airflow 3: exchange username/password for a JWT at ``{url}/auth/token``."""

    def __init__(self, cluster: ClusterConfig, client: httpx.Client,
                 clock: Callable[[], float]) -> None:
        super().__init__(cluster, clock)
        self._client = client
        self._password = ""

    def _obtain(self) -> str:
        cluster = self._cluster
        self._password = _read_env(cluster, "password_env")
        url = cluster.url.rstrip("/") + "/auth/token"
        log.debug("fetching a JWT for cluster %s", cluster.name)
        try:
            response = self._client.post(url, json={"username": cluster.username,
                                                    "password": self._password})
        except httpx.TransportError as exc:
            raise error_for_exception(cluster.name, cluster.url, exc,
                                      cluster.timeout_seconds) from None
        if response.status_code in (401, 403):
            raise AirflowAuthError(cluster.name, f"Airflow cluster {cluster.name} refused to "
                                   f"issue a token: check username/password_env for cluster "
                                   f"{cluster.name}", status=response.status_code)
        if response.status_code == 404:
            raise AirflowAuthError(cluster.name, f"Airflow cluster {cluster.name} has no "
                                   f"{url}: auth = \"jwt\" needs Airflow 3 (use \"basic\" "
                                   "for Airflow 2); check url and auth", status=404)
        if response.status_code >= 300:
            raise error_for_status(cluster.name, response.status_code, response.text,
                                   secrets=self.secrets(), what="POST auth/token")
        try:
            token = response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or not token:
            raise AirflowProtocolError(cluster.name, f"Airflow cluster {cluster.name} answered "
                                       "POST /auth/token without an access_token: is url the "
                                       "Airflow 3 API server?")
        return token

    def secrets(self) -> list[str]:
        return [self._token.value or "", self._password]

    def __repr__(self) -> str:
        return f"JwtAuth(username={self._cluster.username!r})"


def make_auth(cluster: ClusterConfig, client: httpx.Client,
              clock: Callable[[], float]) -> Auth:
    """The :class:`Auth` for ``cluster.auth``; ``token`` prefers ``token_env`` when
    configured, else ``token_command``."""
    if cluster.auth == "jwt":
        return JwtAuth(cluster, client, clock)
    if cluster.auth == "basic":
        return BasicAuth(cluster)
    if cluster.auth == "token":
        if cluster.token_env:
            return EnvTokenAuth(cluster)
        return CommandTokenAuth(cluster, clock)
    return NoAuth()
