"""The account: the profile, a new email, a new password, and deleting it all."""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.conftest import wait_until_mail_is_sent
from tests.helpers import PASSWORD, assert_too_many, bearer, create_contact, log_in, sign_up
from tests.served import served_app
from tests.smtp import SmtpServer


def patch_me(client: TestClient, tokens: dict[str, Any], **body: Any) -> Any:
    return client.patch("/api/users/me", headers=bearer(tokens), json=body)


def signed_up(client: TestClient, mailbox: SmtpServer, email: str) -> dict[str, Any]:
    """Sign up and log in `email`; the mailbox is empty after."""
    sign_up(client, email)
    tokens = log_in(client, email)
    wait_until_mail_is_sent()
    mailbox.clear()
    return tokens


def test_the_name_changes_without_a_password_and_without_mail(
    client: TestClient, mailbox: SmtpServer
) -> None:
    tokens = signed_up(client, mailbox, "ann@example.com")
    response = patch_me(client, tokens, full_name="  Ann Lee ")
    assert response.status_code == 200
    assert response.json()["full_name"] == "Ann Lee"
    assert patch_me(client, tokens, full_name=None).json()["full_name"] is None
    assert patch_me(client, tokens).json()["email"] == "ann@example.com"
    wait_until_mail_is_sent()
    assert mailbox.messages == []


def test_a_new_email_needs_the_current_password(client: TestClient, mailbox: SmtpServer) -> None:
    tokens = signed_up(client, mailbox, "ann@example.com")
    missing = patch_me(client, tokens, email="ann@new.example")
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["msg"] == (
        "Value error, changing the email needs current_password"
    )
    wrong = patch_me(client, tokens, email="ann@new.example", current_password="not it!")
    assert (wrong.status_code, wrong.json()) == (400, {"detail": "Current password is incorrect"})
    assert client.get("/api/users/me", headers=bearer(tokens)).json()["email"] == "ann@example.com"


def test_a_taken_email_is_409_in_any_letter_case(client: TestClient, mailbox: SmtpServer) -> None:
    sign_up(client, "bob@example.com")
    tokens = signed_up(client, mailbox, "ann@example.com")
    response = patch_me(client, tokens, email=" BOB@Example.com", current_password=PASSWORD)
    assert (response.status_code, response.json()) == (409, {"detail": "Email already registered"})


def test_a_new_email_is_unverified_checked_by_mail_and_told_to_the_old_one(
    client: TestClient, mailbox: SmtpServer
) -> None:
    tokens = signed_up(client, mailbox, "ann@example.com")
    response = patch_me(client, tokens, email="Ann@New.example", current_password=PASSWORD)
    assert response.status_code == 200
    assert (response.json()["email"], response.json()["email_verified"]) == (
        "ann@new.example",
        False,
    )
    messages = {message["To"]: message for message in mailbox.wait_for(2)}
    assert messages["ann@new.example"]["Subject"] == "Confirm your email address"
    notice = messages["ann@example.com"]
    assert notice["Subject"] == "The email address of your account was changed to ann@new.example"
    # The session goes on; the next login is with the new address.
    assert client.get("/api/users/me", headers=bearer(tokens)).status_code == 200
    log_in(client, "ann@new.example")
    old = {"username": "ann@example.com", "password": PASSWORD}
    assert client.post("/api/auth/token", data=old).status_code == 401


def test_a_password_change_is_told_to_the_address(client: TestClient, mailbox: SmtpServer) -> None:
    tokens = signed_up(client, mailbox, "ann@example.com")
    change = {"current_password": PASSWORD, "new_password": "a brand new password"}
    response = client.put("/api/users/me/password", headers=bearer(tokens), json=change)
    assert response.status_code == 204
    [notice] = mailbox.wait_for(1)
    assert (notice["To"], notice["Subject"]) == ("ann@example.com", "Your password was changed")


def test_deleting_the_account_takes_everything_of_it_and_frees_the_email(
    client: TestClient, mailbox: SmtpServer, sync_engine: Any
) -> None:
    tokens = signed_up(client, mailbox, "ann@example.com")
    create_contact(client, bearer(tokens))
    bob = log_in(client, sign_up(client, "bob@example.com")["email"])
    create_contact(client, bearer(bob))
    headers = bearer(tokens)
    wrong = client.request(
        "DELETE", "/api/users/me", headers=headers, json={"current_password": "not it!"}
    )
    assert (wrong.status_code, wrong.json()) == (400, {"detail": "Current password is incorrect"})
    assert client.request("DELETE", "/api/users/me", headers=headers).status_code == 422
    deleted = client.request(
        "DELETE", "/api/users/me", headers=headers, json={"current_password": PASSWORD}
    )
    assert deleted.status_code == 204
    assert client.get("/api/users/me", headers=headers).status_code == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert client.post("/api/auth/token", data=refresh).status_code == 401
    with sync_engine.connect() as connection:
        rows = {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("users", "contacts", "auth_sessions")
        }
    assert rows == {"users": 1, "contacts": 1, "auth_sessions": 1}  # Bob's
    assert sign_up(client, "ann@example.com")["email"] == "ann@example.com"


def test_no_login_with_the_old_password_outlives_a_password_change() -> None:
    # bcrypt at cost 10 (about 60 ms): logins that checked the old password are still hashing
    # when the change commits, the window in which they used to open sessions after it.
    env = {"BCRYPT_ROUNDS": "10", "DATABASE_URL": os.environ["DATABASE_URL"]}
    with served_app(env) as server:
        for round_number in range(4):
            email = f"race{round_number}@example.com"
            sign_up(server, email)
            tokens = log_in(server, email)
            change = {"current_password": PASSWORD, "new_password": "a brand new password"}
            old = {"username": email, "password": PASSWORD}
            with ThreadPoolExecutor(max_workers=11) as pool:
                changing = pool.submit(
                    server.put, "/api/users/me/password", headers=bearer(tokens), json=change
                )
                # Logins spread over the change's two hashes: some read the old hash before
                # it commits and open their session after.
                logins = []
                for _ in range(10):
                    logins.append(pool.submit(server.post, "/api/auth/token", data=old))
                    time.sleep(0.02)
                changed = changing.result()
                answers = [login.result() for login in logins]
            assert changed.status_code == 204
            for answer in answers:
                if answer.status_code == 200:
                    response = server.get("/api/users/me", headers=bearer(answer.json()))
                    assert response.status_code == 401, round_number


def test_an_account_deleted_during_other_writes_never_gives_a_500() -> None:
    # The PATCH and the password change wait for bcrypt while the DELETE commits; their UPDATE
    # then finds no row (it used to be a StaleDataError, a 500).
    env = {"BCRYPT_ROUNDS": "8", "DATABASE_URL": os.environ["DATABASE_URL"]}
    with served_app(env) as server:
        for round_number in range(4):
            email = f"gone{round_number}@example.com"
            sign_up(server, email)
            headers = bearer(log_in(server, email))
            writes = [
                ("DELETE", "/api/users/me", {"current_password": PASSWORD}),
                ("PATCH", "/api/users/me", {"full_name": "Zed"}),
                ("PATCH", "/api/users/me", {"email": f"new{round_number}@example.com",
                                            "current_password": PASSWORD}),
                ("PUT", "/api/users/me/password", {"current_password": PASSWORD,
                                                   "new_password": "a brand new password"}),
            ]  # fmt: skip
            with ThreadPoolExecutor(max_workers=4) as pool:
                sent = [
                    pool.submit(server.request, method, path, headers=headers, json=body)
                    for method, path, body in writes
                ]
                answers = [answer.result() for answer in sent]
            codes = [answer.status_code for answer in answers]
            assert codes[0] == 204
            assert set(codes[1:]) <= {200, 204, 401}, codes
            assert server.get("/api/users/me", headers=headers).status_code == 401


def test_email_changes_count_against_the_messages_each_address_may_get(
    client: TestClient, mailbox: SmtpServer
) -> None:
    tokens = signed_up(client, mailbox, "ann@example.com")
    started = time.monotonic()
    # Back and forth: every change sends a message to both addresses.
    for email in ("victim@example.com", "ann@example.com") * 2 + ("victim@example.com",):
        assert patch_me(client, tokens, email=email, current_password=PASSWORD).status_code == 200
    response = patch_me(client, tokens, email="ann@example.com", current_password=PASSWORD)
    assert_too_many(response, 3600, started)
    me = client.get("/api/users/me", headers=bearer(tokens)).json()
    assert me["email"] == "victim@example.com"
