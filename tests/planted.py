"""A survey whose every name a page shows holds Markdown: a link, an image, maths, HTML, a
Material icon and a colour directive (issue 29 E): the dataset name, segment column, values
and labels, touchpoint columns and question texts, stage names, outcome, weight, id and
wave columns and a saved segmentation's name; and `unescaped_markdown`, which finds such
syntax where Markdown would render it.

Shared by tests/app/test_markdown_data.py (AppTest) and tests/e2e/test_markdown_browser.py.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace

import pandas as pd

from cmot.ingest.options import IngestOptions
from cmot.segments.modes import segment
from cmot.segments.records import save_segmentation
from cmot.spec import JourneySpec, Stage, Touchpoint, load_spec
from cmot.store.datasets import Store
from cmot.store.demo import COMMENT_COLUMN, DEMO_CSV, DEMO_SPEC, demo_comments
from cmot.store.intake import ingest
from cmot.store.versions import DatasetInfo

LINK = "[Session expired](http://evil.test/x)"
IMAGE = "![t](http://evil.test/pixel.png)"
MATHS = "$$x^2$$"
HTML = "<img src=x>"
ICON = ":material/skull: :red[alert]"  # an icon and a directive: drawn, not as typed
PLANTS = (LINK, IMAGE, MATHS, HTML, ICON)
EVIL = "evil.test"

NAME = f"Survey {LINK} {MATHS}"
SEGMENT = f"Segment {MATHS}"  # the segment column: its values planted, or labelled so
OUTCOME = f"Hire again {IMAGE}"
WEIGHT = f"Weight {LINK}"
ID = f"Client {HTML}"
WAVE = f"Wave {IMAGE}"  # a wave column: the Trends page and the Overview's headline change
WAVES = (f"W1 {LINK}", f"W2 {MATHS}")
SAVED = f"Clusters {LINK}"
# Two segments by their values in the file, two by value labels in the spec; one too small
# for a result (its reason, its collapsed card, the guardrails).
VALUES = {"Public agencies": f"Public {LINK}", "Private clients": f"Private {IMAGE}"}
TINY = f"Tiny {ICON}"
LABELS = {"Commercial developers": f"Commercial {MATHS}", "Industrial owners": f"Industrial {HTML}"}


def _plant(i: int, text: str) -> str:
    return f"{text} {PLANTS[i % len(PLANTS)]}"


def planted_survey(store: Store, rows: int = 3000) -> DatasetInfo:
    """Store the planted survey (the demo's first `rows` respondents, renamed) and a saved
    segmentation SAVED of it; returns the dataset."""
    data, planted = planted_file(rows)
    options = IngestOptions(spec=planted, max_bytes=1 << 40, max_rows=1 << 40)
    info, _ = ingest(store, data, NAME, options, "planted.csv")
    seg = segment(store.cursor(), info.table, info.spec, "given", [SEGMENT])
    save_segmentation(store, info.id, SAVED, seg, replace=True)
    return info


def planted_file(rows: int = 3000) -> tuple[bytes, JourneySpec]:
    """The planted survey as a CSV file (its column names planted) and its journey spec
    (stage names and question texts planted too)."""
    spec = load_spec(DEMO_SPEC)
    frame = pd.read_csv(DEMO_CSV).head(rows)
    frame[COMMENT_COLUMN] = demo_comments(frame)
    frame["Segment"] = frame["Segment"].replace(VALUES)
    frame.loc[frame.index[:25], "Segment"] = TINY
    frame[WAVE] = [WAVES[i % 2] for i in range(len(frame))]
    tps = spec.touchpoint_columns
    # Even touchpoints planted in the column's name, odd ones in the question text.
    renamed = {c: _plant(i, c) for i, c in enumerate(tps) if i % 2 == 0}
    renamed |= {
        "Segment": SEGMENT,
        spec.outcome.column: OUTCOME,
        "Weight": WEIGHT,
        "Client ID": ID,
    }
    frame = frame.rename(columns=renamed)

    def col(c: str) -> str:
        return renamed.get(c, c)

    touchpoints = tuple(
        Touchpoint(col(t.column), _plant(i, t.column) if i % 2 else t.label, t.tags)
        for i, t in enumerate(spec.touchpoints)
    )
    stages = tuple(
        Stage(_plant(i + 1, s.name), tuple(col(c) for c in s.touchpoints))
        for i, s in enumerate(spec.stages)
    )
    planted = replace(
        spec,
        stages=stages,
        touchpoints=touchpoints,
        outcome=replace(spec.outcome, column=OUTCOME),
        id_column=ID,
        weight_column=WEIGHT,
        segments=tuple(col(c) for c in spec.segments),
        attributes=(*(col(c) for c in spec.attributes), WAVE),
        labels={SEGMENT: LABELS},
        comments=(COMMENT_COLUMN,),
        # Confirmed as the waves: the Overview's headline change and the Trends page.
        wave_column=WAVE,
    )
    return frame.to_csv(index=False).encode(), planted


# Markdown syntax that draws something from text: a link or image, maths, an HTML tag, a bare
# address, a Material icon, a directive (:red[...], :small[...]). Searched after every
# backslash-escaped character is blanked out: `\[` is text, `[` may be a link.
_ESCAPED = re.compile(r"\\[!-/:-@\[-`{-~]")
_SYNTAX = {
    "link": re.compile(r"\[[^\]]*\]\("),
    "image": re.compile(r"!\["),
    "maths": re.compile(r"\$"),
    "html": re.compile(r"<\s*(?:img|a|script|iframe|svg)\b", re.I),
    "address": re.compile(r"https?:/|\bwww\.", re.I),
    "icon": re.compile(r":material/"),
    "directive": re.compile(r":[a-z-]+\["),
}


def unescaped_markdown(text: str) -> list[str]:
    """The kinds of Markdown syntax in `text` that would render (link, image, maths, html,
    address, icon, directive), each once; [] when `text` reads literally."""
    plain = _ESCAPED.sub("\x00", text)
    return [kind for kind, pattern in _SYNTAX.items() if pattern.search(plain)]


def read_as_text(markdown: str) -> str:
    """What a reader sees of escaped Markdown: backslash escapes, word joiners and HTML
    entities undone (tests compare the engine's sentences with what a page says)."""
    return html.unescape(_ESCAPED.sub(lambda m: m.group()[1], markdown).replace("\u2060", ""))
