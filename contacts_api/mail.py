"""Messages to users (verification, password reset, notices) and sending them.

Building a message is a pure function. Sending goes through an `Outbox`: `send()` only puts
the message in a queue and returns, and worker tasks on the event loop deliver it by SMTP
(aiosmtplib), with a timeout on the connection and on every command and a few retries, so no
answer ever waits for a mail server. Without an SMTP host every message is written to the log
instead, link included, so that a development server needs no mail server at all.
No FastAPI here: the app starts and stops the outbox in its lifespan.
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

from contacts_api.config import Settings, get_settings

log = logging.getLogger("contacts_api.mail")

Security = Literal["starttls", "tls", "none"]

# Deliveries in progress at once: one message that the server keeps refusing waits out its
# retries (up to a minute) without holding back the messages queued behind it.
WORKERS = 4


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


def _reason(exc: BaseException) -> str:
    """What went wrong, in the server's words when it gave any."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"recipient refused: {refused.code} {refused.message}" for refused in exc.recipients
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.code} {exc.message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Outbox:
    """A small in-process queue: send() returns at once, a worker task delivers."""

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
        retry_delays: Sequence[float] = (2.0, 10.0, 30.0),
        tls_context: ssl.SSLContext | None = None,
        max_queued: int = 1000,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.security: Security = security
        self.sender = sender
        self.timeout = timeout
        self.retry_delays = tuple(retry_delays)
        self.tls_context = tls_context
        self._queue: asyncio.Queue[Mail] = asyncio.Queue(maxsize=max_queued)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._delivering = 0  # taken from the queue, not done yet
        self._local_hostname: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Outbox":
        password = settings.SMTP_PASSWORD
        return cls(
            host=settings.SMTP_HOST,
            port=settings.SMTP_PORT,
            username=settings.SMTP_USERNAME,
            password=password.get_secret_value() if password is not None else None,
            security=settings.SMTP_SECURITY,
            sender=settings.MAIL_FROM,
        )

    def send(self, mail: Mail) -> None:
        """Queue `mail` for delivery (or log it, without SMTP); never blocks or raises."""
        if self.host is None:
            self._log_instead(mail)
            return
        loop = self._loop
        try:
            if loop is None or _running_loop() is loop:
                self._enqueue(mail)
            else:
                # From another thread (a sync route, a test): asyncio queues are not
                # thread-safe, so the loop that owns the queue does the put.
                loop.call_soon_threadsafe(self._enqueue, mail)
        except Exception as exc:  # a closed loop, at shutdown: the caller must not see it
            log.error('Mail to %s: "%s" not sent: %s', mail.to, mail.subject, _reason(exc))

    def _enqueue(self, mail: Mail) -> None:
        try:
            self._queue.put_nowait(mail)
        except asyncio.QueueFull:
            # A mail server down for long, or a flood of requests: memory stays bounded.
            log.error(
                'Mail to %s: "%s" dropped: %d messages are waiting already',
                mail.to,
                mail.subject,
                self._queue.qsize(),
            )

    @staticmethod
    def _log_instead(mail: Mail) -> None:
        # The link is the point of this mode: a developer follows it from the console.
        if mail.link is None:
            log.info('Mail to %s: "%s"', mail.to, mail.subject)
        else:
            log.info('Mail to %s: "%s" %s', mail.to, mail.subject, mail.link)

    async def start(self) -> bool:
        """Start the workers on the running loop (from the app's lifespan); False when they
        run already (on another loop: the app started a second time in one process, as a
        second TestClient does), and then the one who started them stops them."""
        if self._workers or self.host is None:
            return False
        # A queue belongs to the first loop that waits on it; an app started again on a new
        # loop (a second TestClient) gets a new one, with the messages sent in between.
        waiting, self._queue = self._queue, asyncio.Queue(maxsize=self._queue.maxsize)
        while not waiting.empty():
            self._queue.put_nowait(waiting.get_nowait())
        self._loop = asyncio.get_running_loop()
        self._workers = [
            asyncio.create_task(self._work(), name=f"mail-worker-{number}")
            for number in range(WORKERS)
        ]
        return True

    # A parameter, not the caller's asyncio.timeout(): the outbox must still cancel its own
    # workers when the time is up, which a timeout around the call would cut short.
    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Let queued mail go out for up to `timeout` seconds, then cancel what is left."""
        if not self._workers:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._queue.join()
        except TimeoutError:
            unsent = self._queue.qsize() + self._delivering
            log.error("Stopped before every message was sent; not sent: %d", unsent)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        self._loop = None

    def idle(self) -> bool:
        """Nothing queued and nothing being delivered (for tests and shutdown checks)."""
        return self._queue.empty() and self._delivering == 0

    async def _work(self) -> None:
        while True:
            mail = await self._queue.get()
            self._delivering += 1
            try:
                await self.deliver(mail)
            finally:
                self._delivering -= 1
                self._queue.task_done()

    async def deliver(self, mail: Mail) -> bool:
        """Send one message, retrying; True when the server accepted it. Never raises."""
        if self.host is None:
            self._log_instead(mail)
            return True
        try:
            message = to_email_message(mail, self.sender)
        except Exception as exc:
            # A message that cannot be built now never can: no retries.
            log.error('Mail to %s: "%s" gave up: %s', mail.to, mail.subject, _reason(exc))
            return False
        attempts = 1 + len(self.retry_delays)
        reason = ""
        for attempt in range(1, attempts + 1):
            try:
                await self._send_once(message)
            except Exception as exc:  # whatever it was, the caller must not see it
                reason = _reason(exc)
            else:
                # No link here: it carries a token, and logs are read by more people than mail.
                log.info('Mail to %s: "%s" sent', mail.to, mail.subject)
                return True
            if attempt < attempts:
                delay = self.retry_delays[attempt - 1]
                log.warning(
                    'Mail to %s: "%s" failed (attempt %d of %d): %s; retrying in %g s',
                    mail.to,
                    mail.subject,
                    attempt,
                    attempts,
                    reason,
                    delay,
                )
                await asyncio.sleep(delay)
        log.error(
            'Mail to %s: "%s" failed (attempt %d of %d): %s; gave up',
            mail.to,
            mail.subject,
            attempts,
            attempts,
            reason,
        )
        return False

    async def _send_once(self, message: email.message.EmailMessage) -> None:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            local_hostname=await self._ehlo_name(),
            timeout=self.timeout,  # on the connection and on every command
            use_tls=self.security == "tls",
            # True, not None: None would be "if offered", and a server (or someone in the
            # middle) that leaves STARTTLS out would get the password and the links in clear.
            start_tls=self.security == "starttls",
            tls_context=self.tls_context,
        )
        # Not `async with client`: on leaving, that waits for QUIT's answer even when the task
        # is being cancelled, so stop() would wait a slow server's full timeout.
        try:
            # Inside the try: a connect that times out half way (greeting, STARTTLS) leaves a
            # transport open, which close() ends instead of the garbage collector.
            await client.connect()
            if self.username is not None:
                await client.login(self.username, self.password or "")
            await client.send_message(message)
        except BaseException:
            client.close()
            raise
        # Accepted: a QUIT that fails now must not turn it into a failure, and a retry into a
        # second copy.
        try:
            with contextlib.suppress(Exception):
                await client.quit()
        finally:
            client.close()

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


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


# The app's outbox: the lifespan starts and stops it, routes send through it.
outbox = Outbox.from_settings(get_settings())
