"""Sending one logical call to a cluster: auth, retries, backoff and a circuit breaker.

Retries happen only where repeating the call cannot do harm (see :class:`Retry`):
reads, the read-only task-instance list POST and the idempotent PATCHes are retried on
any transient failure; a trigger POST only when the connection failed before the
request went out. Backoff is exponential with full jitter (base 0.5 s, cap 8 s, three
attempts); a 429 waits for its ``Retry-After`` (at most 60 s) instead.

The circuit breaker counts calls, not attempts: a call whose retries all failed
transiently is one failure. After five in a row the circuit opens and calls fail fast
with :class:`AirflowCircuitOpen`; after a cool-down (5 s, doubling to 300 s) one probe
call goes through with a single attempt; its success closes the circuit. Any answer
from the server other than 429/5xx (even a 404) proves it is alive and counts as a
success. One breaker per client, so a failing cluster never slows the others.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from typing import Any, Callable, Mapping

import httpx

from daemon.airflow.auth import Auth
from daemon.airflow.errors import (
    AirflowCircuitOpen,
    AirflowError,
    AirflowRateLimited,
    error_for_exception,
    error_for_status,
)
from daemon.core.retry_after import retry_after_seconds

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 60.0
FAILURE_THRESHOLD = 5
COOLDOWN_START = 5.0
COOLDOWN_MAX = 300.0


class Retry(enum.Enum):
    IDEMPOTENT = "idempotent"
    """Retry on any transient failure (GET, state PATCH, read-only list POST)."""
    CONNECT_ONLY = "connect_only"
    """Retry only when the request surely did not reach the server (trigger POST)."""


class CircuitBreaker:
    """closed → (5 failed calls) → open → (cool-down) → half_open → closed | open."""

    def __init__(self, cluster: str, clock: Callable[[], float]) -> None:
        self._cluster = cluster
        self._clock = clock
        self._lock = threading.Lock()
        self.state = "closed"
        self.failures = 0
        self._cooldown = COOLDOWN_START
        self._opened_at = 0.0
        self._probing = False

    def before_call(self) -> bool:
        """Raise AirflowCircuitOpen while open; return True if this call is the probe."""
        with self._lock:
            if self.state == "closed":
                return False
            remaining = self._opened_at + self._cooldown - self._clock()
            if self.state == "open" and remaining <= 0:
                self.state = "half_open"
            if self.state == "half_open" and not self._probing:
                self._probing = True
                return True
            raise AirflowCircuitOpen(self._cluster, self.failures, max(remaining, 0.0))

    def record_success(self) -> None:
        with self._lock:
            if self.state != "closed":
                log.info("cluster %s answered again: circuit closed", self._cluster)
            self.state, self.failures, self._probing = "closed", 0, False
            self._cooldown = COOLDOWN_START

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.state == "half_open":
                self._cooldown = min(self._cooldown * 2, COOLDOWN_MAX)
                self._open()
            elif self.state == "closed" and self.failures >= FAILURE_THRESHOLD:
                self._open()

    def _open(self) -> None:
        self.state, self._probing = "open", False
        self._opened_at = self._clock()
        log.warning("cluster %s failed %d times in a row: circuit open, next probe in %.0f s",
                    self._cluster, self.failures, self._cooldown)


class Session:
    """One cluster's HTTP client with auth, retries and the breaker."""

    def __init__(self, cluster_name: str, url: str, timeout: float, client: httpx.Client,
                 *, sleep: Callable[[float], None], clock: Callable[[], float],
                 rng: Callable[[], float]) -> None:
        self.cluster = cluster_name
        self.url = url
        self.timeout = timeout
        self.client = client
        self.auth: Auth | None = None
        self.breaker = CircuitBreaker(cluster_name, clock)
        self._sleep = sleep
        self._rng = rng

    def request(self, method: str, path: str, *, retry: Retry = Retry.IDEMPOTENT,
                params: Mapping[str, Any] | None = None, json: Any = None,
                headers: Mapping[str, str] | None = None,
                authenticated: bool = True) -> httpx.Response:
        """Send ``method`` to ``{url}/{path}`` (path already URL-encoded); return the 2xx
        response or raise the mapped :class:`AirflowError`."""
        what = f"{method} {path}"
        probe = self.breaker.before_call()
        attempts = 1 if probe else MAX_ATTEMPTS
        try:
            response = self._attempts(method, path, what, attempts, retry, params, json,
                                      headers, authenticated)
        except AirflowError as exc:
            if exc.transient:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            raise
        except BaseException:
            if probe:  # let the next call probe instead of staying half-open forever
                self.breaker.record_failure()
            raise
        self.breaker.record_success()
        return response

    def _attempts(self, method: str, path: str, what: str, attempts: int, retry: Retry,
                  params: Mapping[str, Any] | None, json: Any,
                  headers: Mapping[str, str] | None, authenticated: bool) -> httpx.Response:
        refreshed = False
        attempt = 1
        while True:
            try:
                return self._once(method, path, what, params, json, headers, authenticated)
            except _Unauthorized as exc:
                if refreshed or self.auth is None or not self.auth.invalidate():
                    raise exc.error from None
                refreshed = True
                log.info("cluster %s: %s refused the token, fetching a new one", self.cluster, what)
                continue
            except AirflowError as exc:
                if attempt >= attempts or not self._retryable(exc, retry):
                    raise
                delay = self._delay(exc, attempt)
                log.warning("cluster %s: %s failed (%s), attempt %d of %d, retrying in %.1f s",
                            self.cluster, what, exc.kind, attempt, attempts, delay)
                self._sleep(delay)
                attempt += 1

    def _once(self, method: str, path: str, what: str, params: Mapping[str, Any] | None,
              json: Any, headers: Mapping[str, str] | None,
              authenticated: bool) -> httpx.Response:
        sent_headers = dict(headers or {})
        if authenticated and self.auth is not None:
            try:
                sent_headers.update(self.auth.headers())
            except AirflowError as exc:
                exc.request_sent = False  # failing to get a token sends nothing
                raise
        url = f"{self.url}/{path}"
        log.debug("cluster %s: %s", self.cluster, what)
        try:
            response = self.client.request(method, url, params=params, json=json,
                                           headers=sent_headers)
        except httpx.TransportError as exc:
            raise error_for_exception(self.cluster, self.url, exc, self.timeout) from None
        if response.is_success:
            return response
        secrets = self.auth.secrets() if self.auth is not None else []
        retry_after = None
        if response.status_code == 429:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"), time.time())
        error = error_for_status(self.cluster, response.status_code, response.text,
                                 secrets=secrets, retry_after=retry_after, what=what)
        # Airflow 3 answers 403, not 401, to a token it cannot verify (say, signed before
        # a restart with a new key): both get one fresh login before they count.
        if response.status_code in (401, 403) and authenticated:
            raise _Unauthorized(error)
        raise error

    @staticmethod
    def _retryable(exc: AirflowError, retry: Retry) -> bool:
        if not exc.transient:
            return False
        return retry is Retry.IDEMPOTENT or not exc.request_sent

    def _delay(self, exc: AirflowError, attempt: int) -> float:
        if isinstance(exc, AirflowRateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, RETRY_AFTER_CAP)
        return self._rng() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))


class _Unauthorized(Exception):
    """A 401/403 on an authenticated request, handled by refreshing the token once."""

    def __init__(self, error: AirflowError) -> None:
        super().__init__(str(error))
        self.error = error
