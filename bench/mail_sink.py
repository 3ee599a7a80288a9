"""A local SMTP server that takes every message and keeps only a count: the mail server of the
benchmarks (bench/accounts.py, bench/delivery.py). aiosmtpd, on a thread of its own.

    with MailSink() as sink:
        ...  # point SMTP_HOST/SMTP_PORT at sink.port, security none
        sink.received
"""

import socket
import threading
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailSink:
    """Accepts every message on 127.0.0.1:`port`; `received` counts them."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received = 0
        self._lock = threading.Lock()
        self._controller = Controller(
            self, hostname="127.0.0.1", port=self.port, server_hostname="sink.bench"
        )

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.received += 1
        return "250 Message accepted for delivery"

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._controller.stop()

    def __repr__(self) -> str:  # for a traceback: which sink, how much it took
        return f"MailSink(port={self.port}, received={self.received})"
