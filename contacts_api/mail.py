"""Messages to users (verification, password reset, notices) and one attempt at sending one.

Building a message is a pure function. Routes never send: they write the message to the outbox
in their own transaction (contacts_api/outbox.py), whose workers call `Mailer.send` after the
answer, once per attempt, and retry on their own schedule. A `Mailer` sends by SMTP (aiosmtplib)
with a timeout on the connection and on every command; without an SMTP host it writes each
message to the log instead, link included, so that a development server needs no mail server.
No FastAPI here.
"""

import asyncio
import contextlib
import email.message
import email.utils
import logging
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import aiosmtplib

from contacts_api.config import Settings

log = logging.getLogger("contacts_api.mail")

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class Mail:
    """One message to one person."""

    to: str
    subject: str
    text: str  # the plain-text body
    # The one link the message carries, if any: logged instead of sent when there is no SMTP.
    link: str | None = None


def verification_mail(to: str, link: str) -> Mail:
    """The message that confirms `to` belongs to the person who signed up (or changed to it)."""
    text = (
        "Hello,\n\n"
        f"please confirm that {to} is your email address for contacts_api by opening this "
        "link and confirming on the page it shows:\n\n"
        f"{link}\n\n"
        "The link works for a limited time. If you did not sign up or change your address, "
        "ignore this message: nothing changes without a confirmation.\n"
    )
    return Mail(to=to, subject="Confirm your email address", text=text, link=link)


def reset_mail(to: str, link: str) -> Mail:
    """The message with the link that sets a new password."""
    text = (
        "Hello,\n\n"
        f"someone, hopefully you, asked to reset the password of the contacts_api account "
        f"{to}. To choose a new password, open this link:\n\n"
        f"{link}\n\n"
        "The link works once and for a limited time; setting a new password signs out every "
        "device. If you did not ask for this, ignore this message: your password stays as "
        "it is.\n"
    )
    return Mail(to=to, subject="Reset your password", text=text, link=link)


RESET_ADVICE = (
    "If it was not, someone else may be using your account: reset your password at once "
    '("Forgot password"; a reset signs out every device) and tell whoever runs this service.'
)


def notice_mail(to: str, what: str, when: datetime, advice: str | None = None) -> Mail:
    """A notice to the account's (earlier) address that `what` happened at `when`, with what
    to do if it was not the owner (`advice`; by default: reset the password).

    A naive `when` is taken as UTC (SQLite gives timestamps back without a zone).
    """
    instant = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    text = (
        "Hello,\n\n"
        f"{what} on {instant:%Y-%m-%d} at {instant:%H:%M} UTC.\n\n"
        f"If this was you, there is nothing to do. {advice or RESET_ADVICE}\n"
    )
    return Mail(to=to, subject=what, text=text)


def to_email_message(mail: Mail, sender: str) -> email.message.EmailMessage:
    """`mail` as a plain-text RFC 5322 message from `sender` (MAIL_FROM).

    Raises ValueError for a header with a line break (the email package refuses them, which
    is what keeps a crafted subject from adding headers).
    """
    message = email.message.EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = email.utils.format_datetime(datetime.now(UTC))
    # The sender's domain, not make_msgid()'s default socket.getfqdn(): that can wait on DNS.
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = email.utils.make_msgid(domain=domain)
    message.set_content(mail.text)
    return message


def reason(exc: BaseException) -> str:
    """What went wrong, in the server's words when it gave any."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"recipient refused: {refused.code} {refused.message}" for refused in exc.recipients
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.code} {exc.message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def log_instead(mail: Mail) -> None:
    """The message as one log line: the link is the point of it, for a developer without SMTP."""
    if mail.link is None:
        log.info('Mail to %s: "%s"', mail.to, mail.subject)
    else:
        log.info('Mail to %s: "%s" %s', mail.to, mail.subject, mail.link)


class Undeliverable(Exception):
    """A message that no attempt can ever send (a header with a line break): not retried."""


class Mailer:
    """One attempt at sending one message: `send` returns when the server accepted it and
    raises when it did not."""

    def __init__(
        self,
        *,
        host: str | None,
        port: int,
        username: str | None,
        password: str | None,
        security: Security,
        sender: str,
        timeout: float = 10.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.security: Security = security
        self.sender = sender
        self.timeout = timeout
        self.tls_context = tls_context
        self._local_hostname: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Mailer":
        password = settings.SMTP_PASSWORD
        return cls(
            host=settings.SMTP_HOST,
            port=settings.SMTP_PORT,
            username=settings.SMTP_USERNAME,
            password=password.get_secret_value() if password is not None else None,
            security=settings.SMTP_SECURITY,
            sender=settings.MAIL_FROM,
        )

    async def send(self, mail: Mail) -> None:
        """Send `mail` once (or log it, without an SMTP host).

        Raises Undeliverable for a message that cannot be built, and whatever the connection
        or the server raised for a failure that a later attempt may not meet.
        """
        outcomes: dict[int, Exception | None] = {}
        await self.send_all([mail], outcomes)
        if outcomes[0] is not None:
            raise outcomes[0]

    async def send_all(self, mails: Sequence[Mail], outcomes: dict[int, Exception | None]) -> None:
        """One attempt at each of `mails`, over one connection. As each is answered, sets
        `outcomes[its index]`: None when the server took it, else what went wrong
        (Undeliverable for one that cannot be built). A connection that fails fails every
        message not answered yet. Raises nothing but a cancellation (the caller's timeout), and
        `outcomes` then says which messages were answered before it.
        """
        if self.host is None:
            for index, mail in enumerate(mails):
                log_instead(mail)
                outcomes[index] = None
            return
        messages: dict[int, email.message.EmailMessage] = {}
        for index, mail in enumerate(mails):
            try:
                messages[index] = to_email_message(mail, self.sender)
            except Exception as exc:
                outcomes[index] = Undeliverable(reason(exc))
        if not messages:
            return
        client = self._client(await self._ehlo_name())
        # Not `async with client`: on leaving, that waits for QUIT's answer even when the task
        # is being cancelled, so stop() would wait a slow server's full timeout.
        try:
            try:
                # Inside the try: a connect that times out half way (greeting, STARTTLS) leaves
                # a transport open, which close() ends instead of the garbage collector.
                await client.connect()
                if self.username is not None:
                    await client.login(self.username, self.password or "")
            except Exception as exc:
                outcomes.update(dict.fromkeys(messages, exc))
                return
            for index, message in messages.items():
                try:
                    await client.send_message(message)
                    outcomes[index] = None
                except Exception as exc:
                    outcomes[index] = exc
                    if client.is_connected:
                        with contextlib.suppress(Exception):  # a clean slate for the next
                            await client.rset()
                    if not client.is_connected:
                        # The connection is gone: every message after this one failed too.
                        outcomes.update({later: exc for later in messages if later not in outcomes})
                        return
            # Answered: a QUIT that fails now must not turn an acceptance into a failure, and
            # a retry into a second copy.
            with contextlib.suppress(Exception):
                await client.quit()
        finally:
            client.close()

    def _client(self, local_hostname: str) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            local_hostname=local_hostname,
            timeout=self.timeout,  # on the connection and on every command
            use_tls=self.security == "tls",
            # True, not None: None would be "if offered", and a server (or someone in the
            # middle) that leaves STARTTLS out would get the password and the links in clear.
            start_tls=self.security == "starttls",
            tls_context=self.tls_context,
        )

    async def _ehlo_name(self) -> str:
        """This host's name for EHLO, looked up once and for no longer than `timeout`.

        Left to itself, aiosmtplib calls socket.getfqdn() for every connection, outside its
        timeouts: with a slow resolver that is a wait of its own.
        """
        if self._local_hostname is None:
            try:
                name = await asyncio.wait_for(asyncio.to_thread(socket.getfqdn), self.timeout)
            except TimeoutError:
                name = ""
            # EHLO refuses an empty name or one with spaces, and no retry would mend that.
            usable = name and name.isascii() and not any(c.isspace() for c in name)
            self._local_hostname = name if usable else "localhost"
        return self._local_hostname
