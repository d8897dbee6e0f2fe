"""The docs stand on their own: links stay inside the repository, the module map stays whole.

Every relative link in README.md and docs/*.md must name a file of this repository (and an
anchor a heading of that file), so a fresh clone has everything the README points to; every
module of cmot/ must be named in docs/ARCHITECTURE.md, so the map cannot fall behind.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
# [text](target "title"), and images ![alt](target); target may be <wrapped>.
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def _prose(text: str) -> str:
    """The markdown without code blocks and code spans: links and headings in code are text."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def links(text: str) -> list[str]:
    """Link targets of a markdown text, in order (inline, image and reference links)."""
    prose = _prose(text)
    found = [(m.start(), m.group(1)) for m in _INLINE.finditer(prose)]
    found += [(m.start(), m.group(1)) for m in _REFERENCE.finditer(prose)]
    return [t.strip("<>") for _, t in sorted(found)]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _prose_keep_headings(text: str) -> str:
    # Code spans inside a heading are part of its anchor text; only fenced blocks go.
    return _FENCE.sub("", text)


def anchors(text: str) -> set[str]:
    """Every heading's anchor, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    out = set()
    for m in _HEADING.finditer(_prose_keep_headings(text)):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(doc: Path, root: Path) -> list[str]:
    """Each relative link of `doc` that leaves `root`, names no file, or no heading there."""
    problems = []
    for target in links(doc.read_text(encoding="utf-8")):
        if _EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        dest = (doc.parent / path_part).resolve() if path_part else doc.resolve()
        if not dest.is_relative_to(root.resolve()):
            problems.append(f"{target}: outside the repository")
            continue
        if not dest.exists():
            problems.append(f"{target}: no such file {dest.relative_to(root.resolve())}")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text("utf-8")):
            problems.append(f"{target}: no heading #{anchor} in {dest.name}")
    return problems


# ---- the checker itself, on made-up docs --------------------------------------------------


def test_link_checker_finds_every_kind_of_broken_link(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "A.md").write_text("# The flow\n\n## Rules of the house\n", "utf-8")
    (tmp_path / "outside.md").write_text("# Out\n", "utf-8")
    readme = repo / "README.md"
    readme.write_text(
        "\n".join(
            [
                "# Title",
                "[ok](docs/A.md) [ok anchor](docs/A.md#rules-of-the-house) [self](#title)",
                "[web](https://example.com/x.md) ![pic](docs/A.md)",
                "[out](../outside.md) [missing](docs/B.md) [bad anchor](docs/A.md#nope)",
                "[bad self](#nowhere)",
                "`[in code](docs/C.md)`",
                "```",
                "[in a fence](docs/D.md)",
                "```",
                "[ref]: docs/E.md",
            ]
        ),
        "utf-8",
    )
    problems = broken_links(readme, repo)
    assert [p.split(":")[0] for p in problems] == [
        "../outside.md",
        "docs/B.md",
        "docs/A.md#nope",
        "#nowhere",
        "docs/E.md",
    ], problems


def test_slugs_follow_github() -> None:
    assert slug("Differences from the original contract") == (
        "differences-from-the-original-contract"
    )
    assert slug("`cmot/ui/`: the only cmot code that imports Streamlit") == (
        "cmotui-the-only-cmot-code-that-imports-streamlit"
    )
    assert slug("Moments of truth and classes") == "moments-of-truth-and-classes"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


# ---- the repository's docs ----------------------------------------------------------------


def test_the_docs_exist() -> None:
    assert (ROOT / "docs" / "ARCHITECTURE.md").is_file()
    assert (ROOT / "docs" / "METHODS.md").is_file()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(doc: Path) -> None:
    assert broken_links(doc, ROOT) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_doc_points_outside_the_repository_in_words(doc: Path) -> None:
    # The design notes the project started from live outside the repository; the docs in
    # docs/ replace them. (../shared/data may be named: tests look for real surveys there.)
    assert "shared/design" not in doc.read_text(encoding="utf-8")


def test_readme_links_to_both_documents() -> None:
    targets = {t.partition("#")[0] for t in links((ROOT / "README.md").read_text("utf-8"))}
    assert {"docs/ARCHITECTURE.md", "docs/METHODS.md"} <= targets


def test_every_module_is_named_in_the_architecture_document() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    modules = sorted(
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "cmot").rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert "cmot/store.py" in modules and "cmot/ui/frame.py" in modules  # the walk works
    missing = [m for m in modules if m not in text]
    assert missing == [], f"add a line for each to docs/ARCHITECTURE.md: {missing}"


def test_every_page_and_named_module_exists() -> None:
    # The other direction: a module the map names must exist (a moved file leaves no ghost).
    text = ARCHITECTURE.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:cmot|pages)/[\w/]+\.py)`", text))
    assert named, "the architecture document names no module"
    ghosts = sorted(n for n in named if not (ROOT / n).is_file())
    assert ghosts == [], f"docs/ARCHITECTURE.md names files that do not exist: {ghosts}"
    pages = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))
    assert [p for p in pages if f"`{p}`" not in text] == []
