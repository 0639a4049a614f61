"""A real S3 endpoint for tests: ``moto_server`` on loopback, one per test session.

Fixtures: ``moto_s3_endpoint`` (session: the endpoint URL) and ``s3_bucket`` (function:
a fresh bucket, with dummy AWS credentials in the environment so boto3 never finds real
ones). ``start_moto_server`` is a plain function so ``bench/`` can reuse it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
"""Environment that keeps boto3 away from real credentials, profiles and instance roles."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto_server(timeout: float = 30.0) -> tuple[str, subprocess.Popen[bytes]]:
    """Start ``moto_server`` on a free loopback port; return its URL once it answers.

    The executable is looked up next to ``sys.executable`` (the venv's ``bin``). Its log
    goes to an unlinked temp file, shown only if the server does not come up.
    """
    executable = Path(sys.executable).with_name("moto_server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    with log:
        while True:
            if _answers(url):
                return url, process
            exit_code = process.poll()
            if exit_code is not None or time.monotonic() > deadline:
                state = "did not answer" if exit_code is None else f"exited with code {exit_code}"
                stop_moto_server(process)
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(
                    f"moto_server on {url} {state} within {timeout:.0f} s; its output:\n{output}"
                )
            time.sleep(0.05)


def stop_moto_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


@pytest.fixture(scope="session")
def moto_s3_endpoint() -> Iterator[str]:
    try:
        url, process = start_moto_server()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield url
    finally:
        stop_moto_server(process)


@pytest.fixture
def aws_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region for boto3; real profiles and roles are out of reach."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in DUMMY_AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def s3_bucket(moto_s3_endpoint: str, aws_test_credentials: None) -> tuple[str, str]:
    """A new, empty, uniquely named bucket: ``(endpoint_url, bucket_name)``."""
    name = f"basecamp-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_s3_endpoint).create_bucket(Bucket=name)
    return moto_s3_endpoint, name
