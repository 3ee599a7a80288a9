"""The pages that links in messages open, in a real browser: a person follows the link of a
real message (from the tests' SMTP server), confirms, and the account changes; opening the
link alone changes nothing."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import wait_until_mail_is_sent
from tests.helpers import PASSWORD, bearer, log_in, sign_up
from tests.pgcluster import free_port
from tests.served import served_app
from tests.smtp import SmtpServer
from tests.test_accounts import link_in
from tests.untested import CHROMIUM, NO_CHROMIUM

if CHROMIUM is None:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.sync_api import Page, expect

from tests.browser import chromium_page


@pytest.fixture
def server(client: TestClient) -> Iterator[Any]:
    # The links in its messages point at itself: PUBLIC_URL is its own address.
    port = free_port()
    env = {"PUBLIC_URL": f"http://127.0.0.1:{port}", "DATABASE_URL": os.environ["DATABASE_URL"]}
    with served_app(env, port=port) as served:
        yield served


@pytest.fixture
def page(server: Any) -> Iterator[Page]:
    with chromium_page() as (page, problems):
        yield page
    # A link used twice is answered 400 on purpose, which Chromium logs as well.
    refused_token = "the server responded with a status of 400 (Bad Request)"
    assert [problem for problem in problems if refused_token not in problem] == []


def test_a_person_verifies_their_email_from_the_message(
    server: Any, page: Page, mailbox: SmtpServer, tmp_path: Path
) -> None:
    sign_up(server, "ann@example.com")
    [message] = mailbox.wait_for(1)
    tokens = log_in(server, "ann@example.com")
    page.goto(link_in(message))
    expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    # The page is open and nothing has changed yet.
    assert server.get("/api/users/me", headers=bearer(tokens)).json()["email_verified"] is False
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("status")).to_have_text("Thank you: your email address is verified.")
    page.screenshot(path=tmp_path / "verified.png")
    assert server.get("/api/users/me", headers=bearer(tokens)).json()["email_verified"] is True
    # The same link once more says so, in words.
    page.goto(link_in(message))
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("status")).to_contain_text("invalid, has expired or was used")


def test_a_person_sets_a_new_password_from_the_message(
    server: Any, page: Page, mailbox: SmtpServer
) -> None:
    sign_up(server, "ann@example.com")
    wait_until_mail_is_sent()
    mailbox.wait_for(1)
    mailbox.clear()
    assert server.post("/api/auth/forgot-password", json={"email": "ann@example.com"}).is_success
    [message] = mailbox.wait_for(1)
    page.goto(link_in(message))
    page.get_by_label("New password").fill("battery staple horse")
    page.get_by_label("The same password again").fill("battery staple hose")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("status")).to_have_text(
        "The two passwords differ: type the same one twice."
    )
    # Nothing was sent: the old password still works.
    log_in(server, "ann@example.com", PASSWORD)
    page.get_by_label("The same password again").fill("battery staple horse")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("status")).to_have_text(
        "Your password is changed. Log in with it on every device."
    )
    log_in(server, "ann@example.com", "battery staple horse")
    old = {"username": "ann@example.com", "password": PASSWORD}
    assert server.post("/api/auth/token", data=old).status_code == 401
