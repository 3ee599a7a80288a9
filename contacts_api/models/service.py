"""What the health checks answer, and answers that only say what happens next."""

from typing import Literal

from sqlmodel import SQLModel


# An answer that only says what happens next.
class Message(SQLModel):
    detail: str


# What the health checks answer.
class ServiceStatus(SQLModel):
    status: Literal["ok", "unavailable"]
