"""One amount per moment (issue 28, item 2): the amount at stake of a moment is the same
number on the Overview (Fix first / Invest next and the cards), Compare (the class matrix),
the Action plan (its table) and the report (its builder); no user-facing cell holds a
fraction of an outcome point, "None" or "nan"; the Overview's words agree with the banner."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cmot.present import report
from cmot.results.headline import CERTAINTY
from cmot.results.moments import find_moments
from cmot.results.summary import top_stakes
from cmot.store.datasets import Store
from cmot.store.demo import WAVES_NAME, ensure_demo
from tests.app.test_pages import APP, chart_frames, ok, texts
from tests.planted import read_as_text

ROW = re.compile(
    r"(▼ Fix|▲ Grow|◆ Improve)</span> \*\*(.+?)\*\*(?: for (.+?))?: \*\*(.+?)\*\* · .*>(.+?)<"
)
AMOUNT = re.compile(r"^\d+\.\d pts$")  # percentage points with one decimal, never 0.047


def first_screen_rows(at: AppTest) -> list[tuple[str, str, str, str, str]]:
    """(verb, touchpoint, segment, amount, certainty) of every Fix first / Invest next row."""
    rows = [ROW.search(str(m.value)) for m in at.markdown]
    # A row without "for <segment>" is about everyone (its list's heading says so).
    return [
        (m[1], m[2].replace("\\", ""), (m[3] or "everyone").replace("\\", ""), m[4], m[5])
        for m in rows
        if m
    ]


def clean(frame: pd.DataFrame) -> None:
    """Every cell a person reads: no None, nan or fraction of an outcome point."""
    for col in frame.columns:
        assert frame[col].dtype.kind != "f", f"{col}: numbers in a float column"
        text = frame[col].astype(str)
        assert not text.isin(["None", "nan", "NaN", "<NA>", ""]).any(), col


@pytest.fixture
def app(store_dir: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"dataset": "demo", "seg": "Segment"})
    return ok(at.run())


def test_the_amount_at_stake_is_one_number_on_every_page(app: AppTest, store_dir: Path) -> None:
    rows = first_screen_rows(app)
    fixes = [r for r in rows if r[0] == "▼ Fix"]
    grows = [r for r in rows if r[0] != "▼ Fix"]
    assert 1 <= len(fixes) <= 3 and 1 <= len(grows) <= 3
    assert {r[4] for r in rows} <= set(CERTAINTY)
    for verb, tp, seg, amount, sure in (fixes[0], grows[0]):
        assert AMOUNT.match(amount), amount
        # The card of that segment says the same amount and the same certainty.
        card = f"**{tp}** \\(at stake {amount.replace('.', chr(92) + '.')}, {sure}\\)"
        assert any(card.replace("\\", "") in str(m.value).replace("\\", "") for m in app.markdown)

        app.switch_page("pages/actions.py").run()
        app.selectbox(key="segment").set_value(seg).run()
        ok(app)
        plan = app.dataframe[0].value
        clean(plan)
        row = plan[plan.Touchpoint == tp].iloc[0]
        assert row["At stake"] == amount and row["How sure"] == sure
        assert row["What to do"] == ("Fix" if verb == "▼ Fix" else "Grow")

        app.switch_page("pages/compare.py").run()
        others = [s for s in app.multiselect(key="compare").options if s != seg]
        app.multiselect(key="compare").set_value([seg, others[0]]).run()
        ok(app)
        matrix = chart_frames(app, 0)[0]
        cell = matrix[(matrix.segment == seg) & (matrix.touchpoint == tp)]
        assert list(cell.text) == [f"{verb[0]} {amount.removesuffix(' pts')}"]
        clean(app.dataframe[0].value)
        app.switch_page("pages/overview.py").run()

    # The report's "Most at stake", from its builder, says the same amount for that moment.
    store = Store(store_dir)
    info = ensure_demo(store)
    result = find_moments(store.cursor(), info.table, info.spec, "Segment")
    segs = [str(s) for s in result.segments.segment if s != "All"]
    rep = report.Report(
        title="t", dataset="d", segmentation="Segment", segments=tuple(segs), filters="",
        headline="h", stakes=top_stakes(result, segs, n=len(result.moments)),
        matrix=pd.DataFrame(), differences=pd.DataFrame(), flips=(), charts=(), result=result,
    )  # fmt: skip
    text = report.report_html(rep)
    for _, tp, seg, amount, _ in (fixes[0], grows[0]):
        assert f"{tp} for {seg}: {amount} (" in "\n".join(report.stake_lines(rep))
        assert f"{tp} for {seg}: {amount}" in text.replace("&amp;", "&")


def test_the_first_screen_names_the_outcome_its_level_and_change(app: AppTest) -> None:
    (outcome,) = [m for m in app.metric if m.label.startswith("Would hire again")]
    assert outcome.value == "56.0%"
    # The demo's dates span 2026-01 to 2026-10: quarters, the last against the one before.
    assert read_as_text(outcome.delta).endswith(" pts since 2026-Q3, could be chance")
    assert "95%" in outcome.proto.help  # the interval on hover
    body = texts(app)
    assert "Fix first" in body and "Invest next" in body
    # The statistical terms live behind "How this is calculated" (and the sidebar), only.
    (how,) = [e for e in app.main.expander if e.label == "How this is calculated"]
    behind = {str(e.value) for kind in ("markdown", "caption") for e in how.get(kind)}
    assert any("Benjamini-Hochberg" in t for t in behind)
    shown = [
        str(e.value)
        for kind in ("markdown", "caption", "info", "warning")
        for e in app.main.get(kind)
        if str(e.value) not in behind
    ]
    for term in ("IA", "RIS", "α", "FDR", "Benjamini", "a − b", "read as 0", "HC3"):
        assert not any(re.search(rf"(?<!\w){re.escape(term)}(?!\w)", t) for t in shown), term


def test_cards_agree_with_a_banner_saying_no_segment_differs(app: AppTest) -> None:
    app.sidebar.selectbox(key="seg").set_value("Region").run()
    ok(app)
    body = texts(app)
    assert "No segment differs from another by more than chance" in body
    rows = first_screen_rows(app)
    assert rows and {r[2] for r in rows} == {"everyone"}  # no row is one region's finding
    assert "each card is that segment's own estimate" in body
    cards = [str(m.value) for m in app.markdown if "(at stake" in str(m.value)]
    assert cards and all(any(w in c for w in CERTAINTY) for c in cards)


RESULT_PAGES = ["overview", "journey", "moments", "compare", "trends", "actions", "alerts"]


def fractions_or_blanks(frame: pd.DataFrame) -> list[str]:
    """The cells of a table a person reads that show "None" or "nan" (a missing value, or
    its text) or a fraction of an outcome point (a float between -1 and 1 that is not 0:
    '0.047' where the page's unit is points), as 'column: value'."""
    bad = []
    for col in frame.columns:
        for v in frame[col]:
            missing = v is None or (isinstance(v, float) and v != v)
            missing = missing or str(v).strip() in ("None", "nan", "NaN", "<NA>", "NaT")
            if missing or (isinstance(v, float) and 0 < abs(v) < 1):
                bad.append(f"{col}: {v!r}")
    return bad


@pytest.mark.parametrize("page", RESULT_PAGES)
def test_no_table_on_a_results_page_shows_a_fraction_or_none(
    demo_waves_store: Store, page: str
) -> None:
    # By Segment on the demo; the Trends page on the demo waves (the demo's own dates are
    # not confirmed as waves), whose changes, fix check and trend are all tables.
    at = AppTest.from_file(APP, default_timeout=300)
    name = WAVES_NAME if page == "trends" else "demo"
    at.query_params.update({"dataset": name, "seg": "Segment"})
    ok(at.run())
    ok(at.switch_page(f"pages/{page}.py").run())
    tables = [d.value for d in at.dataframe]
    if page in ("journey", "moments", "actions", "compare", "trends"):
        assert tables, f"{page}: no table drawn"
    if page == "trends":
        assert len(tables) == 3, "changes, did the fix work, the trend"
    for i, frame in enumerate(tables):
        assert not fractions_or_blanks(frame), (page, i, fractions_or_blanks(frame)[:5])
