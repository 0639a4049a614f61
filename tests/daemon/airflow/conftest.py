"""Fixtures for the Airflow client tests: a respx router as the transport, and a fake
clock/sleep/rng so retries and the circuit breaker run instantly."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import httpx
import pytest
import respx

from daemon.airflow import AirflowClient
from daemon.core.config import ClusterConfig

URL = "https://airflow.test"
PASSWORD = "s3cr3t-Pa55word"


def make_jwt(exp: float | None, sub: str = "svc") -> str:
    def b64(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    claims: dict[str, Any] = {"sub": sub}
    if exp is not None:
        claims["exp"] = int(exp)
    return f"{b64({'alg': 'HS512', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJl"


@dataclass
class FakeTime:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.MockRouter(base_url=URL, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def make_client(router: respx.MockRouter, fake_time: FakeTime,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., AirflowClient]]:
    """``make_client(api_version="v2", auth="none", ...)`` → a client on the router."""
    monkeypatch.setenv("AF_PASSWORD", PASSWORD)
    clients: list[AirflowClient] = []

    def build(**overrides: Any) -> AirflowClient:
        values: dict[str, Any] = {"name": "dp-airflow", "team": "@dp", "url": URL,
                                  "api_version": "v2", "auth": "none"}
        values.update(overrides)
        client = AirflowClient(ClusterConfig(**values),
                               transport=httpx.MockTransport(router.handler),
                               sleep=fake_time.sleep, clock=fake_time.clock, rng=lambda: 0.5)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def token_route(router: respx.MockRouter, *tokens: str) -> respx.Route:
    """``POST /auth/token`` answering each of ``tokens`` in turn."""
    return router.post("/auth/token").mock(side_effect=[
        httpx.Response(201, json={"access_token": token}) for token in tokens])


def jwt_valid_for(seconds: float) -> str:
    return make_jwt(time.time() + seconds)


def dag_run_json(dag_id: str = "dp__sales", run_id: str = "manual__1", state: str = "running",
                 **extra: Any) -> dict[str, Any]:
    data = {"dag_id": dag_id, "dag_run_id": run_id, "state": state,
            "logical_date": "2025-01-02T03:04:05Z", "queued_at": "2025-01-02T03:04:06.5Z",
            "start_date": "2025-01-02T03:04:07+00:00", "end_date": None,
            "run_type": "manual", "triggered_by": "rest_api", "conf": {"a": 1},
            "note": None}
    data.update(extra)
    return data


def ti_json(dag_id: str, run_id: str, task_id: str, state: str = "success",
            **extra: Any) -> dict[str, Any]:
    data = {"dag_id": dag_id, "dag_run_id": run_id, "task_id": task_id, "map_index": -1,
            "state": state, "try_number": 1, "start_date": "2025-01-02T03:04:07Z",
            "end_date": "2025-01-02T03:04:09Z", "duration": 2.0}
    data.update(extra)
    return data
