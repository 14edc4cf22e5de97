"""Everything the code cites is in the repository.

Code, tests and documents cite facts as ``docs/FILE.md, "Section title"``;
each such citation must name a file of ``docs/`` and a section it has. And no
tracked file points at documents a clone does not have (the project's
working notes beside the repository), except the Makefile's one place where
it looks for the Qubes archives.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from helpers import ROOT, needs

CITATION = re.compile(r"docs/([a-z-]+\.md),?\s+\"([^\"]+)\"")
COMMENT = re.compile(r"^\s*(?:#:?|\*|//)?\s?")


#: What points outside: spelled in pieces, so that this file does not name them itself.
OUTSIDE = re.compile(
    "|".join(
        re.escape(a + b)
        for a, b in (
            ("../", "shared"),
            ("design", ".md"),
            ("qubes-", "contract"),
            ("anchor-", "behaviours"),
            ("reference/", "signatures"),
            ("contract ", "section"),
            ("section ", "8."),
            ("design ", "section"),
            ("\u00a7", ""),
        )
    )
)


def tracked() -> list[Path]:
    listed = subprocess.run(
        [needs.tool("git"), "ls-files", "-z"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout.split(b"\0")
    files = [ROOT / name.decode() for name in listed if name]
    return [f for f in files if f.suffix in {".py", ".md", ".toml", ".txt", ""} and f.is_file()]


def text_of(path: Path) -> str:
    """The file as one line of prose: comment markers dropped, lines joined."""
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""
    return " ".join(COMMENT.sub("", line) for line in raw.splitlines())


def normal(title: str) -> str:
    return " ".join(title.replace("`", "").split()).lower()


def sections(doc: Path) -> list[str]:
    return [
        normal(line.lstrip("#"))
        for line in doc.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    ]


def test_every_cited_section_exists() -> None:
    wrong: list[str] = []
    cited = 0
    for path in tracked():
        for name, title in CITATION.findall(text_of(path)):
            cited += 1
            doc = ROOT / "docs" / name
            if not doc.is_file():
                wrong.append(f"{path.relative_to(ROOT)}: docs/{name} does not exist")
            elif not any(s.startswith(normal(title)) for s in sections(doc)):
                wrong.append(f"{path.relative_to(ROOT)}: docs/{name} has no section {title!r}")
    assert cited > 20
    assert wrong == []


def test_no_tracked_file_points_outside_the_repository() -> None:
    found = []
    for path in tracked():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line) and path.name != "test_docs_citations.py":
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    # The Makefile looks for the Qubes archives beside the clone (docs/simulator.md,
    # "The box"): that comment and that line, nothing else.
    assert [f for f in found if not f.startswith("Makefile:")] == []
    assert len(found) == 2 and all("/vendor" in f for f in found), found
