"""The pages that links in messages open, in a real browser: a person follows the link of a
real message (from the tests' SMTP server), confirms, and the account changes; opening the
link alone changes nothing."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import wait_until_mail_is_sent
from tests.helpers import PASSWORD, bearer, log_in, sign_up
from tests.pgcluster import free_port
from tests.served import served_app
from tests.smtp import SmtpServer
from tests.test_accounts import link_in
from tests.untested import CHROMIUM, NO_CHROMIUM

if CHROMIUM is None:
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

from playwright.sync_api import Page, expect

from tests.browser import chromium_page


@pytest.fixture
def server(client: TestClient) -> Iterator[Any]:
    # The links in its messages point at itself: PUBLIC_URL is its own address.
    port = free_port()
    env = {"PUBLIC_URL": f"http://127.0.0.1:{port}", "DATABASE_URL": os.environ["DATABASE_URL"]}
    with served_app(env, port=port) as served:
        yield served


@pytest.fixture
def page(server: Any) -> Iterator[Page]:
    with chromium_page() as (page, problems):
        yield page
    # A link used twice is answered 400 on purpose, which Chromium logs as well.
    refused_token = "the server responded with a status of 400 (Bad Request)"
    assert [problem for problem in problems if refused_token not in problem] == []


def test_a_person_verifies_their_email_from_the_message(
    server: Any, page: Page, mailbox: SmtpServer, tmp_path: Path
) -> None:
    sign_up(server, "ann@example.com")
    [message] = mailbox.wait_for(1)
    tokens = log_in(server, "ann@example.com")
    page.goto(link_in(message))
    expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
    # The page is open and nothing has changed yet.
    assert server.get("/api/users/me", headers=bearer(tokens)).json()["email_verified"] is False
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("status")).to_have_text("Thank you: your email address is verified.")
    page.screenshot(path=tmp_path / "verified.png")
    assert server.get("/api/users/me", headers=bearer(tokens)).json()["email_verified"] is True
    # The same link once more says so, in words.
    page.goto(link_in(message))
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page.get_by_role("status")).to_contain_text("invalid, has expired or was used")


def test_a_person_sets_a_new_password_from_the_message(
    server: Any, page: Page, mailbox: SmtpServer
) -> None:
    sign_up(server, "ann@example.com")
    wait_until_mail_is_sent()
    mailbox.wait_for(1)
    mailbox.clear()
    assert server.post("/api/auth/forgot-password", json={"email": "ann@example.com"}).is_success
    [message] = mailbox.wait_for(1)
    page.goto(link_in(message))
    page.get_by_label("New password").fill("battery staple horse")
    page.get_by_label("The same password again").fill("battery staple hose")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("status")).to_have_text(
        "The two passwords differ: type the same one twice."
    )
    # Nothing was sent: the old password still works.
    log_in(server, "ann@example.com", PASSWORD)
    page.get_by_label("The same password again").fill("battery staple horse")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("status")).to_have_text(
        "Your password is changed. Log in with it on every device."
    )
    log_in(server, "ann@example.com", "battery staple horse")
    old = {"username": "ann@example.com", "password": PASSWORD}
    assert server.post("/api/auth/token", data=old).status_code == 401


# --- How the pages look: light and dark, phone and desktop ------------------------------------

# WCAG 2.1 contrast (relative luminance) of an element's text on what is behind it: the first
# ancestor background that is not transparent, half-transparent ones blended on the way.
CONTRAST = """(element) => {
  const rgba = (text) => (text.match(/[\\d.]+/g) || []).map(Number).concat([1]).slice(0, 4);
  const behind = (node) => {
    const layers = [];
    for (; node; node = node.parentElement) {
      const color = rgba(getComputedStyle(node).backgroundColor);
      if (color[3] > 0) layers.push(color);
      if (color[3] === 1) break;
    }
    let [r, g, b] = [255, 255, 255];
    for (const [lr, lg, lb, la] of layers.reverse()) {
      [r, g, b] = [lr * la + r * (1 - la), lg * la + g * (1 - la), lb * la + b * (1 - la)];
    }
    return [r, g, b];
  };
  const luminance = ([r, g, b]) => {
    const linear = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const ratio = (one, two) => {
    const [light, dark] = [luminance(one), luminance(two)].sort((a, b) => b - a);
    return (light + 0.05) / (dark + 0.05);
  };
  const style = getComputedStyle(element);
  const background = behind(element);
  const parentBackground = behind(element.parentElement);
  return {
    text: ratio(rgba(style.color).slice(0, 3), background),
    outline: ratio(rgba(style.outlineColor).slice(0, 3), parentBackground),
    border: ratio(rgba(style.borderTopColor).slice(0, 3), parentBackground),
    background: luminance(background),
  };
}"""


def default_button_background(page: Page) -> str:
    """What Chromium paints an unstyled button with, in the page's colour scheme."""
    return str(
        page.evaluate(
            """() => {
              const button = document.createElement("button");
              button.style.all = "revert";
              document.body.append(button);
              const color = getComputedStyle(button).backgroundColor;
              button.remove();
              return color;
            }"""
        )
    )


PAGES = {
    "/verify-email": ("Confirm your email address", "Confirm my email address", []),
    "/reset-password": (
        "Choose a new password",
        "Set the new password",
        ["New password", "The same password again"],
    ),
}


@pytest.mark.parametrize("path", PAGES)
def test_the_pages_look_finished_in_light_and_dark_on_a_phone_and_a_desktop(
    server: Any, page: Page, path: str, tmp_path: Path
) -> None:
    heading, button_name, labels = PAGES[path]
    for scheme in ("light", "dark"):
        for width in (375, 1280):
            where = f"{path} {scheme} {width}px"
            page.emulate_media(color_scheme=scheme)
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(f"{server.base_url}{path}?token=abc")
            expect(page.get_by_role("heading", name=heading)).to_be_visible()
            # The product's name heads the page, and the page follows the system's scheme.
            expect(page.get_by_role("banner")).to_have_text("contacts_api")
            body = page.evaluate(CONTRAST, page.locator("body").element_handle())
            assert (body["background"] < 0.05) == (scheme == "dark"), where
            # Every text, the button's included, is readable (WCAG AA: 4.5 to 1).
            for text in page.locator("h1, p:visible, label, .brand, button").all():
                ratio = page.evaluate(CONTRAST, text.element_handle())["text"]
                assert ratio >= 4.5, (where, text.text_content(), ratio)
            button = page.get_by_role("button", name=button_name)
            background = button.evaluate("b => getComputedStyle(b).backgroundColor")
            assert background != default_button_background(page), where
            # Every field has its label, found by the label's text, and an edge one can see
            # (WCAG AA for controls: 3 to 1).
            fields = page.locator("input").all()
            assert [field.evaluate("f => f.labels[0].textContent") for field in fields] == labels
            for field in fields:
                assert page.evaluate(CONTRAST, field.element_handle())["border"] >= 3, where
            for label in labels:
                expect(page.get_by_label(label)).to_be_visible()
            # Nothing sticks out sideways on a phone.
            scroll = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert scroll[0] <= scroll[1], (where, scroll)
            # Tab reaches the button, and its focus ring shows (3 to 1 against the card).
            for _ in labels:
                page.keyboard.press("Tab")
            page.keyboard.press("Tab")
            assert button.evaluate("b => b === document.activeElement"), where
            outline = button.evaluate(
                "b => ((s) => [s.outlineStyle, parseFloat(s.outlineWidth)])(getComputedStyle(b))"
            )
            assert outline[0] != "none" and outline[1] >= 2, (where, outline)
            assert page.evaluate(CONTRAST, button.element_handle())["outline"] >= 3, where
            # The error and success states are readable too.
            for ok in (False, True):
                page.evaluate("ok => show(ok ? 'Done.' : 'That went wrong.', ok)", ok)
                outcome = page.get_by_role("status")
                expect(outcome).to_be_visible()
                ratio = page.evaluate(CONTRAST, outcome.element_handle())["text"]
                assert ratio >= 4.5, (where, ok, ratio)
                colors = outcome.evaluate(
                    "o => [getComputedStyle(o).color, getComputedStyle(o).backgroundColor]"
                )
                assert colors[1] != "rgba(0, 0, 0, 0)", (where, ok, colors)  # a box, not a line
            page.screenshot(path=tmp_path / f"{path[1:]}-{scheme}-{width}.png", full_page=True)
