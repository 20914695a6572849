"""The documentation stays navigable: every relative link in README.md and docs/*.md leads to
a file that exists (and, with a #fragment into a Markdown file, to one of its headings), and
the README stays a front door that opens with the two commands."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]  # *.md.tmp are drafts, not pages
README_LIMIT = 12_000  # bytes
COMMANDS = [
    "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/custody serve",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest",
]

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
CODE_SPAN = re.compile(r"(`+).*?\1")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced and indented code blocks, with code spans blanked out."""
    lines, fenced, previous_blank = [], False, True
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
            continue
        indented = line.startswith(("    ", "\t")) and previous_blank
        if fenced or indented:
            lines.append("")
            continue  # a code block goes on until a line that is not indented
        previous_blank = not line.strip()
        lines.append(CODE_SPAN.sub("", line))
    return lines


def code_lines(text: str) -> list[str]:
    """The lines inside code blocks (indented or fenced), in order, without their indent."""
    found, fenced, in_indented, previous_blank = [], False, False, True
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            found.append(line)
            continue
        if line.startswith("    ") and (previous_blank or in_indented):
            in_indented = True
            found.append(line[4:])
            continue
        in_indented = in_indented and not line.strip()
        previous_blank = not line.strip()
    return [line for line in found if line.strip()]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lowercased, punctuation dropped except
    hyphens and spaces (word characters, the underscore among them, stay), spaces to
    hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file's headings make, with GitHub's -1, -2 for repeats."""
    made: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            made.add(base if count == 0 else f"{base}-{count}")
    return made


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link in the prose, a link's text may span lines."""
    lines = prose_lines(path.read_text(encoding="utf-8"))
    prose = "\n".join(lines)
    found = [
        (prose.count("\n", 0, match.start()) + 1, match.group(1))
        for match in INLINE_LINK.finditer(prose)
    ]
    for number, line in enumerate(lines, start=1):
        if reference := REFERENCE.match(line):
            found.append((number, reference.group(1)))
    return sorted(found)


def relative(target: str) -> bool:
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)  # http:, https:, mailto:, ...


def problems(path: Path) -> list[str]:
    found = []
    for number, target in links(path):
        if not relative(target):
            continue
        address, _, fragment = target.partition("#")
        destination = (path.parent / unquote(address)).resolve() if address else path
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not destination.exists():
            found.append(f"{where}: no such file")
        elif fragment and destination.suffix == ".md":
            if unquote(fragment).lower() not in anchors(destination):
                found.append(f"{where}: no heading makes #{fragment}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    assert problems(page) == []


def test_pages_link_to_each_other() -> None:
    assert len(PAGES) > 1 and sum(len(links(page)) for page in PAGES) > 0


def test_the_readme_is_a_front_door() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail into docs/"
    assert README.read_text(encoding="utf-8").startswith("# ")
    assert code_lines(README.read_text(encoding="utf-8"))[:2] == COMMANDS


def test_the_slug_rule_is_githubs() -> None:
    assert slug("The platform's flow, with curl") == "the-platforms-flow-with-curl"
    assert slug("Metrics, readiness and request logs") == "metrics-readiness-and-request-logs"
    assert slug("The use check over HTTP (`bench/bench_checks.py`)") == (
        "the-use-check-over-http-benchbench_checkspy"
    )
    assert relative("concepts.md#the-use-check") and not relative("https://example.org")
    assert not relative("mailto:someone@example.org")
