"""Verification and recovery by real email: every message goes through the SMTP server that
the tests run (tests/smtp.py), and its link is taken out of it and followed over HTTP."""

import os
import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import wait_until_mail_is_sent
from tests.helpers import PASSWORD, assert_too_many, bearer, log_in, sign_up
from tests.pgcluster import free_port
from tests.served import fresh_database, served_app
from tests.smtp import SmtpServer

INVALID = {"detail": "Invalid, expired or already used token"}
ON_ITS_WAY = {"detail": "If this email is registered, a message is on its way"}
NEW_PASSWORD = "battery staple horse"


def link_in(message: EmailMessage) -> str:
    [link] = re.findall(r"http://\S+", str(message.get_content()))
    return str(link)


def token_in(message: EmailMessage) -> str:
    return link_in(message).partition("?token=")[2]


def the_message(mailbox: SmtpServer, to: str, subject: str) -> EmailMessage:
    """The one message of the test so far, which must go to `to` with `subject`."""
    [message] = mailbox.wait_for(1)
    assert (message["To"], message["Subject"]) == (to, subject)
    assert message["From"] == "contacts_api <no-reply@contacts.test>"
    return message


def me(client: Any, tokens: dict[str, Any]) -> dict[str, Any]:
    response = client.get("/api/users/me", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def verify(client: Any, token: str) -> Any:
    return client.post("/api/auth/verify-email", json={"token": token})


def forgot(client: Any, email: str) -> Any:
    return client.post("/api/auth/forgot-password", json={"email": email})


def reset(client: Any, token: str, password: str = NEW_PASSWORD) -> Any:
    return client.post("/api/auth/reset-password", json={"token": token, "new_password": password})


def reset_token(client: Any, mailbox: SmtpServer, email: str) -> str:
    wait_until_mail_is_sent()
    mailbox.clear()
    assert forgot(client, email).status_code == 202
    return token_in(the_message(mailbox, email, "Reset your password"))


# --- Verification -------------------------------------------------------------------------


def test_signup_sends_a_link_whose_page_changes_nothing_until_confirmed(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    message = the_message(mailbox, "ann@example.com", "Confirm your email address")
    link = link_in(message)
    assert link.startswith("http://contacts.test/verify-email?token=")
    tokens = log_in(client, "ann@example.com")
    # Opening the link (as a mail scanner does) only shows the page.
    page = client.get(link.removeprefix("http://contacts.test"))
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert me(client, tokens)["email_verified"] is False
    assert verify(client, token_in(message)).status_code == 204
    assert me(client, tokens)["email_verified"] is True
    # Used once: the same link again is refused.
    response = verify(client, token_in(message))
    assert (response.status_code, response.json()) == (400, INVALID)


def test_tokens_of_one_purpose_are_refused_for_any_other(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    verification = token_in(the_message(mailbox, "ann@example.com", "Confirm your email address"))
    recovery = reset_token(client, mailbox, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    for token in (recovery, tokens["access_token"], tokens["refresh_token"], "not.a.token", ""):
        response = verify(client, token)
        assert (response.status_code, response.json()) == (400, INVALID), token
    for token in (verification, tokens["access_token"], tokens["refresh_token"], "garbage"):
        response = reset(client, token)
        assert (response.status_code, response.json()) == (400, INVALID), token
    # The verification token cannot log in either (it is no refresh token).
    refresh = {"grant_type": "refresh_token", "refresh_token": verification}
    assert client.post("/api/auth/token", data=refresh).status_code == 401
    assert me(client, tokens)["email_verified"] is False


def test_a_verification_token_dies_when_the_email_changes(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    old_token = token_in(the_message(mailbox, "ann@example.com", "Confirm your email address"))
    tokens = log_in(client, "ann@example.com")
    mailbox.clear()
    change = {"email": "ann@new.example", "current_password": PASSWORD}
    assert client.patch("/api/users/me", headers=bearer(tokens), json=change).status_code == 200
    assert verify(client, old_token).json() == INVALID
    [to_new] = [m for m in mailbox.wait_for(2) if m["To"] == "ann@new.example"]
    assert verify(client, token_in(to_new)).status_code == 204
    assert me(client, tokens) | {"id": 0, "created_at": ""} == {
        "id": 0,
        "email": "ann@new.example",
        "full_name": None,
        "email_verified": True,
        "created_at": "",
    }


def test_tokens_of_an_earlier_address_stay_dead_when_the_account_changes_back(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    verification = token_in(the_message(mailbox, "ann@example.com", "Confirm your email address"))
    recovery = reset_token(client, mailbox, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    for email in ("ann@new.example", "ann@example.com"):
        change = {"email": email, "current_password": PASSWORD}
        assert client.patch("/api/users/me", headers=bearer(tokens), json=change).status_code == 200
    assert verify(client, verification).json() == INVALID
    assert reset(client, recovery).json() == INVALID


def test_a_deleted_users_tokens_do_nothing_to_a_new_account_of_the_same_email(
    client: TestClient, mailbox: SmtpServer
) -> None:
    # SQLite gives the next signup the id of a deleted last user: the tokens must still know.
    sign_up(client, "ann@example.com")
    verification = token_in(the_message(mailbox, "ann@example.com", "Confirm your email address"))
    recovery = reset_token(client, mailbox, "ann@example.com")
    deletion = {"current_password": PASSWORD}
    headers = bearer(log_in(client, "ann@example.com"))
    assert (
        client.request("DELETE", "/api/users/me", headers=headers, json=deletion).status_code == 204
    )
    sign_up(client, "ann@example.com", "another password")
    assert verify(client, verification).json() == INVALID
    assert reset(client, recovery).json() == INVALID
    assert (
        me(client, log_in(client, "ann@example.com", "another password"))["email_verified"] is False
    )


def test_a_new_verification_message_can_be_asked_for_five_times_an_hour(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    mailbox.wait_for(1)
    mailbox.clear()
    started = time.monotonic()
    for _ in range(5):
        response = client.post("/api/auth/verify-email/request", headers=bearer(tokens))
        assert response.status_code == 202
        assert response.json() == {"detail": "A verification message is on its way"}
    assert [m["To"] for m in mailbox.wait_for(5)] == ["ann@example.com"] * 5
    response = client.post("/api/auth/verify-email/request", headers=bearer(tokens))
    assert_too_many(response, 3600, started)
    assert client.post("/api/auth/verify-email/request").status_code == 401


def test_no_verification_message_goes_to_a_verified_email(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    verify(client, token_in(the_message(mailbox, "ann@example.com", "Confirm your email address")))
    mailbox.clear()
    tokens = log_in(client, "ann@example.com")
    response = client.post("/api/auth/verify-email/request", headers=bearer(tokens))
    assert (response.status_code, response.json()) == (
        202,
        {"detail": "Your email address is verified already"},
    )
    time.sleep(0.3)
    assert mailbox.messages == []


def test_of_two_verifications_with_one_token_exactly_one_succeeds(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    token = token_in(the_message(mailbox, "ann@example.com", "Confirm your email address"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = sorted(pool.map(lambda _: verify(client, token).status_code, range(4)))
    assert codes == [204, 400, 400, 400]


# --- Recovery -----------------------------------------------------------------------------


def test_forgot_password_answers_alike_for_known_and_unknown_emails(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    mailbox.wait_for(1)
    mailbox.clear()
    timings: dict[str, list[float]] = {"ann@example.com": [], "nobody@example.com": []}
    for _ in range(4):
        for email in timings:
            started = time.perf_counter()
            response = forgot(client, email)
            timings[email].append(time.perf_counter() - started)
            assert (response.status_code, response.json()) == (202, ON_ITS_WAY)
    known, unknown = (statistics.median(times) for times in timings.values())
    # Neither waits for mail: both are a query and an answer, a few milliseconds apart.
    assert abs(known - unknown) < 0.05, (known, unknown)
    assert [m["To"] for m in mailbox.wait_for(4)] == ["ann@example.com"] * 4
    time.sleep(0.2)
    assert len(mailbox.messages) == 4


def test_forgot_password_trims_the_email_like_every_other_route(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    wait_until_mail_is_sent()
    mailbox.clear()
    assert forgot(client, " Ann@Example.com\t\n").json() == ON_ITS_WAY
    the_message(mailbox, "ann@example.com", "Reset your password")


def test_forgot_password_counts_unknown_emails_too(client: TestClient, mailbox: SmtpServer) -> None:
    started = time.monotonic()
    codes = [forgot(client, " Nobody@Example.com").status_code for _ in range(5)]
    assert codes == [202] * 5
    assert_too_many(forgot(client, "nobody@example.com"), 3600, started)
    assert forgot(client, "somebody@example.com").status_code == 202


def test_a_reset_sets_the_password_ends_every_session_and_verifies_the_email(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    tokens = log_in(client, "ann@example.com")
    token = reset_token(client, mailbox, "ann@example.com")
    assert link_in(mailbox.messages[0]).startswith("http://contacts.test/reset-password?token=")
    mailbox.clear()
    assert reset(client, token).status_code == 204
    # Every session is over, access and refresh tokens alike, at once.
    assert client.get("/api/users/me", headers=bearer(tokens)).status_code == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert client.post("/api/auth/token", data=refresh).status_code == 401
    bad = client.post("/api/auth/token", data={"username": "ann@example.com", "password": PASSWORD})
    assert bad.status_code == 401
    new_tokens = log_in(client, "ann@example.com", NEW_PASSWORD)
    assert me(client, new_tokens)["email_verified"] is True
    # Once only, and a notice to the address.
    assert reset(client, token, "yet another password").json() == INVALID
    notice = the_message(mailbox, "ann@example.com", "Your password was reset")
    assert "Your password was reset on " in notice.get_content()


def test_any_new_password_kills_every_reset_token_issued_before(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    first = reset_token(client, mailbox, "ann@example.com")
    second = reset_token(client, mailbox, "ann@example.com")
    assert reset(client, second).status_code == 204
    assert reset(client, first).json() == INVALID
    third = reset_token(client, mailbox, "ann@example.com")
    tokens = log_in(client, "ann@example.com", NEW_PASSWORD)
    change = {"current_password": NEW_PASSWORD, "new_password": "a password changed"}
    response = client.put("/api/users/me/password", headers=bearer(tokens), json=change)
    assert response.status_code == 204
    assert reset(client, third).json() == INVALID


def test_of_two_resets_with_one_token_exactly_one_succeeds(
    client: TestClient, mailbox: SmtpServer
) -> None:
    sign_up(client, "ann@example.com")
    token = reset_token(client, mailbox, "ann@example.com")
    passwords = [f"new password {number}" for number in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = list(
            pool.map(lambda password: reset(client, token, password).status_code, passwords)
        )
    assert sorted(codes) == [204, 400, 400, 400]
    # The password is the winner's.
    log_in(client, "ann@example.com", passwords[codes.index(204)])


def test_a_reset_follows_the_password_rules(client: TestClient, mailbox: SmtpServer) -> None:
    sign_up(client, "ann@example.com")
    token = reset_token(client, mailbox, "ann@example.com")
    for password in ("short", "x" * 73, "with a \x00 in it"):
        response = reset(client, token, password)
        assert response.status_code == 422, password
        assert response.json()["detail"][0]["loc"] == ["body", "new_password"]
    assert reset(client, token).status_code == 204  # still good: nothing was changed


def test_recovery_requests_from_one_address_are_limited_to_60_an_hour(client: TestClient) -> None:
    started = time.monotonic()
    for number in range(30):
        assert forgot(client, f"user{number}@example.com").status_code == 202
        assert reset(client, "not-a-token").status_code == 400
    assert_too_many(forgot(client, "one-more@example.com"), 3600, started)
    assert_too_many(reset(client, "not-a-token"), 3600, started)


# --- Mail servers that misbehave, and none at all -------------------------------------------


def test_a_slow_or_refusing_mail_server_never_slows_an_answer(client: TestClient) -> None:
    # A server of its own, so that the retries end with it and reach no other test.
    with SmtpServer() as smtp, fresh_database() as database:
        env = {"SMTP_PORT": str(smtp.port), "DATABASE_URL": database}
        with served_app(env) as server:
            for misbehave in (smtp.slow, smtp.refuse):
                misbehave()
                started = time.monotonic()
                sign_up(server, f"{misbehave.__name__}@example.com")
                assert forgot(server, f"{misbehave.__name__}@example.com").status_code == 202
                assert time.monotonic() - started < 1
            time.sleep(0.5)
            assert smtp.messages == []


def test_a_mail_server_that_is_down_is_logged_and_retried_not_a_failure() -> None:
    lines: list[str] = []
    with fresh_database() as database:
        env = {"SMTP_PORT": str(free_port()), "DATABASE_URL": database}
        with served_app(env, output=lines) as server:
            started = time.monotonic()
            sign_up(server, "down@example.com")
            assert time.monotonic() - started < 1
            time.sleep(1)
    [failure] = [line for line in lines if "failed (attempt 1)" in line]
    assert 'Mail to down@example.com: "Confirm your email address" failed' in failure
    assert failure.endswith("; retrying in 30 s")


def test_without_smtp_host_the_message_is_a_log_line_with_a_working_link() -> None:
    lines: list[str] = []
    with fresh_database() as database:
        with served_app({"SMTP_HOST": "", "DATABASE_URL": database}, output=lines) as server:
            sign_up(server, "log@example.com")
            time.sleep(0.3)
            server.get("/health")  # the server's log is read once it has stopped
        [line] = [line for line in lines if "Mail to log@example.com" in line]
        match = re.search(r'Mail to log@example.com: "Confirm your email address" (\S+)$', line)
        assert match is not None, line
        with served_app({"DATABASE_URL": database}) as server:
            token = match.group(1).partition("?token=")[2]
            assert verify(server, token).status_code == 204


def test_require_verified_email_refuses_the_right_password_of_an_unverified_user(
    mailbox: SmtpServer,
) -> None:
    env = {"REQUIRE_VERIFIED_EMAIL": "true", "DATABASE_URL": os.environ["DATABASE_URL"]}
    with served_app(env) as server:
        sign_up(server, "strict@example.com")
        [message] = [m for m in mailbox.wait_for(1) if m["To"] == "strict@example.com"]
        form = {"username": "strict@example.com", "password": PASSWORD}
        refused = server.post("/api/auth/token", data=form)
        assert (refused.status_code, refused.json()) == (
            403,
            {"detail": "Verify your email address first"},
        )
        wrong = server.post("/api/auth/token", data=form | {"password": "wrong password"})
        assert wrong.status_code == 401
        unknown = server.post("/api/auth/token", data=form | {"username": "no@example.com"})
        assert unknown.status_code == 401
        assert verify(server, token_in(message)).status_code == 204
        assert server.post("/api/auth/token", data=form).status_code == 200


@pytest.mark.parametrize("path", ["/verify-email", "/reset-password"])
def test_the_pages_load_only_their_own_script_and_style(client: TestClient, path: str) -> None:
    page = client.get(path, params={"token": "abc"})
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert policy == (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    assert page.headers["referrer-policy"] == "no-referrer"
    assert re.findall(r'(?:src|href)="([^"]+)"', page.text) == [
        "/account-pages/account.css",
        "/account-pages/account.js",
    ]
    assert "<script>" not in page.text and "style=" not in page.text
    for asset, media_type in (("account.js", "text/javascript"), ("account.css", "text/css")):
        response = client.get(f"/account-pages/{asset}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
    assert client.get("/account-pages/other.js").status_code == 404
