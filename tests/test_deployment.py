"""The way the service is deployed: compose.yaml, the Dockerfile, and serve.sh, which the
image runs. There is no Docker engine here: the files are checked against each other and
against the settings, and the container's start command runs directly on this machine."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from contacts_api.config import Settings
from tests.pgcluster import free_port
from tests.served import REPOSITORY
from tests.smtp import SmtpServer

ROOT = Path(REPOSITORY)
# Read by serve.sh and uvicorn rather than by the app's Settings.
SERVING_VARIABLES = {"HOST", "PORT", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS"}
SERVING_VARIABLES |= {"PROMETHEUS_MULTIPROC_DIR"}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def instructions(name: str) -> list[str]:
    return [argument for instruction, argument in dockerfile() if instruction == name]


def test_compose_runs_postgresql_redis_mailpit_and_the_api_built_here() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "redis", "mailpit", "api"}
    api = services["api"]
    assert api["build"] == "."
    assert api["ports"] == ["127.0.0.1:8000:8000"]
    assert {name: condition["condition"] for name, condition in api["depends_on"].items()} == {
        "db": "service_healthy",
        "redis": "service_healthy",
        "mailpit": "service_started",
    }
    assert "/health/ready" in " ".join(api["healthcheck"]["test"])


def test_the_api_service_reaches_the_other_two_with_their_own_credentials() -> None:
    services = compose()["services"]
    environment = services["api"]["environment"]
    database = urlsplit(environment["DATABASE_URL"])
    postgres = services["db"]["environment"]
    assert database.scheme == "postgresql+psycopg"
    assert (database.hostname, database.port) == ("db", 5432)
    assert (database.username, database.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    assert database.path == f"/{postgres['POSTGRES_DB']}"
    assert urlsplit(environment["REDIS_URL"]).hostname == "redis"
    # Mail goes to Mailpit, whose inbox is published on the host.
    assert (environment["SMTP_HOST"], environment["SMTP_PORT"]) == ("mailpit", "1025")
    assert services["mailpit"]["image"].startswith("axllent/mailpit:")
    assert services["mailpit"]["ports"] == ["127.0.0.1:8025:8025"]


def test_every_variable_compose_sets_is_a_setting_or_a_serving_variable() -> None:
    environment = compose()["services"]["api"]["environment"]
    assert set(environment) <= set(Settings.model_fields) | SERVING_VARIABLES


def test_compose_refuses_to_start_without_a_secret_key() -> None:
    # ${VAR:?message}: compose stops with the message when VAR is unset or empty.
    secret = compose()["services"]["api"]["environment"]["SECRET_KEY"]
    assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", secret), secret


def test_the_env_example_documents_every_setting_and_serving_variable() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z_]+)=", text, re.MULTILINE))
    assert documented == set(Settings.model_fields) | SERVING_VARIABLES


def test_the_image_is_slim_runs_as_a_user_and_installs_dependencies_first() -> None:
    assert instructions("FROM") == ["python:3.11-slim"]
    assert instructions("USER") == ["app"]
    steps = [" ".join(step) for step in dockerfile()]
    # The dependency layer comes before the code, so a code change does not reinstall it.
    assert steps.index("COPY requirements.txt ./") < steps.index(
        "RUN pip install -r requirements.txt"
    )
    assert steps.index("RUN pip install -r requirements.txt") < steps.index(
        "COPY contacts_api/ contacts_api/"
    )
    [healthcheck] = instructions("HEALTHCHECK")
    assert "/health/ready" in healthcheck


def test_the_image_serves_on_the_port_compose_publishes_with_serve_sh() -> None:
    assert instructions("EXPOSE") == ["8000"]
    environment = " ".join(instructions("ENV")).split()
    assert {"PORT=8000", "HOST=0.0.0.0", "WEB_CONCURRENCY=2"} <= set(environment)
    assert json.loads(instructions("CMD")[0]) == ["./serve.sh"]
    assert os.access(ROOT / "serve.sh", os.X_OK)


def serve(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    """Run serve.sh, the container's start command, with `env` on this machine."""
    bin_folder = os.path.dirname(sys.executable)  # python, alembic and uvicorn of the venv
    environment = os.environ | {"PATH": f"{bin_folder}:{os.environ['PATH']}", "PORT": str(port)}
    return subprocess.Popen(
        ["./serve.sh"],
        cwd=ROOT,
        env=environment | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_until_ready(client: httpx.Client, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.get("/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.communicate()[0]
        time.sleep(0.2)
    pytest.fail("the server did not get ready within 60 s")


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"serve.sh did not stop on SIGTERM:\n{output}")
    return output


def test_serve_sh_refuses_to_start_without_a_secret_key() -> None:
    process = serve({"SECRET_KEY": ""}, free_port())
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "contacts_api cannot start, invalid settings:" in output
    assert "Uvicorn running" not in output


def test_serve_sh_runs_workers_that_share_metrics_and_see_clients_behind_a_proxy(
    client: TestClient, redis_url: str, tmp_path: Path
) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_99999.db").write_bytes(b"left over from an earlier run")
    port = free_port()
    process = serve(
        {
            "WEB_CONCURRENCY": "2",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            "FORWARDED_ALLOW_IPS": "127.0.0.1",
            "REDIS_URL": redis_url,
            "TOKEN_REQUESTS_PER_MINUTE": "3",
        },
        port,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as server:
            wait_until_ready(server, process)
            # A new connection per request, so that both workers take some.
            for _ in range(20):
                with httpx.Client(base_url=f"http://127.0.0.1:{port}") as one_off:
                    assert one_off.get("/health").status_code == 200
            text = server.get("/metrics").text
            # The proxy says which client each request comes from; the limit counts per client.
            statuses = [
                token_request(server, forwarded_for)
                for forwarded_for in ["203.0.113.1"] * 4 + ["203.0.113.2"]
            ]
    finally:
        output = stop(process)

    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert output.count("Started server process") == 2  # two workers
    writers = {path.name.split("_")[-1] for path in metrics.glob("*.db")}
    assert len(writers) == 2, writers  # each worker wrote, the old file is gone
    [count] = re.findall(
        r'^http_requests_total\{handler="/health",method="GET",status="2xx"\} (\S+)$',
        text,
        re.MULTILINE,
    )
    assert float(count) == 20  # every worker's requests, added up
    assert statuses == [401, 401, 401, 429, 401]


def token_request(server: httpx.Client, forwarded_for: str) -> int:
    response = server.post(
        "/api/auth/token",
        data={"username": "nobody@example.com", "password": "wrong password"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return response.status_code


def test_make_run_serves_on_the_port_it_is_given_and_mail_links_follow_it(
    tmp_path: Path,
) -> None:
    port = free_port()
    bin_folder = os.path.dirname(sys.executable)  # the venv's alembic and uvicorn
    with SmtpServer() as smtp:
        environment = {
            key: value for key, value in os.environ.items() if key not in {"PUBLIC_URL", "PORT"}
        } | {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'contacts.db'}",
            "SECRET_KEY": "make-run-test-key-0123456789abcdefghijklmnop",
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "SMTP_SECURITY": "none",
        }
        # -o: the venv is there already; make must not try to build one.
        process = subprocess.Popen(
            ["make", "-o", ".venv/installed", "run", f"PORT={port}", f"BIN={bin_folder}"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # make and uvicorn in one group, stopped together
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as server:
                wait_until_ready(server, process)
                signup = server.post(
                    "/api/auth/signup",
                    json={"email": "ann@example.com", "password": "correct horse battery"},
                )
                assert signup.status_code == 201, signup.text
            [message] = smtp.wait_for(1, timeout=10)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            output, _ = process.communicate(timeout=20)
    assert f"Uvicorn running on http://127.0.0.1:{port}" in output
    [link] = re.findall(r"http://\S+", str(message.get_content()))
    assert link.startswith(f"http://127.0.0.1:{port}/verify-email?token=")


def test_public_url_follows_port_only_while_it_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBLIC_URL")
    monkeypatch.delenv("PORT", raising=False)
    assert Settings().PUBLIC_URL == "http://127.0.0.1:8000"
    monkeypatch.setenv("PORT", "8001")
    assert Settings().PUBLIC_URL == "http://127.0.0.1:8001"
    monkeypatch.setenv("PUBLIC_URL", "https://contacts.example.com/")
    assert Settings().PUBLIC_URL == "https://contacts.example.com"
