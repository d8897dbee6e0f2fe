"""The docs stand on their own and cannot drift from the code.

Every relative link in README.md and docs/*.md must name a file of this repository (and an
anchor a heading of that file), so a fresh clone has everything the README points to. The
facts the docs state about code are read from the code and compared here, so a change that
makes one false fails with what to write: every module of cmot/ and pages/ is named in
docs/ARCHITECTURE.md (and every module it names exists), the catalog's tables are the rows of
its table of tables, every command of `python -m cmot` is named on the `cmot/cli/main.py` row,
every `$CMOT_*` variable the code reads is named in README.md or docs/, and every field of
`cmot.settings.Settings` is a row of METHODS.md's settings table with its default, as is every
"`name` (default X)" the text says of one.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sqlite3
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
METHODS = ROOT / "docs" / "METHODS.md"

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
    assert "cmot/store/datasets.py" in modules and "cmot/ui/frame.py" in modules  # the walk works
    missing = [m for m in modules if f"`{m}`" not in text]
    assert missing == [], (
        "docs/ARCHITECTURE.md does not name these modules: add a row "
        "'| `cmot/<name>.py` | what it holds (its main functions) |' for each to the table of "
        "its folder under 'Where everything is' (`cmot/ui/` modules to the second table), "
        f"and the module to the flow's diagram if it is a step of it: {missing}"
    )


def test_every_page_and_named_module_exists() -> None:
    # The other direction: a module the map names must exist (a moved file leaves no ghost).
    text = ARCHITECTURE.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:cmot|pages)/[\w/]+\.py)`", text))
    assert named, "the architecture document names no module"
    ghosts = sorted(n for n in named if not (ROOT / n).is_file())
    assert ghosts == [], f"docs/ARCHITECTURE.md names files that do not exist: {ghosts}"
    pages = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))
    assert [p for p in pages if f"`{p}`" not in text] == []


# ---- facts about code, read from the code ---------------------------------------------------


def table_rows(text: str, after: str) -> list[list[str]]:
    """The cells of the markdown table that follows the line containing `after`."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if after in line), None)
    assert start is not None, f"the line {after!r} that the table follows is gone"
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if not all(re.fullmatch(r":?-+:?", c) for c in cells):
            rows.append(cells)
    return rows[1:]  # the header row is no fact


def catalog_tables() -> list[str]:
    """The tables the catalog's schema creates, read by SQLite from the schema itself."""
    from cmot.store.catalog import _SCHEMA

    con = sqlite3.connect(":memory:")
    try:
        con.executescript(_SCHEMA)
        found = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        con.close()
    return sorted(n for (n,) in found if not n.startswith("sqlite_"))


def test_the_catalog_table_lists_every_table_of_the_schema() -> None:
    tables = catalog_tables()
    assert "datasets" in tables and "meta" in tables  # the schema was read
    rows = table_rows(ARCHITECTURE.read_text("utf-8"), "**The catalog** (`cmot/store/catalog.py`)")
    documented = sorted(r[0].strip("`") for r in rows)
    missing = [t for t in tables if t not in documented]
    ghosts = [t for t in documented if t not in tables]
    assert missing == [], (
        "docs/ARCHITECTURE.md's catalog table ('The store' section) lacks these tables of "
        f"cmot/store/catalog.py's schema: add a row '| `<table>` | its rows |' for each: {missing}"
    )
    assert ghosts == [], f"docs/ARCHITECTURE.md's catalog table names no-longer tables: {ghosts}"


def test_the_catalog_sentence_counts_no_tables() -> None:
    # "has six tables" stayed when the seventh came: the sentence names none, the table counts.
    text = ARCHITECTURE.read_text("utf-8")
    words = r"(?:\d+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
    assert not re.search(rf"has {words} tables", text), "say 'has these tables', not a number"


def cli_commands() -> list[str]:
    """Every command of `python -m cmot`, from the parsers `cmot.cli.main.main` builds."""
    from cmot.cli.main import PARSERS

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for add in PARSERS:
        add(sub)
    return sorted(sub.choices)


def test_every_command_is_named_on_the_cli_row() -> None:
    commands = cli_commands()
    assert {"ingest", "analyze", "trend"} <= set(commands)  # the parsers were built
    row = next(
        line
        for line in ARCHITECTURE.read_text("utf-8").splitlines()
        if line.startswith("| `cmot/cli/main.py` |")
    )
    missing = [c for c in commands if f"`{c}`" not in row]
    assert missing == [], (
        "the `cmot/cli/main.py` row of docs/ARCHITECTURE.md lists every command of "
        f"`python -m cmot`; add these (as `name`, with the module that adds it): {missing}"
    )


def env_variables() -> list[str]:
    """The environment variables the code reads: string literals "CMOT_..." in cmot/, app.py
    and serve.py (constants such as cmot.spec.CMOT_TAGS are names, not strings)."""
    sources = [*(ROOT / "cmot").rglob("*.py"), ROOT / "app.py", ROOT / "serve.py"]
    found = set()
    for path in sources:
        found |= set(re.findall(r"[\"'](CMOT_[A-Z0-9_]+)[\"']", path.read_text("utf-8")))
    return sorted(found)


def test_every_environment_variable_is_documented() -> None:
    names = env_variables()
    assert "CMOT_STORE" in names and "CMOT_MAX_ROWS" in names  # the walk works
    text = "\n".join(d.read_text("utf-8") for d in DOCS)
    missing = [n for n in names if n not in text]
    assert missing == [], (
        "say what these variables do and their default in README.md (Configuration) or "
        f"docs/ARCHITECTURE.md, where the code reading them is described: {missing}"
    )


def default_text(value: object) -> str:
    """A default as the settings table writes it: strings in double quotes, else repr."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


def settings_defaults() -> dict[str, object]:
    from cmot.settings import Settings

    return {f.name: f.default for f in dataclasses.fields(Settings)}


def test_every_setting_is_a_row_of_the_settings_table_with_its_default() -> None:
    defaults = settings_defaults()
    assert defaults["alpha"] == 0.05  # the fields were read
    rows = table_rows(METHODS.read_text("utf-8"), "<!-- settings table -->")
    documented = {r[0].strip("`"): r[1] for r in rows}
    missing = [n for n in defaults if n not in documented]
    assert missing == [], (
        "docs/METHODS.md's settings table (after '<!-- settings table -->') lacks these "
        "fields of cmot.settings.Settings: add a row '| `<name>` | `<default>` | what it decides, "
        f"and where it is set |' for each: {missing}"
    )
    ghosts = [n for n in documented if n not in defaults]
    assert ghosts == [], f"docs/METHODS.md's settings table names gone settings: {ghosts}"
    wrong = {
        n: (documented[n], default_text(d))
        for n, d in defaults.items()
        if documented[n].strip("`") != default_text(d)
    }
    assert wrong == {}, f"METHODS.md's settings table: (written, the code's default): {wrong}"


def test_a_default_the_methods_text_states_is_the_code_s() -> None:
    # "`mot_coverage` (default 0.6)", "`min_cell` (30)": prose repeats defaults near the
    # formula they belong to; each must be the field's default.
    defaults = settings_defaults()
    text = METHODS.read_text("utf-8")
    said = re.findall(r"`(\w+)` \((?:default )?([+-]?\d[\d.]*)[,)]", text)
    checked = [(n, v) for n, v in said if n in defaults]
    assert len(checked) >= 4, checked  # the pattern still finds them
    wrong = [
        (n, v, defaults[n])
        for n, v in checked
        if not isinstance(defaults[n], int | float) or float(v) != float(defaults[n])  # type: ignore[arg-type]
    ]
    assert wrong == [], f"docs/METHODS.md states defaults the code does not have: {wrong}"
