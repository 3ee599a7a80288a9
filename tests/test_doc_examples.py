"""The birthday example of the README and of docs/walkthrough.md answers as shown on any day of
the year, not only on the day it was written: its request is read out of the page, sent for
dates all over a common and a leap year, and its answer put through the page's own jq filter."""

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import new_user

ROOT = Path(__file__).resolve().parent.parent
FENCED = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def fenced_blocks(page: Path) -> list[tuple[str, str]]:
    """The (language, text) of every fenced block of a Markdown page, in order."""
    return FENCED.findall(page.read_text(encoding="utf-8"))


def birthday_example(page: Path) -> tuple[list[dict[str, Any]], str, str]:
    """The contacts the page has created before its birthday example, the example's command,
    and the answer the page shows for it."""
    blocks = fenced_blocks(page)
    [at] = [i for i, (_, text) in enumerate(blocks) if "$API/contacts/birthdays" in text]
    created = [
        json.loads(body)
        for _, text in blocks[:at]
        if "-X POST $API/contacts " in text
        for body in re.findall(r"-d '(\{.*?\})'", text, re.DOTALL)
    ]
    return created, blocks[at][1], blocks[at + 1][1].strip()


def days_to_try() -> list[date]:
    """Every sixth day of 2027 and 2028, and the days around the year's ends and 29 February."""
    days = {date(2027, 1, 1) + timedelta(days=n) for n in range(0, 731, 6)}
    edges = ["2027-02-28", "2027-03-01", "2027-12-02", "2027-12-03", "2027-12-04", "2027-12-31"]
    edges += ["2028-01-01", "2028-02-28", "2028-02-29", "2028-03-01", "2028-12-04", "2028-12-31"]
    return sorted(days | {date.fromisoformat(day) for day in edges})


@pytest.mark.parametrize("page", ["README.md", "docs/walkthrough.md"])
def test_the_birthday_example_answers_as_shown_on_any_day(
    client: TestClient, pin_now: Callable[[datetime], None], page: str
) -> None:
    contacts, command, shown = birthday_example(ROOT / page)
    assert contacts, f"{page} creates no contact before its birthday example"
    filters = re.findall(r"\| jq ((?:-\w+ )*)'([^']*)'", command)
    jq = shutil.which("jq")
    if filters and jq is None:
        pytest.skip("jq is not installed: the docs' birthday example was not run")
    ann = new_user(client, "ann@example.com")
    for contact in contacts:
        assert client.post("/api/contacts", headers=ann, json=contact).status_code == 201
    params = dict(re.findall(r"-d (\w+)=(\S+)", command))
    for day in days_to_try():
        pin_now(datetime(day.year, day.month, day.day, 12, tzinfo=UTC))
        response = client.get("/api/contacts/birthdays", headers=ann, params=params)
        assert response.status_code == 200, response.text
        answer = response.text
        for options, program in filters:
            answer = subprocess.run(
                [str(jq), *options.split(), program],
                input=answer,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        assert (day, json.loads(answer)) == (day, json.loads(shown))
