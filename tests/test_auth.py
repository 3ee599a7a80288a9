"""Signup, the token endpoint (login and refresh), sessions, logout and /users/me."""

import base64
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jose import jwt
from sqlalchemy import text

from tests.helpers import PASSWORD, assert_too_many, bearer, log_in, sign_up

SECRET_KEY = "test-key-not-secret-0123456789abcdefghijklmnop"


def refresh(client: TestClient, refresh_token: str) -> Any:
    return client.post(
        "/api/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}
    )


def assert_unauthorized(response: Any, detail: str) -> None:
    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response.headers["www-authenticate"] == "Bearer"


# --- signup ----------------------------------------------------------------------------------


def test_signup_returns_the_public_user(client: TestClient) -> None:
    response = client.post(
        "/api/auth/signup",
        json={"email": "  Ann@Example.COM ", "password": PASSWORD, "full_name": " Ann Lee "},
    )
    assert response.status_code == 201
    user = response.json()
    assert set(user) == {"id", "email", "full_name", "email_verified", "created_at"}
    assert user["email"] == "ann@example.com"
    assert user["full_name"] == "Ann Lee"
    assert user["email_verified"] is False
    created_at = datetime.fromisoformat(user["created_at"])
    assert abs(created_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_signup_stores_a_bcrypt_hash_not_the_password(client: TestClient, sync_engine: Any) -> None:
    sign_up(client, "ann@example.com")
    with sync_engine.connect() as connection:
        stored = connection.execute(text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$2b$04$")
    assert PASSWORD not in stored


def test_signup_with_a_registered_email_in_any_case_is_409(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    response = client.post(
        "/api/auth/signup", json={"email": "ANN@example.com", "password": "another password"}
    )
    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "ann@example.com", "password": "short12"}, "password"),
        ({"email": "ann@example.com", "password": "x" * 73}, "password"),
        # 25 characters of three bytes each: 75 bytes, over bcrypt's 72.
        ({"email": "ann@example.com", "password": "€" * 25}, "password"),
        ({"email": "ann@example.com", "password": "pass\x00word123"}, "password"),
        ({"email": "ann@example.com", "password": PASSWORD, "full_name": "A\x07nn"}, "full_name"),
        ({"password": PASSWORD}, "email"),
        ({"email": "ann@example.com"}, "password"),
    ],
)
def test_signup_rejects_invalid_input_with_422(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/auth/signup", json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]


def test_a_password_of_exactly_72_bytes_is_accepted_and_not_truncated(client: TestClient) -> None:
    password = "€" * 24  # 72 bytes
    sign_up(client, "ann@example.com", password)
    log_in(client, "ann@example.com", password)
    wrong_last_char = client.post(
        "/api/auth/token", data={"username": "ann@example.com", "password": "€" * 23 + "x"}
    )
    assert_unauthorized(wrong_last_char, "Incorrect email or password")


def test_concurrent_signups_with_one_email_give_one_201_and_the_rest_409(
    client: TestClient,
) -> None:
    def attempt(_: int) -> int:
        body = {"email": "race@example.com", "password": PASSWORD}
        return client.post("/api/auth/signup", json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(attempt, range(8)))
    assert codes == [201] + [409] * 7


# --- login -----------------------------------------------------------------------------------


def test_login_returns_a_bearer_token_pair_that_is_not_cached(client: TestClient) -> None:
    user = sign_up(client, "ann@example.com")
    response = client.post(
        "/api/auth/token",
        data={"grant_type": "password", "username": " ANN@example.com", "password": PASSWORD},
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60
    claims = jwt.get_unverified_claims(tokens["access_token"])
    assert claims["sub"] == str(user["id"])
    assert claims["type"] == "access"
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "HS256"


def test_login_without_grant_type_means_the_password_grant(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")  # sends no grant_type
    assert client.get("/api/users/me", headers=bearer(tokens)).status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_401(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    wrong = client.post(
        "/api/auth/token", data={"username": "ann@example.com", "password": "wrong password"}
    )
    unknown = client.post(
        "/api/auth/token", data={"username": "nobody@example.com", "password": PASSWORD}
    )
    assert_unauthorized(wrong, "Incorrect email or password")
    assert_unauthorized(unknown, "Incorrect email or password")


def test_unknown_email_still_costs_one_bcrypt_verification(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contacts_api import security

    sign_up(client, "ann@example.com")
    verified: list[str] = []
    original = security.password_context.verify

    def counting_verify(secret: str, hash: str) -> bool:
        verified.append(hash)
        return original(secret, hash)

    monkeypatch.setattr(security.password_context, "verify", counting_verify)
    for username in ("ann@example.com", "nobody@example.com"):
        client.post("/api/auth/token", data={"username": username, "password": "wrong password"})
    assert len(verified) == 2
    assert verified[1] == security.DUMMY_HASH
    assert verified[0] != security.DUMMY_HASH


@pytest.mark.parametrize("password", [PASSWORD + "x" * 60, "pass\x00word"])
def test_a_login_password_bcrypt_cannot_take_is_a_plain_401(
    client: TestClient, password: str
) -> None:
    sign_up(client, "ann@example.com", PASSWORD)
    response = client.post(
        "/api/auth/token", data={"username": "ann@example.com", "password": password}
    )
    assert_unauthorized(response, "Incorrect email or password")


def test_a_nul_byte_in_the_username_is_a_401_not_a_database_error(client: TestClient) -> None:
    response = client.post(
        "/api/auth/token", data={"username": "ann\x00@example.com", "password": PASSWORD}
    )
    assert_unauthorized(response, "Incorrect email or password")


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "client_credentials", "username": "a@example.com", "password": "x"},
        {"grant_type": "password", "username": "ann@example.com"},
        {"password": PASSWORD},
        {"grant_type": "refresh_token"},
    ],
)
def test_a_malformed_token_form_is_422(client: TestClient, form: dict[str, str]) -> None:
    response = client.post("/api/auth/token", data=form)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_swagger_ui_form_with_scope_and_client_id_logs_in(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    response = client.post(
        "/api/auth/token",
        data={
            "grant_type": "password",
            "username": "ann@example.com",
            "password": PASSWORD,
            "scope": "",
            "client_id": "",
        },
    )
    assert response.status_code == 200


# --- refresh ---------------------------------------------------------------------------------


def test_refresh_rotates_the_pair(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    first = log_in(client, "ann@example.com")
    response = refresh(client, first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert client.get("/api/users/me", headers=bearer(second)).status_code == 200
    assert refresh(client, second["refresh_token"]).status_code == 200


def test_reusing_a_retired_refresh_token_revokes_the_whole_session(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    first = log_in(client, "ann@example.com")
    second = refresh(client, first["refresh_token"]).json()

    assert_unauthorized(refresh(client, first["refresh_token"]), "Invalid or expired refresh token")
    # The thief's replay ended the session: the newest tokens are dead too.
    assert_unauthorized(
        refresh(client, second["refresh_token"]), "Invalid or expired refresh token"
    )
    assert_unauthorized(
        client.get("/api/users/me", headers=bearer(second)), "Invalid or expired access token"
    )


def test_reuse_detection_leaves_the_users_other_sessions_alone(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    laptop = log_in(client, "ann@example.com")
    phone = log_in(client, "ann@example.com")
    refresh(client, laptop["refresh_token"])
    refresh(client, laptop["refresh_token"])  # replay: the laptop session ends
    assert client.get("/api/users/me", headers=bearer(phone)).status_code == 200
    assert refresh(client, phone["refresh_token"]).status_code == 200


def test_concurrent_refreshes_with_one_token_let_exactly_one_win(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: refresh(client, tokens["refresh_token"]), range(8)))
    assert sorted(response.status_code for response in responses) == [200] + [401] * 7
    # The losers presented a token that was retired by then, which the contract calls theft:
    # the session ends, the winner's new pair with it (see the README's reading).
    [winner] = [response.json() for response in responses if response.status_code == 200]
    assert client.get("/api/users/me", headers=bearer(winner)).status_code == 401
    assert refresh(client, winner["refresh_token"]).status_code == 401


def test_an_access_token_is_not_a_refresh_token_and_the_reverse(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    assert_unauthorized(refresh(client, tokens["access_token"]), "Invalid or expired refresh token")
    as_access = client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert_unauthorized(as_access, "Invalid or expired access token")


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(claims: dict[str, Any], key: str = SECRET_KEY, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def test_forged_and_expired_tokens_are_rejected(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    claims = jwt.get_unverified_claims(tokens["access_token"])
    now = int(datetime.now(UTC).timestamp())
    header, payload, signature = tokens["access_token"].split(".")
    other_user = base64url(json.dumps(claims | {"sub": str(int(claims["sub"]) + 1)}).encode())
    unsigned = base64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    forged = [
        f"{unsigned}.{payload}.",  # alg=none
        f"{header}.{other_user}.{signature}",  # tampered payload, original signature
        forge(claims, key="another-key-0123456789abcdefghijklmnopqrstuvwxyz"),
        forge(claims, algorithm="HS512"),
        forge(claims | {"exp": now - 1}),
        forge({key: value for key, value in claims.items() if key != "exp"}),
        forge(claims | {"sub": "not-a-number"}),
        tokens["access_token"][:-4] + "AAAA",
        "not.a.token",
    ]
    for token in forged:
        response = client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert_unauthorized(response, "Invalid or expired access token")


def test_a_garbage_refresh_token_is_401(client: TestClient) -> None:
    assert_unauthorized(refresh(client, "garbage"), "Invalid or expired refresh token")


# --- logout and me ---------------------------------------------------------------------------


def test_logout_ends_the_session_at_once(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    response = client.post("/api/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    assert response.content == b""
    assert_unauthorized(
        client.get("/api/users/me", headers=bearer(tokens)), "Invalid or expired access token"
    )
    assert_unauthorized(
        refresh(client, tokens["refresh_token"]), "Invalid or expired refresh token"
    )


def test_logout_is_idempotent_and_quiet_about_unknown_tokens(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    for token in (
        tokens["refresh_token"],
        tokens["refresh_token"],
        "unknown",
        tokens["access_token"],
    ):
        response = client.post("/api/auth/logout", json={"refresh_token": token})
        assert response.status_code == 204


def test_logging_out_with_an_access_token_does_not_end_the_session(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    client.post("/api/auth/logout", json={"refresh_token": tokens["access_token"]})
    assert client.get("/api/users/me", headers=bearer(tokens)).status_code == 200


def test_logout_without_a_refresh_token_is_422(client: TestClient) -> None:
    assert client.post("/api/auth/logout", json={}).status_code == 422


def test_me_returns_the_tokens_user(client: TestClient) -> None:
    user = sign_up(client, "ann@example.com")
    response = client.get("/api/users/me", headers=bearer(log_in(client, "ann@example.com")))
    assert response.status_code == 200
    assert response.json() == user


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Basic YW5uOnB3"}, {"Authorization": "Bearer "}]
)
def test_me_without_a_bearer_token_is_401(client: TestClient, headers: dict[str, str]) -> None:
    assert_unauthorized(client.get("/api/users/me", headers=headers), "Not authenticated")


@pytest.mark.parametrize(
    "change",
    [
        "DELETE FROM users",  # the user is gone
        "UPDATE auth_sessions SET expires_at = created_at",  # the session's absolute expiry
    ],
)
def test_an_access_token_stops_when_its_user_or_session_ends(
    client: TestClient, sync_engine: Any, change: str
) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    with sync_engine.begin() as connection:
        connection.execute(text(change))
    assert_unauthorized(
        client.get("/api/users/me", headers=bearer(tokens)), "Invalid or expired access token"
    )


# --- session control -------------------------------------------------------------------------


def test_a_refresh_does_not_extend_the_session(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    first = log_in(client, "ann@example.com")
    second = refresh(client, first["refresh_token"]).json()
    first_exp = jwt.get_unverified_claims(first["refresh_token"])["exp"]
    assert jwt.get_unverified_claims(second["refresh_token"])["exp"] == first_exp
    lifetime = first_exp - jwt.get_unverified_claims(first["refresh_token"])["iat"]
    assert lifetime == 7 * 24 * 3600


def test_a_session_past_its_absolute_expiry_cannot_be_refreshed(
    client: TestClient, sync_engine: Any
) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    with sync_engine.begin() as connection:
        connection.execute(text("UPDATE auth_sessions SET expires_at = created_at"))
    assert_unauthorized(
        refresh(client, tokens["refresh_token"]), "Invalid or expired refresh token"
    )


def test_logout_all_ends_every_session_of_the_user_only(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    sign_up(client, "bob@example.com")
    laptop, phone = log_in(client, "ann@example.com"), log_in(client, "ann@example.com")
    bobs = log_in(client, "bob@example.com")
    response = client.post("/api/auth/logout-all", headers=bearer(laptop))
    assert response.status_code == 204
    for tokens in (laptop, phone):
        assert_unauthorized(
            client.get("/api/users/me", headers=bearer(tokens)), "Invalid or expired access token"
        )
        assert_unauthorized(
            refresh(client, tokens["refresh_token"]), "Invalid or expired refresh token"
        )
    assert client.get("/api/users/me", headers=bearer(bobs)).status_code == 200
    assert client.post("/api/auth/logout-all", headers=bearer(laptop)).status_code == 401


def test_logout_all_needs_a_token(client: TestClient) -> None:
    assert_unauthorized(client.post("/api/auth/logout-all"), "Not authenticated")


def change_password(client: TestClient, tokens: dict[str, Any], current: str, new: str) -> Any:
    return client.put(
        "/api/users/me/password",
        headers=bearer(tokens),
        json={"current_password": current, "new_password": new},
    )


def test_changing_the_password_ends_every_session(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    laptop, phone = log_in(client, "ann@example.com"), log_in(client, "ann@example.com")
    response = change_password(client, laptop, PASSWORD, "a brand new password")
    assert response.status_code == 204
    for tokens in (laptop, phone):
        assert client.get("/api/users/me", headers=bearer(tokens)).status_code == 401
        assert refresh(client, tokens["refresh_token"]).status_code == 401
    old = client.post("/api/auth/token", data={"username": "ann@example.com", "password": PASSWORD})
    assert_unauthorized(old, "Incorrect email or password")
    log_in(client, "ann@example.com", "a brand new password")


def test_changing_the_password_with_a_wrong_current_password_is_400(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    response = change_password(client, tokens, "not my password", "a brand new password")
    assert response.status_code == 400
    assert response.json() == {"detail": "Current password is incorrect"}
    assert client.get("/api/users/me", headers=bearer(tokens)).status_code == 200
    log_in(client, "ann@example.com")


@pytest.mark.parametrize("new_password", ["short", "x" * 73, "nul\x00byte-password"])
def test_a_new_password_is_validated_like_at_signup(client: TestClient, new_password: str) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    response = change_password(client, tokens, PASSWORD, new_password)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "new_password"]]
    log_in(client, "ann@example.com")


def test_changing_the_password_needs_a_token(client: TestClient) -> None:
    response = client.put(
        "/api/users/me/password", json={"current_password": PASSWORD, "new_password": "x" * 10}
    )
    assert_unauthorized(response, "Not authenticated")


def test_login_clears_away_ended_sessions(client: TestClient, sync_engine: Any) -> None:
    sign_up(client, "ann@example.com")
    for _ in range(3):
        tokens = log_in(client, "ann@example.com")
        client.post("/api/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    log_in(client, "ann@example.com")
    with sync_engine.connect() as connection:
        sessions = connection.execute(text("SELECT revoked_at FROM auth_sessions")).all()
    assert [row.revoked_at for row in sessions] == [None]


def test_no_database_connection_is_held_while_bcrypt_runs(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, background_stopped: None
) -> None:
    """The outbox's workers and the jobs take connections at any moment (on SQLite from this
    same pool): they are stopped, so that the count is the requests' alone."""
    from contacts_api import security
    from contacts_api.db import engine

    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    held: list[int] = []
    original = security.password_context.verify

    def verify_noting_connections(secret: str, hash: str) -> bool:
        held.append(engine.pool.checkedout())  # type: ignore[attr-defined]
        return original(secret, hash)

    monkeypatch.setattr(security.password_context, "verify", verify_noting_connections)
    log_in(client, "ann@example.com")
    client.post("/api/auth/token", data={"username": "nobody@example.com", "password": "x"})
    change_password(client, tokens, PASSWORD, "a brand new password")
    assert held == [0, 0, 0]


@pytest.mark.parametrize(
    ("signed_up_as", "logs_in_as"),
    [
        ("jose\u0301@example.com", "jose\u0301@example.com"),  # decomposed é: stored as NFC
        ("ann@xn--exmple-cua.com", "ann@xn--exmple-cua.com"),  # stored as ann@exämple.com
        ("ann@xn--exmple-cua.com", "ANN@exämple.com"),
    ],
)
def test_login_finds_an_email_written_as_at_signup(
    client: TestClient, signed_up_as: str, logs_in_as: str
) -> None:
    client.post("/api/auth/signup", json={"email": signed_up_as, "password": PASSWORD})
    log_in(client, logs_in_as)


def test_guesses_at_the_current_password_are_rate_limited(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    started = time.monotonic()
    tokens = log_in(client, "ann@example.com")  # attempt 1 for this email
    answers = [
        change_password(client, tokens, f"guess {n}", "a brand new password") for n in range(10)
    ]
    assert [answer.status_code for answer in answers] == [400] * 9 + [429]
    assert_too_many(answers[-1], 60, started)


@pytest.mark.skipif(sys.platform != "linux", reason="thread priorities are Linux's")
def test_passwords_are_hashed_in_threads_of_lower_priority(client: TestClient) -> None:
    sign_up(client, "ann@example.com")
    hashing = [thread for thread in threading.enumerate() if thread.name.startswith("bcrypt")]
    assert hashing
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    for thread in hashing:
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id or 0) == min(19, ours + 10)
