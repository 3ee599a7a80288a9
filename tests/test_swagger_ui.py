"""Swagger UI and ReDoc in a real browser: Debian's Chromium, driven by Playwright.

Needs Chromium (`apt-get install chromium`, see the README); CHROMIUM_PATH names another
binary. Playwright's own browser downloads are never used.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import PASSWORD, sign_up
from tests.served import served_app
from tests.untested import CHROMIUM, NO_CHROMIUM

if CHROMIUM is None:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.sync_api import Page, expect

from tests.browser import chromium_page


@pytest.fixture
def server(client: TestClient) -> Iterator[Any]:
    # `client` empties the database first.
    with served_app({}) as served:
        yield served


@pytest.fixture
def page(server: Any) -> Iterator[Page]:
    with chromium_page(str(server.base_url)) as (page, problems):
        yield page
    # ReDoc shows its maker's logo from their CDN; the policy refuses it, and the page
    # works without it. Nothing else may be refused.
    assert [problem for problem in problems if REDOC_LOGO not in problem] == []


REDOC_LOGO = "Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg'"


def run_operation(page: Page, operation_id: str, tag: str) -> tuple[str, str]:
    """Open an operation, press "Try it out" and "Execute"; return the status and body shown."""
    operation = page.locator(f"#operations-{tag}-{operation_id}")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status")
    expect(status).to_be_visible()
    body = operation.locator(".live-responses-table .microlight").first.inner_text()
    return status.inner_text(), body


def test_swagger_ui_logs_in_with_authorize_and_runs_requests(
    server: Any, page: Page, tmp_path: Path
) -> None:
    sign_up(server, "ann@example.com")
    page.goto("/docs")

    page.get_by_role("button", name="Authorize").click()
    page.locator("#oauth_username").fill("ann@example.com")
    page.locator("#oauth_password").fill(PASSWORD)
    page.locator(".auth-btn-wrapper .authorize").click()
    expect(page.locator(".modal-ux").get_by_text("Authorized")).to_be_visible()
    page.locator(".btn-done").click()

    status, body = run_operation(page, "read_current_user", "users")
    assert status == "200"
    assert '"email": "ann@example.com"' in body

    # The request body Swagger UI fills in is the documented example, unchanged.
    status, body = run_operation(page, "create_contact", "contacts")
    assert status == "201"
    assert '"first_name": "Ann"' in body

    page.screenshot(path=tmp_path / "swagger-ui.png", full_page=True)
    assert (tmp_path / "swagger-ui.png").stat().st_size > 10_000
    response = server.get("/api/contacts", headers=bearer_of(server))
    assert [contact["first_name"] for contact in response.json()["items"]] == ["Ann"]


def bearer_of(server: Any) -> dict[str, str]:
    response = server.post(
        "/api/auth/token", data={"username": "ann@example.com", "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_redoc_renders_every_operation(page: Page, tmp_path: Path) -> None:
    page.goto("/redoc")
    # ReDoc renders the whole schema in the browser before its first heading shows: on a loaded
    # 2-core machine that took more than Playwright's default 5 s once the schema grew.
    heading = page.get_by_role("heading", name="contacts_api", exact=False).first
    expect(heading).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Import Contacts").first).to_be_attached()
    page.screenshot(path=tmp_path / "redoc.png")
