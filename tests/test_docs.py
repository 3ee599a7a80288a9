"""The README and docs/: every relative link and #anchor resolves, and the README stays short.

Anchors are computed the way GitHub computes them for headings, so a link that passes here
works on GitHub. No database is used.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 250

# An inline link or image: [text](target) or [text](target "title").
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def markdown_files() -> list[Path]:
    """README.md and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans removed."""
    lines: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * 3
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
        else:
            lines.append(re.sub(r"(`+)(?:(?!\1).)+?\1", "", line))
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading, before duplicates get their -1, -2 suffix."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, duplicates numbered as GitHub numbers them."""
    if path.suffix != ".md":
        return set()
    seen: dict[str, int] = {}
    result: set[str] = set()
    fence: str | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * 3
            continue
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
            continue
        heading = HEADING.match(line)
        if heading is None:
            continue
        slug = github_slug(heading.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def broken_links(path: Path) -> list[str]:
    """The relative links and anchors of one file that lead nowhere, as 'file: target'."""
    broken: list[str] = []
    for line in prose_lines(path.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^(https?:|mailto:)", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists() or (anchor and anchor not in anchors(linked)):
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    return broken


def test_github_slug_follows_githubs_rules() -> None:
    assert github_slug("Why the routes are `async def`") == "why-the-routes-are-async-def"
    assert github_slug("Birthdays through an indexed `birthday_key`") == (
        "birthdays-through-an-indexed-birthday_key"
    )
    assert github_slug("Sessions, rotation and theft detection") == (
        "sessions-rotation-and-theft-detection"
    )
    assert github_slug("Why uvicorn's workers, not gunicorn") == "why-uvicorns-workers-not-gunicorn"


def test_duplicate_headings_get_numbered_anchors(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Notes\n\n## Setup\n\n```sh\n# Setup\n```\n\n## Setup\n\n## Setup\n")
    assert anchors(page) == {"notes", "setup", "setup-1", "setup-2"}


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = [link for path in markdown_files() for link in broken_links(path)]
    assert broken == []


def test_readme_stays_a_five_minute_read() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES
