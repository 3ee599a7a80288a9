"""The messages and one attempt at sending one (`Mailer`), against a real SMTP server in this
process (tests/smtp.py). The outbox that retries them is tested in tests/test_outbox.py.

Each test runs its own event loop with asyncio.run; timeouts are tenths of a second, so that a
mail server that is slow or down costs the suite little.
"""

import asyncio
import email.utils
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from contacts_api.config import Settings
from contacts_api.mail import (
    Mail,
    Mailer,
    Security,
    Undeliverable,
    notice_mail,
    reason,
    reset_mail,
    to_email_message,
    verification_mail,
)
from tests.smtp import SmtpServer, closed_port, self_signed_certificate

SENDER = "contacts_api <no-reply@example.com>"
LINK = "http://127.0.0.1:8000/verify-email?token=eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl"
MAIL = verification_mail("ann@example.com", LINK)
SUBJECT = '"Confirm your email address"'
TIMEOUT = 0.2


def mailer(
    port: int,
    *,
    host: str | None = "127.0.0.1",
    security: Security = "none",
    username: str | None = None,
    password: str | None = None,
    tls_context: ssl.SSLContext | None = None,
    timeout: float = TIMEOUT,
) -> Mailer:
    return Mailer(
        host=host,
        port=port,
        username=username,
        password=password,
        security=security,
        sender=SENDER,
        timeout=timeout,
        tls_context=tls_context,
    )


@pytest.fixture(scope="module")
def plain_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp(plain_server: SmtpServer) -> SmtpServer:
    """A plain SMTP server that has received nothing and accepts everything."""
    plain_server.clear()
    plain_server.accept()
    return plain_server


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    return self_signed_certificate(tmp_path)


MailLog = Callable[[], list[tuple[str, str]]]


@pytest.fixture
def mail_log(caplog: pytest.LogCaptureFixture) -> MailLog:
    """The mail module's log lines so far, as (level, message)."""
    caplog.clear()
    caplog.set_level(logging.INFO, logger="contacts_api.mail")
    return lambda: [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.name == "contacts_api.mail"
    ]


def attempt(box: Mailer, mail: Mail) -> str | None:
    """One `box.send(mail)` on a loop of its own: None when the server took it, else why not.
    The loop runs a moment longer: a TLS connection closes in steps on the loop, and a loop
    closed at once leaves its socket to the garbage collector, whose "unclosed transport"
    warning fails whatever test it meets."""

    async def send_and_settle() -> str | None:
        try:
            await box.send(mail)
        except Undeliverable as exc:
            return f"undeliverable: {exc}"
        except Exception as exc:
            return reason(exc)
        finally:
            await asyncio.sleep(0.05)
        return None

    return asyncio.run(send_and_settle())


# The messages


def test_a_verification_mail_carries_its_link_on_a_line_of_its_own() -> None:
    assert MAIL.to == "ann@example.com"
    assert MAIL.subject == "Confirm your email address"
    assert MAIL.link == LINK
    assert LINK in MAIL.text.splitlines()
    assert "ann@example.com" in MAIL.text


def test_a_reset_mail_carries_its_link_on_a_line_of_its_own() -> None:
    link = "http://127.0.0.1:8000/reset-password?token=abc"
    mail = reset_mail("ann@example.com", link)
    assert (mail.to, mail.subject, mail.link) == ("ann@example.com", "Reset your password", link)
    assert link in mail.text.splitlines()


def test_a_notice_says_what_happened_and_when_in_utc_and_what_to_do_if_it_was_not_you() -> None:
    berlin = datetime(2026, 3, 4, 5, 6, 59, tzinfo=ZoneInfo("Europe/Berlin"))  # UTC+1 in March
    mail = notice_mail("ann@example.com", "Your password was changed", berlin)
    assert mail == Mail(
        to="ann@example.com",
        subject="Your password was changed",
        text=(
            "Hello,\n\n"
            "Your password was changed on 2026-03-04 at 04:06 UTC.\n\n"
            "If this was you, there is nothing to do. If it was not, someone else may be using "
            'your account: reset your password at once ("Forgot password"; a reset signs out '
            "every device) and tell whoever runs this service.\n"
        ),
        link=None,
    )


def test_a_notice_takes_a_naive_time_as_utc() -> None:
    mail = notice_mail("ann@example.com", "Your password was reset", datetime(2026, 3, 4, 5, 6))
    assert mail.text.splitlines()[2] == "Your password was reset on 2026-03-04 at 05:06 UTC."


def test_an_email_message_is_plain_text_with_date_and_message_id() -> None:
    message = to_email_message(MAIL, SENDER)
    assert message["From"] == SENDER
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == "Confirm your email address"
    date = email.utils.parsedate_to_datetime(message["Date"])
    assert date.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - date) < timedelta(seconds=5)
    assert re.fullmatch(r"<[^<>@\s]+@example\.com>", message["Message-ID"])
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content() == MAIL.text


def test_each_email_message_has_its_own_message_id() -> None:
    assert (
        to_email_message(MAIL, SENDER)["Message-ID"] != to_email_message(MAIL, SENDER)["Message-ID"]
    )


# Delivery: one attempt each


def test_a_sent_message_arrives_with_its_headers_body_and_link(
    smtp: SmtpServer, mail_log: MailLog
) -> None:
    assert attempt(mailer(smtp.port), MAIL) is None
    [message] = smtp.wait_for(1)
    assert (message["From"], message["To"]) == (SENDER, "ann@example.com")
    assert message["Subject"] == "Confirm your email address"
    assert message.get_content() == MAIL.text
    assert LINK in message.get_content().splitlines()
    assert smtp.envelopes == [("no-reply@example.com", ["ann@example.com"])]
    # The link carries a token: with SMTP it stays out of the log.
    assert mail_log() == []


def test_text_beyond_ascii_arrives_intact(smtp: SmtpServer) -> None:
    mail = notice_mail("zoë@example.com", "Die E-Mail-Adresse wurde geändert", datetime.now(UTC))
    assert attempt(mailer(smtp.port), mail) is None
    [message] = smtp.wait_for(1)
    assert message["Subject"] == "Die E-Mail-Adresse wurde geändert"
    assert message.get_content() == mail.text


def test_a_slow_server_times_out_after_the_timeout_not_the_servers_delay(
    smtp: SmtpServer,
) -> None:
    smtp.slow(2.0)
    started = time.monotonic()
    why = attempt(mailer(smtp.port), MAIL)
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 0.5
    assert why == "SMTPReadTimeoutError: Timed out waiting for server response"
    assert (smtp.attempts, smtp.messages) == (1, [])


def test_a_refusing_server_says_why(smtp: SmtpServer) -> None:
    smtp.refuse()
    assert attempt(mailer(smtp.port), MAIL) == ("recipient refused: 550 5.1.1 Mailbox unavailable")
    assert (smtp.attempts, smtp.messages) == (1, [])


def test_a_server_that_is_down_is_a_quick_failure_not_a_hang() -> None:
    with closed_port() as port:
        started = time.monotonic()
        why = attempt(mailer(port), MAIL)
        assert time.monotonic() - started < 0.5
    assert why == (
        f"SMTPConnectError: Error connecting to 127.0.0.1 on port {port}: "
        f"[Errno 111] Connect call failed ('127.0.0.1', {port})"
    )


def test_a_message_with_a_line_break_in_a_header_is_undeliverable_without_an_attempt(
    smtp: SmtpServer,
) -> None:
    mail = Mail(to="ann@example.com", subject="Hi\nBcc: eve@example.com", text="Hello\n")
    assert attempt(mailer(smtp.port), mail) == (
        "undeliverable: ValueError: Header values may not contain linefeed or carriage return "
        "characters"
    )
    assert smtp.attempts == 0


def send_all(box: Mailer, mails: list[Mail]) -> dict[int, str | None]:
    """`box.send_all(mails)` on a loop of its own: each message's outcome, as its reason."""
    outcomes: dict[int, Exception | None] = {}

    async def send_and_settle() -> None:
        await box.send_all(mails, outcomes)
        await asyncio.sleep(0.05)

    asyncio.run(send_and_settle())
    return {
        index: None if outcome is None else reason(outcome) for index, outcome in outcomes.items()
    }


def test_a_batch_goes_over_one_connection_and_one_bad_message_spoils_no_other(
    smtp: SmtpServer,
) -> None:
    broken = Mail(to="bob@example.com", subject="Hi\nBcc: eve@example.com", text="Hello\n")
    zoe = verification_mail("zoe@example.com", LINK)
    smtp.fail_first(1)  # the first message gets a 451, the next ones are taken
    assert send_all(mailer(smtp.port), [MAIL, broken, zoe, MAIL]) == {
        0: "SMTPDataError: 451 4.3.0 Try again later",
        1: "Undeliverable: ValueError: Header values may not contain linefeed or carriage return "
        "characters",
        2: None,
        3: None,
    }
    assert [message["To"] for message in smtp.wait_for(2)] == [
        "zoe@example.com",
        "ann@example.com",
    ]
    assert smtp.attempts == 3


def test_a_batch_to_a_server_that_is_down_fails_every_message_at_once() -> None:
    with closed_port() as port:
        outcomes = send_all(mailer(port), [MAIL, MAIL])
    assert list(outcomes) == [0, 1]
    assert all(outcome and "SMTPConnectError" in outcome for outcome in outcomes.values())


# Without a mail server


def test_without_smtp_host_a_message_is_one_log_line_with_its_link(
    smtp: SmtpServer, mail_log: MailLog
) -> None:
    assert attempt(mailer(smtp.port, host=None), MAIL) is None
    assert mail_log() == [("INFO", f"Mail to ann@example.com: {SUBJECT} {LINK}")]
    assert (smtp.attempts, smtp.messages) == (0, [])


def test_without_smtp_host_a_notice_is_logged_without_a_link(mail_log: MailLog) -> None:
    notice = notice_mail("ann@example.com", "Your password was changed", datetime.now(UTC))
    assert attempt(mailer(1, host=None), notice) is None
    assert mail_log() == [("INFO", 'Mail to ann@example.com: "Your password was changed"')]


# TLS and login


def test_starttls_upgrades_the_connection_before_the_message(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = certificate
    # The server refuses MAIL before STARTTLS: a message that arrives went over TLS.
    with SmtpServer(starttls_context=server_context) as server:
        box = mailer(server.port, security="starttls", tls_context=client_context)
        assert attempt(box, MAIL) is None
        assert len(server.messages) == 1


def test_starttls_is_required_not_taken_when_offered(smtp: SmtpServer) -> None:
    assert attempt(mailer(smtp.port, security="starttls"), MAIL) == (
        "SMTPException: SMTP STARTTLS extension not supported by server."
    )
    assert smtp.attempts == 0


def test_implicit_tls_speaks_tls_from_the_first_byte(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = certificate
    with SmtpServer(tls_context=server_context) as server:
        box = mailer(server.port, security="tls", tls_context=client_context)
        assert attempt(box, MAIL) is None
        assert len(server.messages) == 1


def test_a_certificate_the_client_does_not_trust_is_refused(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, _ = certificate
    with SmtpServer(tls_context=server_context) as server:
        why = attempt(mailer(server.port, security="tls"), MAIL)
        assert server.messages == []
    assert why is not None
    assert why.startswith(
        f"SMTPConnectError: Error connecting to 127.0.0.1 on port {server.port}: "
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
    )


def test_login_sends_the_username_and_password() -> None:
    with SmtpServer(credentials=("mailer", "s3cret")) as server:
        box = mailer(server.port, username="mailer", password="s3cret")
        assert attempt(box, MAIL) is None
        assert server.logins == [("mailer", "s3cret")]
        assert len(server.messages) == 1


def test_no_login_is_tried_without_a_username() -> None:
    with SmtpServer(credentials=("mailer", "s3cret")) as server:
        assert attempt(mailer(server.port), MAIL) is None
        assert server.logins == []
        assert len(server.messages) == 1


def test_login_over_starttls_at_a_server_that_requires_it(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = certificate
    with SmtpServer(
        starttls_context=server_context, credentials=("mailer", "s3cret"), auth_required=True
    ) as server:
        box = mailer(
            server.port,
            security="starttls",
            tls_context=client_context,
            username="mailer",
            password="s3cret",
        )
        assert attempt(box, MAIL) is None
        assert server.logins == [("mailer", "s3cret")]
        assert len(server.messages) == 1


def test_a_wrong_password_is_a_failure_that_says_so() -> None:
    with SmtpServer(credentials=("mailer", "s3cret")) as server:
        box = mailer(server.port, username="mailer", password="wrong")
        assert attempt(box, MAIL) == (
            "SMTPAuthenticationError: 535 5.7.8 Authentication credentials invalid"
        )
        # The attempt tries both mechanisms the server offers (PLAIN, then LOGIN).
        assert server.logins == [("mailer", "wrong")] * 2
        assert server.messages == []


def test_no_login_at_a_server_that_requires_one_is_a_failure_that_says_so(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = certificate
    with SmtpServer(
        starttls_context=server_context, credentials=("mailer", "s3cret"), auth_required=True
    ) as server:
        box = mailer(server.port, security="starttls", tls_context=client_context)
        assert attempt(box, MAIL) == "SMTPSenderRefused: 530 5.7.0 Authentication required"
        assert server.messages == []


# Settings


def test_the_mailer_takes_its_settings() -> None:
    settings = Settings(
        SMTP_HOST="mail.example.com",
        SMTP_PORT=465,
        SMTP_USERNAME="mailer",
        SMTP_PASSWORD="s3cret",
        SMTP_SECURITY="tls",
        MAIL_FROM="Contacts <contacts@example.com>",
    )
    box = Mailer.from_settings(settings)
    assert (box.host, box.port, box.username, box.password, box.security, box.sender) == (
        "mail.example.com",
        465,
        "mailer",
        "s3cret",
        "tls",
        "Contacts <contacts@example.com>",
    )
    assert (box.timeout, box.tls_context) == (10.0, None)
    assert "s3cret" not in repr(settings)


def test_an_empty_smtp_host_means_no_mail_server() -> None:
    assert Settings(SMTP_HOST="", SMTP_USERNAME="", SMTP_PASSWORD="").SMTP_HOST is None


def test_public_url_loses_its_trailing_slash() -> None:
    assert Settings(PUBLIC_URL="https://contacts.example.com/").PUBLIC_URL == (
        "https://contacts.example.com"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PUBLIC_URL", "contacts.example.com"),
        ("MAIL_FROM", "contacts_api"),
        ("SMTP_SECURITY", "ssl"),
        ("SMTP_PORT", "0"),
        ("MAIL_RETRY_FIRST_SECONDS", "61"),
        ("MAIL_RETRY_HOURS", "0"),
    ],
)
def test_mail_settings_that_cannot_work_stop_the_start(name: str, value: str) -> None:
    setting: dict[str, Any] = {name: value}
    with pytest.raises(ValidationError) as error:
        Settings(**setting)
    assert [problem["loc"] for problem in error.value.errors()] == [(name,)]
