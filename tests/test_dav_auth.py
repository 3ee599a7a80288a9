"""Signing in to CardDAV: HTTP Basic with the email and an app password, never the account's
password; the per-email limit of attempts; what revokes an app password; `last_used_at`."""

import base64
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.davhelp import app_password, propfind
from tests.helpers import PASSWORD, new_user
from tests.smtp import SmtpServer
from tests.test_accounts import NEW_PASSWORD, reset, reset_token

Headers = dict[str, str]
CHALLENGE = 'Basic realm="contacts_api", charset="UTF-8"'
EMAIL = "ann@example.com"


def signed_in(client: TestClient, auth: Any) -> int:
    return propfind(client, "/dav/", auth).status_code


def test_an_app_password_signs_in_as_people_type_it(client: TestClient, ann: Headers) -> None:
    password = app_password(client, ann)
    assert signed_in(client, (EMAIL, password)) == 207
    assert signed_in(client, (" Ann@Example.COM ", password.upper().replace("-", " "))) == 207


def test_wrong_or_missing_credentials_are_401_with_the_basic_challenge(
    client: TestClient, ann: Headers
) -> None:
    password = app_password(client, ann)
    bob = new_user(client, "bob@example.com")
    bobs = app_password(client, bob)
    garbage = {"Authorization": "Basic !!!"}
    for auth, headers in [
        (None, {}),
        ((EMAIL, PASSWORD), {}),  # the account's own password: never here
        ((EMAIL, "abcd-" * 6 + "abcd"), {}),
        ((EMAIL, bobs), {}),  # another user's app password
        (("nobody@example.com", password), {}),
        (None, garbage),
        (None, {"Authorization": ann["Authorization"]}),  # a Bearer token
        (None, {"Authorization": "Basic " + base64.b64encode(b"no colon").decode()}),
    ]:
        if auth is not None:
            basic = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers = {"Authorization": f"Basic {basic}"}
        answer = client.request("PROPFIND", "/dav/", headers=headers)
        assert answer.status_code == 401, (auth, headers)
        assert answer.headers["www-authenticate"] == CHALLENGE


def test_failures_count_against_the_emails_password_attempts(
    client: TestClient, ann: Headers
) -> None:
    password = app_password(client, ann)
    # Right passwords count nothing: a sync sends many requests a minute.
    for _ in range(15):
        assert signed_in(client, (EMAIL, password)) == 207
    # Ten attempts a minute, and the `ann` fixture's login was one of them.
    for _ in range(9):
        assert signed_in(client, (EMAIL, "wrong")) == 401
    answer = propfind(client, "/dav/", (EMAIL, password))
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    # The same limit as the token endpoint's password grant.
    login = client.post("/api/auth/token", data={"username": EMAIL, "password": PASSWORD})
    assert login.status_code == 429


def test_a_deleted_app_password_stops_at_once_and_the_others_keep_working(
    client: TestClient, ann: Headers
) -> None:
    phone, laptop = app_password(client, ann, "phone"), app_password(client, ann, "laptop")
    [_, phone_row] = client.get("/api/users/me/app-passwords", headers=ann).json()
    client.delete(f"/api/users/me/app-passwords/{phone_row['id']}", headers=ann)
    assert signed_in(client, (EMAIL, phone)) == 401
    assert signed_in(client, (EMAIL, laptop)) == 207


def test_logout_all_password_change_and_reset_sign_every_device_out(
    client: TestClient, ann: Headers, mailbox: SmtpServer
) -> None:
    from tests.helpers import bearer, log_in

    password = app_password(client, ann)
    client.post("/api/auth/logout-all", headers=ann)
    assert signed_in(client, (EMAIL, password)) == 401
    headers = bearer(log_in(client, EMAIL))
    password = app_password(client, headers)
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert client.put("/api/users/me/password", headers=headers, json=change).status_code == 204
    assert signed_in(client, (EMAIL, password)) == 401
    headers = bearer(log_in(client, EMAIL, NEW_PASSWORD))
    password = app_password(client, headers)
    assert reset(client, reset_token(client, mailbox, EMAIL), PASSWORD).status_code == 204
    assert signed_in(client, (EMAIL, password)) == 401


def test_last_used_is_written_at_most_once_a_minute(
    client: TestClient, ann: Headers, sync_engine: Any
) -> None:
    password = app_password(client, ann)
    assert client.get("/api/users/me/app-passwords", headers=ann).json()[0]["last_used_at"] is None
    signed_in(client, (EMAIL, password))
    [first] = client.get("/api/users/me/app-passwords", headers=ann).json()
    assert first["last_used_at"] is not None
    signed_in(client, (EMAIL, password))
    assert client.get("/api/users/me/app-passwords", headers=ann).json() == [first]
    with sync_engine.begin() as connection:
        connection.execute(
            text("UPDATE app_passwords SET last_used_at = :then"),
            {"then": "2026-01-01 00:00:00+00:00"},
        )
    signed_in(client, (EMAIL, password))
    [later] = client.get("/api/users/me/app-passwords", headers=ann).json()
    assert later["last_used_at"] > first["last_used_at"]
