"""The changes feed: what changed in the book since a token, for apps that keep a copy of it.

The change log and its tokens are contacts_api/changes.py's; this route reads a page of it
and writes the answer.
"""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic_core import to_json

from contacts_api import changes as change_log
from contacts_api.db import engine
from contacts_api.deps import PUBLIC_COLUMNS, PUBLIC_FIELDS, TokenClaims, session_user_id
from contacts_api.docs import UNAUTHORIZED, error, invalid
from contacts_api.models import ChangesPage

router = APIRouter(prefix="/contacts", tags=["contacts"], responses=UNAUTHORIZED)

GONE = "The sync token is unknown or too old; sync again from the start, without since"
UNKNOWN_TOKEN = error(
    410,
    "`since` is no token of yours, or one too old to honour: read from the start (without "
    "`since`) and replace your copy",
    GONE,
)


@router.get(
    "/changes",
    response_model=ChangesPage,
    responses=UNKNOWN_TOKEN
    | invalid(
        "query", "limit", "less_than_equal", "Input should be less than or equal to 1000", le=1000
    ),
)
async def read_changes(
    claims: TokenClaims,
    since: Annotated[
        str | None,
        Query(
            description="The `next` of your last answer; leave it out for the whole book.",
            examples=["12-345"],
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """The contacts created, changed or deleted since a token, a page at a time, and the token
    for next time."""
    # Its own connection and transaction, also for a GET: reading numbers the new changes
    # (a write), under a lock that makes the user's readers take turns (see changes.py).
    async with engine.connect() as connection:
        user_id = await session_user_id(connection, claims)
        try:
            since_change = None if since is None else change_log.token_change(since, user_id)
            page = await change_log.read_changes(
                connection, user_id, since_change, limit, PUBLIC_COLUMNS
            )
        except change_log.UnknownToken:
            raise HTTPException(status.HTTP_410_GONE, GONE) from None
        await connection.commit()
    changed, deleted = [], []
    for row in page.rows:
        if row.gone:
            deleted.append(row.contact_id)
        else:
            changed.append(dict(zip(PUBLIC_FIELDS, row[change_log.FIRST_COLUMN :], strict=True)))
    answer = {
        "changed": changed,
        "deleted": deleted,
        "next": change_log.make_token(user_id, page.next_change),
        "more": page.more,
    }
    # Written out from the rows, as the book's page is (routes/contacts.py).
    return Response(to_json(answer), media_type="application/json")
