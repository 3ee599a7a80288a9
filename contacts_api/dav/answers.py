"""The answers every CardDAV route gives alike: a multistatus (207) and a refusal with its
precondition (403), both as XML."""

from fastapi import Response, status

from contacts_api.dav.xml import error_body, multistatus

XML = "application/xml; charset=utf-8"


def multistatus_answer(responses: list[str], extra: str = "") -> Response:
    """207 with `responses` (and `extra` after them: a sync-token)."""
    return Response(multistatus(responses, extra), status.HTTP_207_MULTI_STATUS, media_type=XML)


def forbidden(condition: str) -> Response:
    """403 with the precondition that failed (RFC 4918 §16), as `{namespace}local`."""
    return Response(error_body(condition), status.HTTP_403_FORBIDDEN, media_type=XML)
