"""The query floor: the JWT floor plus the GET-one query, and nothing else of the app.

The token check of `bench/floor.py`, then the query of `GET /api/contacts/{id}` (the contact,
its labels, and the check that the token's session is open, in one statement) as a SQLAlchemy
Core `select` on an `AsyncConnection` from an engine built like the app's
(`contacts_api.db.make_engine`: same pool and connection settings), each statement its own
transaction, a `ContactPublic` out. No ORM session, no middleware, no metrics.

What GET one contact costs beyond this is what the app adds around one query; what this costs
beyond the JWT floor is SQLAlchemy's async Core, the driver and PostgreSQL.
"""

import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Response
from jose import JWTError, jwt
from sqlalchemy import Select, bindparam, select
from sqlmodel import col

from bench.floor import SECRET_KEY, oauth2_scheme
from contacts_api.db import make_engine
from contacts_api.deps import PUBLIC_COLUMNS, PUBLIC_FIELDS
from contacts_api.models import AuthSession, Contact, ContactPublic, etag, utc_now

engine = make_engine(os.environ["DATABASE_URL"]).execution_options(isolation_level="AUTOCOMMIT")
app = FastAPI()

GET_ONE: Select[*tuple[Any, ...]] = (
    select(
        # Labelled: the labels' subquery has no name of its own.
        *(column.label(name) for name, column in zip(PUBLIC_FIELDS, PUBLIC_COLUMNS, strict=True)),
        col(Contact.version),
    )
    .join(AuthSession, col(AuthSession.user_id) == col(Contact.owner_id))
    .where(
        col(Contact.id) == bindparam("contact_id"),
        col(Contact.deleted_at).is_(None),
        col(AuthSession.id) == bindparam("session_id"),
        col(AuthSession.user_id) == bindparam("user_id"),
        col(AuthSession.revoked_at).is_(None),
        col(AuthSession.expires_at) > bindparam("now"),
    )
)


async def check_token(token: Annotated[str, Depends(oauth2_scheme)]) -> dict[str, Any]:
    try:
        return jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
    except JWTError:
        raise HTTPException(401, "Invalid token") from None


@app.get("/query-floor/{contact_id}")
async def read_query_floor(
    contact_id: int, claims: Annotated[dict[str, Any], Depends(check_token)], response: Response
) -> ContactPublic:
    parameters = {
        "contact_id": contact_id,
        "session_id": claims["sid"],
        "user_id": int(claims["sub"]),
        "now": utc_now(),
    }
    async with engine.connect() as connection:
        row = (await connection.execute(GET_ONE, parameters)).first()
    if row is None:
        raise HTTPException(404, "Contact not found")
    response.headers["ETag"] = etag(row)
    return ContactPublic.model_validate(row._mapping)
