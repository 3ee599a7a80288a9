"""The pages that links in messages open: confirm an email, choose a new password.

Small HTML pages with a script and a style sheet from this server only (no CDN), under a CSP
that allows nothing else. The page reads the token from the link and calls the JSON route
only when the person confirms: opening a link changes nothing, since mail scanners open them.
"""

from importlib.resources import files
from string import Template

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse, Response

from contacts_api.docs import Responses

router = APIRouter(tags=["pages"])

PAGES = files("contacts_api") / "pages"
# Script, style and requests to this server only; no inline code, no framing, no forms sent
# elsewhere. The middleware's headers (no referrer: the token stays in this page) stay too.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
ASSET_TYPES = {"account.js": "text/javascript", "account.css": "text/css"}
# Each page's own part (its card and the note under it), and its title. The rest, the head
# with the script and style sheet and the product's name, is account-page.html, around both.
PAGE_TITLES = {
    "verify-email.html": "Confirm your email address",
    "reset-password.html": "Choose a new password",
}


def read(name: str) -> str:
    return PAGES.joinpath(name).read_text(encoding="utf-8")


FRAME = Template(read("account-page.html"))
# Made once: a few kilobytes, the same for every request.
TEXTS = {name: read(name) for name in ASSET_TYPES} | {
    name: FRAME.substitute(title=title, content=read(name)) for name, title in PAGE_TITLES.items()
}


def page(name: str) -> HTMLResponse:
    return HTMLResponse(TEXTS[name], headers={"Content-Security-Policy": PAGE_POLICY})


# In the docs too, so that a tester sees where the links of messages lead. The link's
# `?token=` is read by the page's script, not by the server, so it is no parameter here.
HTML_PAGE: Responses = {
    200: {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}}
}


@router.get("/verify-email", response_class=HTMLResponse, responses=HTML_PAGE)
async def read_verify_email_page() -> HTMLResponse:
    """The page of a verification message's link (`?token=...`): confirm, and the email is
    verified."""
    return page("verify-email.html")


@router.get("/reset-password", response_class=HTMLResponse, responses=HTML_PAGE)
async def read_reset_password_page() -> HTMLResponse:
    """The page of a reset message's link (`?token=...`): type the new password twice, and it
    is set."""
    return page("reset-password.html")


@router.get("/account-pages/{name}", include_in_schema=False)
async def read_page_asset(name: str) -> Response:
    """The pages' script and style sheet."""
    if name not in ASSET_TYPES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")
    return Response(TEXTS[name], media_type=ASSET_TYPES[name])
