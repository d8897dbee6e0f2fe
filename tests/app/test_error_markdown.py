"""An error that quotes a name from the data shows it literally (issue 29 E's last gap):
every page shows a CmotError through `show_error`, which keeps its code spans."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _error_page() -> None:
    from cmot.errors import CmotError
    from cmot.text import code_span
    from cmot.ui.frame import show_error

    link = "[Session expired](http://evil.test/x)"
    show_error(CmotError(f"No column {link}: run {code_span('python -m cmot roles a.csv')}"))


def test_an_error_quoting_a_planted_link_renders_it_literally() -> None:
    at = AppTest.from_function(_error_page).run()
    assert not at.exception
    (box,) = at.error
    assert "\\[Session expired\\]\\(http\\:\u2060//evil\\.test/x\\)" in box.value, box.value
    assert box.value.endswith(": run `python -m cmot roles a.csv`"), box.value


def test_the_pages_show_cmot_errors_only_through_show_error() -> None:
    """No page or UI module puts a CmotError's raw text into Markdown."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    raw = re.compile(r"st\.(error|warning|info|markdown)\(str\((e|err|error)\)")
    found = [
        f"{p.relative_to(root)}:{i}"
        for p in [*(root / "cmot" / "ui").glob("*.py"), *(root / "pages").glob("*.py")]
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if raw.search(line)
    ]
    assert found == [], found
