"""The messages and the outbox, against a real SMTP server in this process (tests/smtp.py).

Each test runs its own event loop with asyncio.run; timeouts and retry delays are tenths and
hundredths of a second, so that a mail server that is slow or down costs the suite little.
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
    Outbox,
    Security,
    notice_mail,
    reset_mail,
    to_email_message,
    verification_mail,
)
from tests.conftest import wait_until_mail_is_sent
from tests.smtp import SmtpServer, closed_port, self_signed_certificate

SENDER = "contacts_api <no-reply@example.com>"
LINK = "http://127.0.0.1:8000/verify-email?token=eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl"
MAIL = verification_mail("ann@example.com", LINK)
SUBJECT = '"Confirm your email address"'
TIMEOUT = 0.2
DELAY = 0.05


def outbox(
    port: int,
    *,
    host: str | None = "127.0.0.1",
    security: Security = "none",
    username: str | None = None,
    password: str | None = None,
    tls_context: ssl.SSLContext | None = None,
    timeout: float = TIMEOUT,
    retry_delays: tuple[float, ...] = (DELAY, DELAY),
    max_queued: int = 1000,
) -> Outbox:
    return Outbox(
        host=host,
        port=port,
        username=username,
        password=password,
        security=security,
        sender=SENDER,
        timeout=timeout,
        retry_delays=retry_delays,
        tls_context=tls_context,
        max_queued=max_queued,
    )


@pytest.fixture(scope="module")
def plain_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def smtp(plain_server: SmtpServer) -> SmtpServer:
    """A plain SMTP server that has received nothing and accepts everything."""
    plain_server.clear()
    return plain_server


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    return self_signed_certificate(tmp_path)


MailLog = Callable[[], list[tuple[str, str]]]


@pytest.fixture
def mail_log(caplog: pytest.LogCaptureFixture) -> MailLog:
    """The outbox's log lines so far, as (level, message)."""
    wait_until_mail_is_sent()  # what the app under test sent before is not this test's
    caplog.clear()
    caplog.set_level(logging.INFO, logger="contacts_api.mail")
    return lambda: [
        (record.levelname, record.getMessage())
        for record in caplog.records
        if record.name == "contacts_api.mail"
    ]


def deliver(box: Outbox, mail: Mail) -> bool:
    """`box.deliver(mail)` on a loop of its own, which then runs a moment longer: a TLS
    connection closes in steps on the loop, and a loop closed at once leaves its socket to the
    garbage collector, whose "unclosed transport" warning fails whatever test it meets."""

    async def deliver_and_settle() -> bool:
        delivered = await box.deliver(mail)
        await asyncio.sleep(0.05)
        return delivered

    return asyncio.run(deliver_and_settle())


def failed(attempt: int, reason: str, *, of: int = 3) -> tuple[str, str]:
    if attempt < of:
        message = f"failed (attempt {attempt} of {of}): {reason}; retrying in {DELAY:g} s"
        return ("WARNING", f"Mail to ann@example.com: {SUBJECT} {message}")
    message = f"failed (attempt {attempt} of {of}): {reason}; gave up"
    return ("ERROR", f"Mail to ann@example.com: {SUBJECT} {message}")


SENT = ("INFO", f"Mail to ann@example.com: {SUBJECT} sent")


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


# Delivery


def test_a_sent_message_arrives_with_its_headers_body_and_link(
    smtp: SmtpServer, mail_log: MailLog
) -> None:
    async def scenario() -> None:
        box = outbox(smtp.port)
        await box.start()
        box.send(MAIL)
        await box.stop()

    asyncio.run(scenario())
    [message] = smtp.wait_for(1)
    assert (message["From"], message["To"]) == (SENDER, "ann@example.com")
    assert message["Subject"] == "Confirm your email address"
    assert message.get_content() == MAIL.text
    assert LINK in message.get_content().splitlines()
    assert smtp.envelopes == [("no-reply@example.com", ["ann@example.com"])]
    # The link carries a token: with SMTP it stays out of the log.
    assert mail_log() == [SENT]


def test_text_beyond_ascii_arrives_intact(smtp: SmtpServer) -> None:
    mail = notice_mail("zoë@example.com", "Die E-Mail-Adresse wurde geändert", datetime.now(UTC))
    assert deliver(outbox(smtp.port), mail) is True
    [message] = smtp.wait_for(1)
    assert message["Subject"] == "Die E-Mail-Adresse wurde geändert"
    assert message.get_content() == mail.text


def test_send_returns_at_once_while_the_server_is_slow(smtp: SmtpServer, mail_log: MailLog) -> None:
    smtp.slow(1.0)

    async def scenario() -> list[float]:
        box = outbox(smtp.port, retry_delays=())
        await box.start()
        durations = []
        for _ in range(3):
            started = time.perf_counter()
            box.send(MAIL)
            durations.append(time.perf_counter() - started)
            await asyncio.sleep(0.02)  # a worker takes it and waits on the server
        await box.stop()
        return durations

    durations = asyncio.run(scenario())
    assert max(durations) < 0.01
    reason = "SMTPReadTimeoutError: Timed out waiting for server response"
    assert mail_log() == [failed(1, reason, of=1)] * 3


def test_send_returns_at_once_while_the_server_is_down(mail_log: MailLog) -> None:
    async def scenario(port: int) -> float:
        box = outbox(port, retry_delays=())
        await box.start()
        started = time.perf_counter()
        box.send(MAIL)
        duration = time.perf_counter() - started
        await box.stop()
        return duration

    with closed_port() as port:
        assert asyncio.run(scenario(port)) < 0.01
    [(level, message)] = mail_log()
    assert (level, message.endswith("; gave up")) == ("ERROR", True)


def test_a_slow_server_times_out_every_attempt_and_delivery_gives_up(
    smtp: SmtpServer, mail_log: MailLog
) -> None:
    smtp.slow(2.0)
    started = time.monotonic()
    assert deliver(outbox(smtp.port), MAIL) is False
    elapsed = time.monotonic() - started
    # Three attempts of one timeout each, two delays between them: not the server's 2 s.
    assert 3 * TIMEOUT + 2 * DELAY <= elapsed < 3 * TIMEOUT + 2 * DELAY + 0.5
    assert smtp.attempts == 3
    assert smtp.messages == []
    reason = "SMTPReadTimeoutError: Timed out waiting for server response"
    assert mail_log() == [failed(1, reason), failed(2, reason), failed(3, reason)]


def test_a_refusing_server_is_tried_again_and_then_given_up_on(
    smtp: SmtpServer, mail_log: MailLog
) -> None:
    smtp.refuse()
    assert deliver(outbox(smtp.port), MAIL) is False
    assert smtp.attempts == 3
    assert smtp.messages == []
    reason = "recipient refused: 550 5.1.1 Mailbox unavailable"
    assert mail_log() == [failed(1, reason), failed(2, reason), failed(3, reason)]


def test_a_message_refused_twice_for_now_is_delivered_once_on_the_third_attempt(
    smtp: SmtpServer, mail_log: MailLog
) -> None:
    smtp.fail_first(2)
    assert deliver(outbox(smtp.port), MAIL) is True
    assert smtp.attempts == 3
    assert len(smtp.messages) == 1
    reason = "SMTPDataError: 451 4.3.0 Try again later"
    assert mail_log() == [failed(1, reason), failed(2, reason), SENT]


def test_a_server_that_is_down_is_a_logged_failure_not_a_hang(
    mail_log: MailLog,
) -> None:
    with closed_port() as port:
        started = time.monotonic()
        assert deliver(outbox(port), MAIL) is False
        assert time.monotonic() - started < 2 * DELAY + 0.5
    reason = (
        f"SMTPConnectError: Error connecting to 127.0.0.1 on port {port}: "
        f"[Errno 111] Connect call failed ('127.0.0.1', {port})"
    )
    assert mail_log() == [failed(1, reason), failed(2, reason), failed(3, reason)]


def test_a_message_with_a_line_break_in_a_header_is_given_up_on_at_once(
    smtp: SmtpServer, mail_log: MailLog
) -> None:
    mail = Mail(to="ann@example.com", subject="Hi\nBcc: eve@example.com", text="Hello\n")
    assert deliver(outbox(smtp.port), mail) is False
    assert smtp.attempts == 0
    reason = "ValueError: Header values may not contain linefeed or carriage return characters"
    assert mail_log() == [
        ("ERROR", f'Mail to ann@example.com: "Hi\nBcc: eve@example.com" gave up: {reason}')
    ]


# Without a mail server


def test_without_smtp_host_a_message_is_one_log_line_with_its_link(
    smtp: SmtpServer, mail_log: MailLog
) -> None:
    async def scenario() -> None:
        box = outbox(smtp.port, host=None)
        await box.start()
        box.send(MAIL)
        await box.stop()

    asyncio.run(scenario())
    assert mail_log() == [("INFO", f"Mail to ann@example.com: {SUBJECT} {LINK}")]
    assert smtp.attempts == 0
    assert smtp.messages == []


def test_without_smtp_host_a_notice_is_logged_without_a_link(
    mail_log: MailLog,
) -> None:
    notice = notice_mail("ann@example.com", "Your password was changed", datetime.now(UTC))
    outbox(1, host=None).send(notice)
    assert mail_log() == [("INFO", 'Mail to ann@example.com: "Your password was changed"')]


def test_without_smtp_host_deliver_logs_too(mail_log: MailLog) -> None:
    assert deliver(outbox(1, host=None), MAIL) is True
    assert mail_log() == [("INFO", f"Mail to ann@example.com: {SUBJECT} {LINK}")]


# TLS and login


def test_starttls_upgrades_the_connection_before_the_message(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = certificate
    # The server refuses MAIL before STARTTLS: a message that arrives went over TLS.
    with SmtpServer(starttls_context=server_context) as server:
        box = outbox(server.port, security="starttls", tls_context=client_context)
        assert deliver(box, MAIL) is True
        assert len(server.messages) == 1


def test_starttls_is_required_not_taken_when_offered(smtp: SmtpServer, mail_log: MailLog) -> None:
    assert deliver(outbox(smtp.port, security="starttls"), MAIL) is False
    assert smtp.attempts == 0
    reason = "SMTPException: SMTP STARTTLS extension not supported by server."
    assert mail_log() == [failed(1, reason), failed(2, reason), failed(3, reason)]


def test_implicit_tls_speaks_tls_from_the_first_byte(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = certificate
    with SmtpServer(tls_context=server_context) as server:
        box = outbox(server.port, security="tls", tls_context=client_context)
        assert deliver(box, MAIL) is True
        assert len(server.messages) == 1


def test_a_certificate_the_client_does_not_trust_is_refused(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext], mail_log: MailLog
) -> None:
    server_context, _ = certificate
    with SmtpServer(tls_context=server_context) as server:
        box = outbox(server.port, security="tls", retry_delays=())
        assert deliver(box, MAIL) is False
        assert server.messages == []
    [(level, message)] = mail_log()
    assert level == "ERROR"
    assert message.startswith(
        f"Mail to ann@example.com: {SUBJECT} failed (attempt 1 of 1): SMTPConnectError: "
        f"Error connecting to 127.0.0.1 on port {server.port}: [SSL: CERTIFICATE_VERIFY_FAILED] "
        "certificate verify failed: self-signed certificate"
    )
    assert message.endswith("; gave up")


def test_login_sends_the_username_and_password() -> None:
    with SmtpServer(credentials=("mailer", "s3cret")) as server:
        box = outbox(server.port, username="mailer", password="s3cret")
        assert deliver(box, MAIL) is True
        assert server.logins == [("mailer", "s3cret")]
        assert len(server.messages) == 1


def test_no_login_is_tried_without_a_username() -> None:
    with SmtpServer(credentials=("mailer", "s3cret")) as server:
        assert deliver(outbox(server.port), MAIL) is True
        assert server.logins == []
        assert len(server.messages) == 1


def test_login_over_starttls_at_a_server_that_requires_it(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = certificate
    with SmtpServer(
        starttls_context=server_context, credentials=("mailer", "s3cret"), auth_required=True
    ) as server:
        box = outbox(
            server.port,
            security="starttls",
            tls_context=client_context,
            username="mailer",
            password="s3cret",
        )
        assert deliver(box, MAIL) is True
        assert server.logins == [("mailer", "s3cret")]
        assert len(server.messages) == 1


def test_a_wrong_password_is_a_logged_failure(mail_log: MailLog) -> None:
    with SmtpServer(credentials=("mailer", "s3cret")) as server:
        box = outbox(server.port, username="mailer", password="wrong")
        assert deliver(box, MAIL) is False
        # Each attempt tries both mechanisms the server offers (PLAIN, then LOGIN).
        assert server.logins == [("mailer", "wrong")] * 6
        assert server.messages == []
    reason = "SMTPAuthenticationError: 535 5.7.8 Authentication credentials invalid"
    assert mail_log() == [failed(1, reason), failed(2, reason), failed(3, reason)]


def test_no_login_at_a_server_that_requires_one_is_a_logged_failure(
    certificate: tuple[ssl.SSLContext, ssl.SSLContext], mail_log: MailLog
) -> None:
    server_context, client_context = certificate
    with SmtpServer(
        starttls_context=server_context, credentials=("mailer", "s3cret"), auth_required=True
    ) as server:
        box = outbox(server.port, security="starttls", tls_context=client_context)
        assert deliver(box, MAIL) is False
        assert server.messages == []
    reason = "SMTPSenderRefused: 530 5.7.0 Authentication required"
    assert mail_log() == [failed(1, reason), failed(2, reason), failed(3, reason)]


# The queue


def test_stop_waits_for_the_queued_messages(smtp: SmtpServer) -> None:
    async def scenario() -> None:
        box = outbox(smtp.port)
        await box.start()
        for number in range(10):
            box.send(verification_mail(f"user{number}@example.com", f"{LINK}{number}"))
        await box.stop()

    asyncio.run(scenario())
    # Not wait_for(): each one was in when stop() returned.
    assert sorted(message["To"] for message in smtp.messages) == sorted(
        f"user{number}@example.com" for number in range(10)
    )


def test_stop_gives_up_on_what_is_not_sent_within_its_timeout(
    smtp: SmtpServer, mail_log: MailLog
) -> None:
    smtp.slow(5.0)

    async def scenario() -> float:
        box = outbox(smtp.port, timeout=10.0)
        await box.start()
        box.send(MAIL)
        box.send(MAIL)
        started = time.monotonic()
        await box.stop(timeout=0.2)
        return time.monotonic() - started

    assert 0.2 <= asyncio.run(scenario()) < 0.5
    assert mail_log() == [("ERROR", "Stopped before every message was sent; not sent: 2")]


def test_a_full_queue_drops_the_message_and_says_so(smtp: SmtpServer, mail_log: MailLog) -> None:
    async def scenario() -> None:
        box = outbox(smtp.port, max_queued=2)
        for number in range(3):  # before start(): nothing takes them out yet
            box.send(verification_mail("ann@example.com", f"{LINK}{number}"))
        await box.start()
        await box.stop()

    asyncio.run(scenario())
    dropped = f"Mail to ann@example.com: {SUBJECT} dropped: 2 messages are waiting already"
    assert mail_log() == [("ERROR", dropped), SENT, SENT]
    assert sorted(message.get_content().splitlines()[4] for message in smtp.messages) == [
        f"{LINK}0",
        f"{LINK}1",
    ]


def test_send_from_another_thread_reaches_the_loop_that_delivers(smtp: SmtpServer) -> None:
    async def scenario() -> None:
        box = outbox(smtp.port)
        await box.start()
        await asyncio.to_thread(box.send, MAIL)  # as a sync route in the threadpool would
        await asyncio.sleep(0)  # the put the loop was asked for
        await box.stop()

    asyncio.run(scenario())
    assert len(smtp.messages) == 1


def test_an_outbox_started_again_on_a_new_loop_still_delivers(smtp: SmtpServer) -> None:
    box = outbox(smtp.port)

    async def run_once() -> None:
        await box.start()
        box.send(MAIL)
        await box.stop()

    asyncio.run(run_once())
    asyncio.run(run_once())  # a second app lifespan, as a second TestClient gives
    assert len(smtp.messages) == 2


# Settings


def test_the_outbox_takes_its_settings() -> None:
    settings = Settings(
        SMTP_HOST="mail.example.com",
        SMTP_PORT=465,
        SMTP_USERNAME="mailer",
        SMTP_PASSWORD="s3cret",
        SMTP_SECURITY="tls",
        MAIL_FROM="Contacts <contacts@example.com>",
    )
    box = Outbox.from_settings(settings)
    assert (box.host, box.port, box.username, box.password, box.security, box.sender) == (
        "mail.example.com",
        465,
        "mailer",
        "s3cret",
        "tls",
        "Contacts <contacts@example.com>",
    )
    assert (box.timeout, box.retry_delays, box.tls_context) == (10.0, (2.0, 10.0, 30.0), None)
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
    ],
)
def test_mail_settings_that_cannot_work_stop_the_start(name: str, value: str) -> None:
    setting: dict[str, Any] = {name: value}
    with pytest.raises(ValidationError) as error:
        Settings(**setting)
    assert [problem["loc"] for problem in error.value.errors()] == [(name,)]
