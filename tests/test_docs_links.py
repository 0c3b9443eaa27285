"""Every relative link in README.md and docs/*.md resolves: the file exists, and a `#anchor` is a heading of the target.

Anchors follow GitHub's heading slugs (Flet/github-slugger `index.js`, which github.com's renderer matches): the
heading's text lower-cased, every character that is not a letter, a digit, `_`, `-` or a space removed, each space
turned into `-`, and a repeated slug suffixed `-1`, `-2`, ... in document order. The slug is of the rendered text, so
inline code keeps its characters without the backticks and a link keeps its text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR

FENCE = re.compile(r"^(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto: ...


def documentation_files() -> list[Path]:
    return [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks: a link or a heading inside a block is code, not Markdown."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: list[str] = []
    for line in prose_lines(text):
        if match := HEADING.match(line):
            base = slug(match.group(2))
            repeats = found.count(base) + sum(1 for f in found if re.fullmatch(re.escape(base) + r"-\d+", f))
            found.append(base if repeats == 0 else f"{base}-{repeats}")
    return set(found)


def links(text: str) -> list[str]:
    """Every link target in the prose, inline code spans left out (a bracket in code is not a link)."""
    return [target for line in prose_lines(text) for target in LINK.findall(INLINE_CODE.sub("", line))]


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in links(path.read_text()):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            problems.append(f"{target}: no file {os.path.relpath(destination, PROJECT_DIR.resolve())}")
        elif anchor and (destination.suffix != ".md" or anchor not in anchors(destination.read_text())):
            problems.append(f"{target}: no heading #{anchor} in {destination.name}")
    return problems


@pytest.mark.parametrize("path", documentation_files(), ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


def test_the_readme_is_a_guide_of_at_most_350_lines():
    assert len((PROJECT_DIR / "README.md").read_text().splitlines()) <= 350


def test_every_page_under_docs_is_linked_from_the_readme():
    linked = {(PROJECT_DIR / t.partition("#")[0]).resolve() for t in links((PROJECT_DIR / "README.md").read_text())}
    pages = {p.resolve() for p in (PROJECT_DIR / "docs").glob("*.md")}
    assert sorted(p.name for p in pages - linked) == []


def test_slugs_follow_github():
    """Cases from github-slugger's fixtures (test/fixtures.json): punctuation goes, each space is a hyphen."""
    assert slug("Edge: Ingress or Gateway API") == "edge-ingress-or-gateway-api"
    assert slug("Rotating a credential") == "rotating-a-credential"
    assert slug("`ams:local` and **more**") == "amslocal-and-more"
    assert slug("foo - bar") == "foo---bar"
    assert slug("Before the first deploy: The entry") == "before-the-first-deploy-the-entry"
    assert anchors("# A\n## A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1", "a-2"}


def test_the_link_rule(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.test_docs_links.PROJECT_DIR", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# B\n\n## Has a heading\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/b.md) [ok](docs/b.md#has-a-heading) [web](https://example.com/x#y) [self](#top)\n"
        "# Top\n[missing](docs/c.md) [bad anchor](docs/b.md#nothing) `[code](docs/none.md)`\n"
        "```\n[in a block](docs/none.md)\n```\n"
    )
    assert broken_links(page) == ["docs/c.md: no file docs/c.md", "docs/b.md#nothing: no heading #nothing in b.md"]
