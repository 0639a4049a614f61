"""Errors of the Airflow client: one class per way a cluster can fail us.

Every message names the cluster and says what to do, so the CLI and the dashboard can
show it as is. Messages never contain secrets: no request headers, no tokens, no
passwords (response bodies are redacted before they are quoted).

Transient kinds (rate limited, server error, connection, timeout, circuit open) are
:class:`daemon.core.errors.TransientError` too, so callers retry them where idempotent;
:class:`AirflowNotFound` is a :class:`daemon.core.errors.NotFoundError` (exit 4).
"""

from __future__ import annotations

import json

import httpx

from daemon.core.errors import BasecampError, NotFoundError, TransientError


class AirflowError(BasecampError):
    """Base of every error talking to one Airflow cluster."""

    kind = "error"
    request_sent = True
    """False when the request surely never reached the server (safe to repeat)."""

    def __init__(self, cluster: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.cluster = cluster
        self.status = status

    @property
    def transient(self) -> bool:
        return isinstance(self, TransientError)


class AirflowAuthError(AirflowError):
    """401, a token that cannot be obtained, or a secret env var that is not set."""

    kind = "auth"


class AirflowPermissionError(AirflowError):
    """403: authenticated, but the user lacks the permission."""

    kind = "permission"


class AirflowNotFound(AirflowError, NotFoundError):
    """404: the DAG, run, task instance or the API itself does not exist."""

    kind = "not_found"


class AirflowConflict(AirflowError):
    """409: it already exists (a dag run id triggered before: callers treat as done), or
    it was done before (a human-in-the-loop task answered already). The message quotes
    Airflow's reason."""

    kind = "conflict"


class AirflowBadRequest(AirflowError):
    """400/422 and other 4xx: the request was rejected as invalid (a bug or a version
    mismatch between this client and the server)."""

    kind = "bad_request"


class AirflowUnsupported(AirflowError):
    """The cluster's Airflow version lacks the feature (human-in-the-loop tasks before
    3.1); no request was sent."""

    kind = "unsupported"
    request_sent = False


class AirflowRateLimited(AirflowError, TransientError):
    """429: the server asks us to slow down for ``retry_after`` seconds."""

    kind = "rate_limited"

    def __init__(self, cluster: str, message: str, *, status: int | None = 429,
                 retry_after: float | None = None) -> None:
        super().__init__(cluster, message, status=status)
        self.retry_after = retry_after


class AirflowServerError(AirflowError, TransientError):
    """5xx: the server failed; the message quotes the status and a short body excerpt."""

    kind = "server"


class AirflowConnectionError(AirflowError, TransientError):
    """The server could not be reached (DNS, refused, TLS, reset)."""

    kind = "connection"


class AirflowTimeout(AirflowError, TransientError):
    """Connecting or reading took longer than the cluster's ``timeout_seconds``."""

    kind = "timeout"


class AirflowCircuitOpen(AirflowError, TransientError):
    """The cluster failed too often in a row; calls fail fast until the next probe."""

    kind = "circuit_open"

    def __init__(self, cluster: str, failures: int, retry_in: float) -> None:
        super().__init__(cluster, f"cluster {cluster} failed {failures} times in a row; "
                         f"next probe in {retry_in:.0f} s")
        self.failures = failures
        self.retry_in = retry_in


class AirflowProtocolError(AirflowError):
    """The server answered 2xx with something this client cannot read."""

    kind = "protocol"


# --- mapping HTTP outcomes to errors ----------------------------------------------------

_EXCERPT_CHARS = 300


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every known secret value replaced, for quoting server bodies."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def airflow_reason(body: str) -> str:
    """Airflow's own words in an error body: ``detail`` (a string on /api/v2 and in
    /api/v1's problem documents; ``{"reason": ...}`` for v2's unique-constraint 409; a
    list of field errors for a 422), else ``title``; "" when the body says nothing."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    detail = data.get("detail")
    if isinstance(detail, dict):
        detail = detail.get("reason") or detail.get("message")
    elif isinstance(detail, list):
        detail = "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item)
                           for item in detail)
    if isinstance(detail, str) and detail.strip():
        return detail.strip()
    title = data.get("title")
    return title.strip() if isinstance(title, str) else ""


def error_for_status(cluster: str, status: int, body: str, *,
                     secrets: list[str], retry_after: float | None = None,
                     what: str = "") -> AirflowError:
    """The error for a non-2xx answer. ``what`` names the request for the message
    (e.g. ``GET dags/~/dagRuns``); ``body`` is quoted only for 5xx and 4xx we do not
    expect, shortened and redacted."""
    excerpt = " ".join(redact(body, secrets).split())[:_EXCERPT_CHARS]
    on = f" ({what})" if what else ""
    if status == 401:
        return AirflowAuthError(cluster, f"Airflow cluster {cluster} rejected our credentials"
                                f"{on}: check username/password_env or token for cluster "
                                f"{cluster}", status=status)
    if status == 403:
        return AirflowPermissionError(cluster, f"permission denied on Airflow cluster {cluster}"
                                      f"{on}: give the configured user the needed role (Airflow "
                                      "2.11 also answers 403 to a wrong username or password: "
                                      f"check username/password_env for cluster {cluster})",
                                      status=status)
    if status == 404:
        return AirflowNotFound(cluster, f"not found on Airflow cluster {cluster}{on}",
                               status=status)
    if status == 409:
        reason = " ".join(redact(airflow_reason(body), secrets).split())[:_EXCERPT_CHARS]
        return AirflowConflict(cluster, f"conflict on Airflow cluster {cluster}{on}: "
                               f"{reason or excerpt or 'it already exists'}", status=status)
    if status == 429:
        wait = f"; retry in {retry_after:.0f} s" if retry_after is not None else ""
        return AirflowRateLimited(cluster, f"Airflow cluster {cluster} is rate limiting us"
                                  f"{on}{wait}", retry_after=retry_after)
    if status >= 500:
        return AirflowServerError(cluster, f"Airflow cluster {cluster} failed with HTTP "
                                  f"{status}{on}: {excerpt or '(empty body)'}; check the "
                                  f"Airflow API server logs", status=status)
    return AirflowBadRequest(cluster, f"Airflow cluster {cluster} rejected the request with "
                             f"HTTP {status}{on}: {excerpt or '(empty body)'}", status=status)


def error_for_exception(cluster: str, url: str, exc: Exception,
                        timeout: float) -> AirflowError:
    """The error for an httpx transport failure (no answer at all)."""
    if isinstance(exc, httpx.TimeoutException):
        phase = "connecting to" if isinstance(exc, httpx.ConnectTimeout) else "waiting for"
        error: AirflowError = AirflowTimeout(
            cluster, f"timed out {phase} Airflow cluster {cluster} at {url} (timeout_seconds "
            f"= {timeout:g}): is it overloaded? raise timeout_seconds if it is just slow")
    else:
        error = AirflowConnectionError(cluster, f"cannot reach Airflow cluster {cluster} at "
                                       f"{url}: is Airflow up? check url ({type(exc).__name__})")
    error.request_sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout,
                                              httpx.PoolTimeout))
    return error
