"""The contract's Limits: body size, and rate limits in the process or shared through Redis."""

import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import PASSWORD, assert_too_many, contact_data, sign_up
from tests.pgcluster import free_port
from tests.served import served_app

MAX_BODY_BYTES = 1_048_576


def test_a_body_over_the_limit_is_413(client: TestClient, ann: dict[str, str]) -> None:
    body = b'{"notes": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = client.post(
        "/api/contacts", headers=ann | {"Content-Type": "application/json"}, content=body
    )
    assert response.status_code == 413
    assert response.json() == {"detail": f"Request body is larger than {MAX_BODY_BYTES} bytes"}


def test_a_chunked_body_over_the_limit_is_413(client: TestClient, ann: dict[str, str]) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"notes": "'
        for _ in range(20):
            yield b"x" * 65_536
        yield b'"}'

    response = client.post(
        "/api/contacts", headers=ann | {"Content-Type": "application/json"}, content=chunks()
    )
    assert response.status_code == 413


def test_a_body_of_exactly_the_limit_is_read(client: TestClient, ann: dict[str, str]) -> None:
    short = json.dumps(contact_data()).encode()
    # Spaces after the first name fill the body up to the limit; trimming removes them.
    padded = contact_data(first_name="Carol" + " " * (MAX_BODY_BYTES - len(short)))
    body = json.dumps(padded).encode()
    assert len(body) == MAX_BODY_BYTES
    response = client.post(
        "/api/contacts", headers=ann | {"Content-Type": "application/json"}, content=body
    )
    assert response.status_code == 201
    assert response.json()["first_name"] == "Carol"


def test_an_oversized_token_form_is_413(client: TestClient) -> None:
    response = client.post(
        "/api/auth/token", data={"username": "a@example.com", "password": "x" * MAX_BODY_BYTES}
    )
    assert response.status_code == 413


def attempt_login(client: Any, email: str, password: str = "wrong password") -> Any:
    return client.post("/api/auth/token", data={"username": email, "password": password})


def test_password_attempts_for_one_email_are_limited_to_10_a_minute(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    started = time.monotonic()
    codes = [attempt_login(client, "ann@example.com").status_code for _ in range(9)]
    assert codes == [401] * 9
    assert attempt_login(client, "ann@example.com", PASSWORD).status_code == 200  # the 10th
    # The 11th is refused even with the right password, and in any letter case.
    assert_too_many(attempt_login(client, " ANN@example.com", PASSWORD), 60, started)
    # Another email is counted on its own.
    assert attempt_login(client, "bob@example.com").status_code == 401


def test_token_requests_from_one_address_are_limited_to_60_a_minute(client: TestClient) -> None:
    refresh = {"grant_type": "refresh_token", "refresh_token": "not-a-token"}
    started = time.monotonic()
    codes = [client.post("/api/auth/token", data=refresh).status_code for _ in range(60)]
    assert codes == [401] * 60
    assert_too_many(client.post("/api/auth/token", data=refresh), 60, started)
    assert_too_many(attempt_login(client, "new@example.com"), 60, started)


def test_signups_from_one_address_are_limited_to_20_an_hour(client: TestClient) -> None:
    started = time.monotonic()
    for number in range(20):
        sign_up(client, f"user{number}@example.com")
    response = client.post(
        "/api/auth/signup", json={"email": "one-more@example.com", "password": PASSWORD}
    )
    assert_too_many(response, 3600, started)


def count_logins_across_two_servers(**env: str) -> list[int]:
    limited = {"LOGIN_ATTEMPTS_PER_MINUTE": "4", **env}
    with served_app(limited) as first, served_app(limited) as second:
        return [
            attempt_login(server, "ann@example.com").status_code
            for server in (first, second, first, second, first, second)
        ]


def test_two_servers_sharing_redis_count_one_limit(redis_url: str, client: TestClient) -> None:
    database = os.environ["DATABASE_URL"]
    assert count_logins_across_two_servers(REDIS_URL=redis_url, DATABASE_URL=database) == [
        401, 401, 401, 401, 429, 429,
    ]  # fmt: skip
    # Without Redis each process counts for itself: twice the attempts get through.
    assert count_logins_across_two_servers(DATABASE_URL=database) == [401] * 6


def assert_limited_routes_refuse_for_now(server: Any) -> None:
    """Without its counters the service refuses the limited routes: 503 with Retry-After,
    at once, and serves the others."""
    refused = {"detail": "The rate limiter is unavailable; try again shortly"}
    limited: list[tuple[str, dict[str, Any]]] = [
        ("/api/auth/signup", {"json": {"email": "a@example.com", "password": PASSWORD}}),
        ("/api/auth/token", {"data": {"username": "a@example.com", "password": PASSWORD}}),
        ("/api/auth/token", {"data": {"grant_type": "refresh_token", "refresh_token": "x"}}),
        ("/api/auth/forgot-password", {"json": {"email": "a@example.com"}}),
        ("/api/auth/reset-password", {"json": {"token": "x", "new_password": PASSWORD}}),
    ]
    for path, body in limited:
        started = time.monotonic()
        response = server.post(path, **body)
        assert time.monotonic() - started < 5
        assert (response.status_code, response.json()) == (503, refused)
        assert response.headers["retry-after"] == "5"
    assert server.get("/health/ready").status_code == 200


def test_a_redis_that_is_down_makes_the_limited_routes_503() -> None:
    closed_port = free_port()
    env = {"REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}
    with served_app(env | {"DATABASE_URL": os.environ["DATABASE_URL"]}) as server:
        assert_limited_routes_refuse_for_now(server)


def test_a_redis_that_never_answers_makes_the_limited_routes_503_not_a_hang() -> None:
    # Connections are accepted (by the kernel's backlog) and then nothing is ever said.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        env = {"REDIS_URL": f"redis://127.0.0.1:{silent.getsockname()[1]}/0"}
        with served_app(env | {"DATABASE_URL": os.environ["DATABASE_URL"]}) as server:
            assert_limited_routes_refuse_for_now(server)
