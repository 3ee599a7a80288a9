"""The floor: a bare FastAPI endpoint that checks an HS256 bearer token and touches no database.

Every API endpoint is compared with it in the same run, so the ratios say how much the app adds
on top of the framework, the server and the token check it cannot do without.
"""

import os
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import OAuth2PasswordBearer
from jose import JWTError, jwt

SECRET_KEY = os.environ["SECRET_KEY"]
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token")
app = FastAPI()


async def check_token(token: Annotated[str, Depends(oauth2_scheme)]) -> str:
    try:
        claims = jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
    except JWTError:
        raise HTTPException(401, "Invalid token") from None
    return str(claims["sub"])


@app.get("/floor")
async def read_floor(user_id: Annotated[str, Depends(check_token)]) -> dict[str, str]:
    return {"hello": user_id}
