"""Care with people's words: masking and escaping for display, formula-safe CSV."""

from __future__ import annotations

import io

import pandas as pd

from cmot.present.exports import to_csv
from cmot.text import (
    code_span,
    escape_html,
    escape_markdown,
    escape_message,
    for_display,
    mask_personal,
)

NASTY = (
    "<script>alert(1)</script> see [my site](http://evil.example) "
    "mail jane.doe+x@example.co.uk or call +1 (310) 555-0100"
)


def test_mask_personal_hides_email_and_phone_but_not_years() -> None:
    out = mask_personal("jane@x.org, 310.555.0100, 3105550100, since 2014 with 3 kids")
    assert out == "[email], [phone], [phone], since 2014 with 3 kids"


def test_for_display_masks_and_escapes_markdown() -> None:
    out = for_display(NASTY)
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "example.co.uk" not in out and "555" not in out
    assert "\\[my site\\]\\(http" in out  # the link is literal text, not a link
    # nor a bare address: GFM links http://x.y and www.x.y even with escaped ':' and '.'
    assert "://" not in out and "www." not in escape_markdown("www.evil.example")
    assert escape_markdown("it's") == "it's"  # no entity whose '#' the Markdown pass breaks
    assert for_display("  ") == "" and for_display(None) == ""


def test_escape_markdown_flattens_lines_so_no_block_syntax_starts() -> None:
    out = escape_markdown("fine\n# heading\n- item\n| a | b |")
    assert "\n" not in out
    assert "\\#" in out and "\\-" in out and "\\|" in out


def test_escape_markdown_stops_icons_maths_and_directives() -> None:
    """Names from the data (issue 29 E): Streamlit swaps `:material/name:` for an icon before
    it parses, so a backslash cannot stop it; a word joiner after the colon does (checked in
    the browser, tests/e2e/test_markdown_browser.py). Maths and directives are escaped."""
    out = escape_markdown("warn :material/warning: $$x^2$$ $5 :red[alert] ![t](http://e.x/p)")
    assert ":material/" not in out and ":\u2060material/" in out
    assert "$" not in out.replace("\\$", "") and "\\:red\\[alert\\]" in out
    assert "\\!\\[t\\]\\(http\\:\u2060//" in out


def test_for_display_html() -> None:
    out = for_display(NASTY, markdown=False)
    assert "<" not in out and "&lt;script&gt;" in out and "[email]" in out
    assert escape_html("\"a\" & 'b'") == "&quot;a&quot; &amp; &#x27;b&#x27;"


def test_comment_formula_is_safe_in_csv() -> None:
    frame = pd.DataFrame({"quote": ["=cmd|' /C calc'!A0", "+1+1", NASTY]})
    back = pd.read_csv(io.BytesIO(to_csv(frame)), encoding="utf-8-sig")
    assert not any(str(v).startswith(("=", "+", "-", "@")) for v in back["quote"])


def test_code_span_shows_paths_as_typed() -> None:
    assert code_span("lake/*/part-*.parquet") == "`lake/*/part-*.parquet`"
    assert code_span("a`b") == "``a`b``"  # a fence longer than any backtick run inside
    assert code_span("`x") == "`` `x ``"  # padded: a span may not open on its own fence


def test_escape_message_keeps_code_spans_and_escapes_the_rest() -> None:
    """An error quoting a name from the data renders it literally; its commands stay code."""
    said = (
        f"Column [x](http://evil.test/a) ![i](http://evil.test/i.png) $x$ is missing: run "
        f"{code_span('python -m cmot link a*.csv')} then {code_span('a`b')}\n# not a heading"
    )
    out = escape_message(said)
    first, second = out.split("\n")
    assert "\\[x\\]\\(http\\:\u2060//evil\\.test/a\\)" in first and "\\$x\\$" in first
    assert " run `python -m cmot link a*.csv` then ``a`b``" in first  # spaced, as typed
    assert second == "\\# not a heading"
    assert escape_message("plain words") == "plain words"
