"""People's words, made safe to show: masking emails and phone numbers, escaping for Markdown
and HTML. Formula-safe CSV is `cmot.present.exports.to_csv`: exports of comments go through it."""

from __future__ import annotations

import functools
import html
import re
import string
import unicodedata

# An address-like token; deliberately loose: masking a non-address costs little, showing a
# real one is what must not happen. Written so that its work is linear in the text: a comment
# in Chinese or Japanese is one run without spaces, and the former pattern, tried from each
# character of a run and backtracking over the rest of it, took 0.56 s on 10,000 letters
# (holding the interpreter lock). A match starts only where a run of address characters
# starts (the lookbehind), and every unbounded repeat is possessive (`++`: it gives nothing
# back), so no attempt re-reads a run another attempt read. Addresses written back to back
# ("a@b.c+x@y.z") come out as one [email].
_EMAIL = re.compile(r"(?<![\w.+-])(?:[\w.+-]++@[\w-]++(?:\.[\w-]++)++)++")
# A phone-like run: seven or more digits (years and small counts, "2014", "3 kids", have
# fewer) with the usual separators (+1 (310) 555-0100, 310.555.0100, 3105550100), linear in
# the same way. The lookahead asks for seven digits before the run is read, so short numbers
# cost no call of `_phone`; a digit group touching a word ("0100abc") ends the run before it.
# `_phone` then keeps what reads as a date, a time or years range or a price.
_PHONE = re.compile(r"(?<!\w)\+?(?=\d(?:[\s().-]*+\d){6})\d++(?!\w)(?:[\s().-]++\d++(?!\w))*+")
_SEVEN_DIGITS = re.compile(r"\+?\d(?:[\s().-]*+\d){6}")
# A date (2024-01-15, 15.01.2024, 01-15-2024), years range (2019-2021) or time range
# (0830-0930): digit runs that read as a phone's but are none. Two-digit groups
# are checked as days, months, hours or minutes in `_kept`.
_DAY = r"(?:(?:19|20)\d\d[-./]\d\d?[-./]\d\d?|\d\d?[-./]\d\d?[-./](?:19|20)\d\d)"
_DATES = re.compile(rf"({_DAY})(?:\s*-\s*({_DAY}))?")
_YEARS = re.compile(r"((?:19|20)\d\d)\s*-\s*((?:19|20)\d\d)")
_TIMES = re.compile(r"(\d\d)[0-5]\d\s*-\s*(\d\d)[0-5]\d")
# A sum as written beside a currency sign: 1234567, 12345.00, 1 234 567.50, 1.234.567.
_AMOUNT = re.compile(r"\d{1,3}(?:[ .]\d{3})+(?:\.\d\d?)?|\d+(?:\.\d\d?)?")
# Neighbours of a run that are neither a currency sign nor a space (nor the text's edge).
_PLAIN = frozenset(string.printable) - frozenset(string.whitespace) - {"$"}
# A time's hour after a date ("2024-01-15 10:30"), its minutes before one ("10:30 2024-...").
_HOUR_AFTER = re.compile(r"\s+\d\d?\Z")
_MINUTES_BEFORE = re.compile(r"\A\d\d\s+")
# Longer runs are no date, range or price that `_kept` knows: it reads no further.
_KEPT_MAX = 40
# Every character that Markdown (CommonMark + Streamlit's extensions) may read as syntax.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>$:])")

# Where a bare address starts a link ("http://", "www."), and where a Material icon starts
# (":material/"): Streamlit swaps icons in before parsing, so no backslash stops one.
_AUTOLINK = re.compile(r"(?i)(:(?=//)|\bwww(?=\.)|:(?=material/))")
EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"

# Caps on people's text, applied at ingest (`cmot.ingest.clean`, issue 29) and where the PDF report
# draws text: a comment longer than MAX_COMMENT_CHARS is cut, and so is a label (a
# touchpoint's question text, a column's, a value label) or a segment value longer than
# MAX_LABEL_CHARS. One 10,000-character label broke the PDF report for everyone using the
# dataset; one long comment costs every page that reads its column. The longest open answers
# in the real surveys we hold run to a few thousand characters, question texts to a few
# hundred.
MAX_COMMENT_CHARS = 5_000
MAX_LABEL_CHARS = 300


def mask_personal(text: str) -> str:
    """`text` with email addresses and phone numbers replaced by [email] / [phone]; dates,
    times and years ranges and prices are left as written. Linear in the length of `text`."""
    return _PHONE.sub(_phone, _EMAIL.sub(EMAIL_MASK, text))


def _phone(match: re.Match[str]) -> str:
    """[phone] for a run `_PHONE` found, unless it has under seven digits or reads as a date,
    a range or a price (`_kept`). Called once per run of seven digits or more, so a text of
    nothing but phone numbers calls it every eighth character: digits alone between plain
    ASCII neighbours, the usual case, are decided first and cheaply."""
    run = match.group()
    if run.isdigit():
        if len(run) < 7:
            return run  # its last digit group touched a word and was left out
        start, end = match.span()
        text = match.string
        if (text[start - 1] if start else "") in _PLAIN and (
            text[end] if end < len(text) else ""
        ) in _PLAIN:
            return PHONE_MASK  # no separator (no date, no range) and no currency sign beside
    elif _SEVEN_DIGITS.match(run) is None:
        return run
    if len(run) <= _KEPT_MAX and _kept(run, match.string, match.start(), match.end()):
        return run
    return PHONE_MASK


def _kept(run: str, text: str, start: int, end: int) -> bool:
    """Whether a short phone-like `run` at text[start:end] is a date, a time or years range,
    or a price: a currency sign just before or after it ("$12345.00", "1234567 €")."""
    # The characters beside the run, past one space ("$ 12345.00"); indexing, not slicing:
    # a text of nothing but numbers comes here every eighth character.
    before = text[start - 1] if start else ""
    if before.isspace() and start > 1:
        before = text[start - 2]
    after = text[end] if end < len(text) else ""
    if after.isspace() and end + 1 < len(text):
        after = text[end + 1]
    if (_currency(before) or _currency(after)) and _AMOUNT.fullmatch(run):
        return True
    if "-" not in run and "." not in run:
        return False  # every date and range below has one: most runs stop here
    if after == ":":
        run = _HOUR_AFTER.sub("", run)
    if before == ":":
        run = _MINUTES_BEFORE.sub("", run)
    return _dates(run) or _years(run) or _times(run)


@functools.cache
def _currency(char: str) -> bool:
    """Whether `char` is a currency sign ($, €, £, ¥, ...); "" is none. Cached: a text has
    few distinct neighbours of numbers."""
    return bool(char) and unicodedata.category(char) == "Sc"


def _dates(run: str) -> bool:
    """A date, or a range of two: each with a month of 1-12 and a day of 1-31."""
    m = _DATES.fullmatch(run)
    return m is not None and all(_date(p) for p in m.groups() if p)


def _date(part: str) -> bool:
    a, b, c = (int(x) for x in re.split(r"[-./]", part))
    if a >= 1900:  # year-month-day
        return 1 <= b <= 12 and 1 <= c <= 31
    return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)


def _years(run: str) -> bool:
    m = _YEARS.fullmatch(run)
    return m is not None and int(m[1]) <= int(m[2])


def _times(run: str) -> bool:
    """A range of two times of day written as four digits each (0830-0930): a US local
    number (555-1234, three and four) is none, though 5:55-12:34 would read as one."""
    m = _TIMES.fullmatch(run)
    return m is not None and int(m[1]) <= 24 and int(m[2]) <= 24


def ellipsize(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the last an ellipsis so a reader sees it was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape_html(text: str) -> str:
    """`text` as inert HTML text (`<`, `>`, `&` and both quotes as entities)."""
    return html.escape(text, quote=True)


def escape_markdown(text: str) -> str:
    """`text` that Markdown renders literally: HTML escaped first (Streamlit may allow HTML),
    then every Markdown syntax character backslash-escaped, line breaks kept as spaces so a
    quote cannot open a heading, list or table on a new line.

    The one escape for whatever comes from data (names of datasets, segments, touchpoints,
    stages, waves; people's words) wherever Streamlit renders Markdown: text, captions,
    alerts, headings, and the labels of widgets, expanders, tabs and metrics. Not for a
    selectbox's or multiselect's options, nor table cells: those show text as it is, and
    would show the backslashes."""
    flat = " ".join(text.split())
    # Quotes stay as they are: their entities (&#x27;) hold a '#' that the Markdown pass
    # would escape, so the reader saw "&#x27;"; in text (not an attribute) they are inert.
    # Streamlit links a bare http://x.y or www.x.y, and draws :material/name: as an icon,
    # whatever its escapes (seen in the browser): an invisible word joiner inside breaks the
    # address or the icon's name. Links, images, maths ($), HTML, :colour[...] and emoji
    # shortcodes are stopped by the escapes (tests/e2e/test_markdown_browser.py).
    flat = _AUTOLINK.sub("\\1\u2060", flat)
    return _MARKDOWN.sub(r"\\\1", html.escape(flat, quote=False))


# A code span as `code_span` writes one: a fence of backticks, the shortest text, the same
# fence not followed by another backtick.
_CODE_SPAN = re.compile(r"(`+).+?\1(?!`)")


def escape_message(text: str) -> str:
    """A message that may quote names from the data (an error's), as Markdown that renders
    it literally: its code spans (commands, paths: `code_span`) kept, as Markdown shows a
    code span's text as typed; everything else through `escape_markdown`, line by line."""
    lines = []
    for line in text.split("\n"):
        out, at = [], 0
        for m in _CODE_SPAN.finditer(line):
            out += [_escaped_between(line[at : m.start()]), m.group(0)]
            at = m.end()
        out.append(_escaped_between(line[at:]))
        lines.append("".join(out))
    return "\n".join(lines)


def _escaped_between(text: str) -> str:
    """escape_markdown of the text between code spans, the spaces at its ends kept (it
    flattens them away), so words do not run into the span."""
    if not text.strip():
        return " " if text else ""
    lead = " " if text[0].isspace() else ""
    trail = " " if text[-1].isspace() else ""
    return f"{lead}{escape_markdown(text)}{trail}"


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
