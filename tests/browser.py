"""A page in Debian's headless Chromium, driven by Playwright, that records what went wrong:
script errors and console errors (which is where the Content-Security-Policy reports what it
refused). Import it only where CHROMIUM is set (tests/untested.py)."""

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Page, sync_playwright

from tests.untested import CHROMIUM


@contextmanager
def chromium_page(base_url: str | None = None) -> Iterator[tuple[Page, list[str]]]:
    """A new page, and the list of problems it met, filled until the browser closes."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(base_url=base_url)
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        try:
            yield page, problems
        finally:
            browser.close()
