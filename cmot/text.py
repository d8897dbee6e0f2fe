"""People's words, made safe to show: masking emails and phone numbers, escaping for Markdown
and HTML. Formula-safe CSV is `cmot.report.to_csv`: exports of comments go through it."""

from __future__ import annotations

import html
import re

# An address-like token; deliberately loose: masking a non-address costs little, showing a
# real one is what must not happen.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Seven or more digits with the usual separators (+1 (310) 555-0100, 310.555.0100, 3105550100);
# years and small counts ("2014", "3 kids") have too few digits to match.
_PHONE = re.compile(r"(?<![\w])\+?\d(?:[\s().-]*\d){6,}(?![\w])")
# Every character that Markdown (CommonMark + Streamlit's extensions) may read as syntax.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>$:])")

# Where a bare address starts a link: "http://", "www.".
_AUTOLINK = re.compile(r"(?i)(:(?=//)|\bwww(?=\.))")
EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"


def mask_personal(text: str) -> str:
    """`text` with email addresses and phone numbers replaced by [email] / [phone]."""
    return _PHONE.sub(PHONE_MASK, _EMAIL.sub(EMAIL_MASK, text))


def escape_html(text: str) -> str:
    """`text` as inert HTML text (`<`, `>`, `&` and both quotes as entities)."""
    return html.escape(text, quote=True)


def escape_markdown(text: str) -> str:
    """`text` that Markdown renders literally: HTML escaped first (Streamlit may allow HTML),
    then every Markdown syntax character backslash-escaped, line breaks kept as spaces so a
    quote cannot open a heading, list or table on a new line."""
    flat = " ".join(text.split())
    # Quotes stay as they are: their entities (&#x27;) hold a '#' that the Markdown pass
    # would escape, so the reader saw "&#x27;"; in text (not an attribute) they are inert.
    # Streamlit links a bare http://x.y or www.x.y whatever its escapes (seen in the browser):
    # an invisible word joiner inside breaks the address and the link.
    flat = _AUTOLINK.sub("\\1\u2060", flat)
    return _MARKDOWN.sub(r"\\\1", html.escape(flat, quote=False))


def code_span(text: str) -> str:
    """`text` as a Markdown code span, shown as typed: a user's path or table name in a
    message Streamlit renders (a glob's stars would read as emphasis, a `$` as maths), and
    plain enough on a terminal. The fence is one backtick longer than any run inside."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def for_display(text: str | None, *, markdown: bool = True) -> str:
    """A comment as it may be shown: personal data masked, then escaped for Markdown (or for
    HTML with `markdown=False`). None or blank gives ""."""
    if text is None or not str(text).strip():
        return ""
    masked = mask_personal(str(text).strip())
    return escape_markdown(masked) if markdown else escape_html(masked)
