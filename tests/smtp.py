"""A real SMTP server inside the test process (aiosmtpd, in a thread of its own).

    server = SmtpServer().start()
    ... point the outbox at server.host, server.port with security "none" ...
    [message] = server.wait_for(1)
    server.stop()

It can misbehave on purpose: `refuse()` (550 to RCPT), `slow(seconds)` (answers RCPT only
after `seconds`, longer than a client's timeout), `fail_first(n)` (451 to the DATA of the
first n attempts, then accepts), and `accept()` again. `closed_port()` is a server that is down.
"""

import asyncio
import datetime
import email.message
import email.policy
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Behaviour = Literal["accept", "refuse", "slow", "fail_first"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 where connections are refused (a mail server that is down).

    The socket stays bound, without listening, so no other process can take the port while
    the test runs: Linux answers a connection to it with a reset at once.
    """
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


def self_signed_certificate(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for 127.0.0.1 and localhost: (the server's context, a client's trusting it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


class SmtpServer:
    """An SMTP server on 127.0.0.1 that keeps what it receives, parsed.

    `tls_context`: implicit TLS from the first byte. `starttls_context`: plain, and STARTTLS
    required before MAIL. `credentials`: AUTH (PLAIN, LOGIN) with this one login, required
    when `auth_required` (which needs TLS); with no TLS at all, AUTH is offered in clear (on
    the loopback). Behaviour: set with the methods below; `behaviour` says which is on.
    """

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        starttls_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
        auth_required: bool = False,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TO) of each
        self.logins: list[tuple[str, str]] = []  # every AUTH tried: (username, password)
        self.attempts = 0  # transactions that reached RCPT, accepted or not
        self.behaviour: Behaviour = "accept"
        self._slow_seconds = 30.0
        self._failures_left = 0
        self._lock = threading.Lock()
        self._credentials = credentials
        if auth_required and tls_context is None and starttls_context is None:
            # aiosmtpd warns about it, and under pytest a warning is an error (in its thread).
            raise ValueError("auth_required needs TLS: pass tls_context or starttls_context")
        options: dict[str, Any] = {}
        if starttls_context is not None:
            options |= {"tls_context": starttls_context, "require_starttls": True}
        if credentials is not None:
            options |= {
                "authenticator": self._authenticate,
                "auth_required": auth_required,
                # Offered in clear only when there is no TLS at all (a plain test server).
                "auth_require_tls": starttls_context is not None or tls_context is not None,
            }
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=tls_context,
            server_hostname="smtp.test",  # not socket.getfqdn(): no DNS in the tests
            **options,
        )

    def start(self) -> Self:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # What the next transactions meet.
    def accept(self) -> None:
        self.behaviour = "accept"

    def refuse(self) -> None:
        self.behaviour = "refuse"

    def slow(self, seconds: float = 30.0) -> None:
        """Answer RCPT only after `seconds`; a client that gives up first is let go at once."""
        self._slow_seconds = seconds
        self.behaviour = "slow"

    def fail_first(self, count: int) -> None:
        with self._lock:
            self._failures_left = count
        self.behaviour = "fail_first"

    def clear(self) -> None:
        """Forget what was received and behave normally again."""
        with self._lock:
            self.messages.clear()
            self.envelopes.clear()
            self.logins.clear()
            self.attempts = 0
        self.accept()

    def wait_for(self, count: int, timeout: float = 5) -> list[email.message.EmailMessage]:
        """The messages once `count` have arrived; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
                received = len(self.messages)
            if time.monotonic() > deadline:
                raise AssertionError(f"{received} of {count} messages arrived in {timeout} s")
            time.sleep(0.01)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = (data.login.decode(), data.password.decode())
        with self._lock:
            self.logins.append(login)
        # handled=False: aiosmtpd itself answers (235 or 535); True would leave the client waiting.
        return AuthResult(success=login == self._credentials, handled=False)


class _Handler:
    """aiosmtpd's hooks; they run on the server's thread and loop."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        owner = self.server
        with owner._lock:
            owner.attempts += 1
        if owner.behaviour == "refuse":
            return "550 5.1.1 Mailbox unavailable"
        if owner.behaviour == "slow":
            await asyncio.sleep(owner._slow_seconds)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        owner = self.server
        with owner._lock:
            if owner.behaviour == "fail_first" and owner._failures_left > 0:
                owner._failures_left -= 1
                return "451 4.3.0 Try again later"
            # Lines end in CRLF on the wire; a mail program shows them as plain lines.
            content = (envelope.original_content or b"").replace(b"\r\n", b"\n")
            parsed = BytesParser(policy=email.policy.default).parsebytes(content)
            assert isinstance(parsed, email.message.EmailMessage)
            owner.messages.append(parsed)
            owner.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"
