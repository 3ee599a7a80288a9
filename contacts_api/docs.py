"""The error answers each route documents, with an example of each, for `responses=`.

Swagger UI, ReDoc and generated clients read these: a client learns every status a route can
give, the shape of its body, and what it says, without reading the code.
"""

from typing import Any

from sqlmodel import SQLModel

Responses = dict[int | str, dict[str, Any]]


# The body of every error the app raises itself.
class ErrorMessage(SQLModel):
    detail: str


# The 422 body: FastAPI's list of problems, without the input echoed back. Named like
# FastAPI's own schemas, so that the document holds one definition of a 422 for every route.
class ValidationError(SQLModel):
    type: str
    loc: list[str | int]
    msg: str
    ctx: dict[str, Any] | None = None


class HTTPValidationError(SQLModel):
    detail: list[ValidationError]


def error(status_code: int, description: str, detail: str) -> Responses:
    """A documented error answer whose body is `{"detail": detail}`."""
    example = {"detail": detail}
    return {
        status_code: {
            "model": ErrorMessage,
            "description": description,
            "content": {"application/json": {"example": example}},
        }
    }


def invalid(where: str, field: str, kind: str, message: str, **context: Any) -> Responses:
    """A documented 422, with one problem as its example."""
    problem = {"type": kind, "loc": [where, field], "msg": message} | (
        {"ctx": context} if context else {}
    )
    return {
        422: {
            "model": HTTPValidationError,
            "description": "The request breaks a rule; `detail` lists every problem",
            "content": {"application/json": {"example": {"detail": [problem]}}},
        }
    }


UNAUTHORIZED = error(
    401,
    "Missing, invalid or expired access token, or a revoked session",
    "Invalid or expired access token",
)
NOT_FOUND = error(404, "No such contact in your address book", "Contact not found")
TOO_MANY_REQUESTS = error(
    429,
    "Too many requests; the `Retry-After` header says how many seconds to wait",
    "Too many requests; try again later",
)
TOO_LARGE = error(
    413, "The body is larger than `MAX_BODY_BYTES`", "Request body is larger than 1048576 bytes"
)
INVALID_CONTACT = invalid(
    "body", "phone", "value_error", "Value error, must have 3 to 20 digits, not 2"
)
