"""Names from the data never render as Markdown (issue 29 E): on a survey whose dataset name,
segments, touchpoints, stages, outcome, weight, id and waves hold a link, an image, maths and
HTML, every page's Markdown (text, captions, alerts, headings, widget labels and help, radio
options, expander and tab labels, metric labels) shows them escaped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cmot.results.moments import clear_cache
from cmot.store.datasets import Store
from cmot.text import escape_markdown
from tests.app.test_pages import APP, ok
from tests.planted import (
    HTML,
    IMAGE,
    LINK,
    MATHS,
    NAME,
    PLANTS,
    SAVED,
    SEGMENT,
    TINY,
    WAVE,
    WEIGHT,
    planted_file,
    planted_survey,
    unescaped_markdown,
)

PAGES = ["overview", "journey", "moments", "compare", "trends", "actions", "segments", "data"]
# Elements whose `body` is Markdown (st.markdown, st.caption, alerts, titles and headers);
# every element's `label` and `help` are, and a radio's options and captions.
BODY = {"Markdown", "Alert", "Heading"}


def markdown_strings(at: AppTest) -> Iterator[tuple[str, str]]:
    """(where, text) of every string the app sent that Streamlit renders as Markdown."""

    def walk(node: object) -> Iterator[tuple[str, str]]:
        proto = getattr(node, "proto", None)
        if proto is not None:
            name = proto.DESCRIPTOR.name
            kind = proto.WhichOneof("type") if name == "Block" else None
            inner = getattr(proto, kind) if kind else proto
            fields = inner.DESCRIPTOR.fields_by_name
            for field in ("label", "help"):
                if field in fields and getattr(inner, field):
                    yield f"{kind or name}.{field}", getattr(inner, field)
            if name in BODY:
                yield f"{name}.body", proto.body
            if name == "Radio":
                for text in (*proto.options, *proto.captions):
                    yield "Radio.option", text
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    yield from walk(at.main)
    yield from walk(at.sidebar)


def rendered_problems(at: AppTest) -> list[tuple[str, list[str], str]]:
    return [
        (where, found, text)
        for where, text in markdown_strings(at)
        if (found := unescaped_markdown(text))
    ]


def pick_waves(at: AppTest) -> None:
    """The Trends page on the planted wave column (offered, if not yet the default)."""
    waves = at.selectbox(key="wave")
    if waves.value != WAVE:
        ok(waves.set_value(WAVE).run())


@pytest.fixture
def app(store_dir: Path) -> AppTest:
    clear_cache()  # the engine caches per dataset id, and every test's store starts at 1
    planted_survey(Store(store_dir))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["dataset"] = NAME
    return ok(at.run())


def test_the_detector_finds_what_renders_and_passes_what_is_escaped() -> None:
    assert unescaped_markdown(LINK) == ["link", "address"]
    assert unescaped_markdown(IMAGE) == ["link", "image", "address"]
    assert unescaped_markdown(MATHS) == ["maths"]
    assert unescaped_markdown(HTML) == ["html"]
    assert unescaped_markdown("warn :material/warning: :red[x] www.evil.test") == [
        "address",
        "icon",
        "directive",
    ]
    assert unescaped_markdown("**Segment** and class lines: <span style='x'>▼</span>") == []
    for text in (LINK, IMAGE, MATHS, HTML, ":material/warning: :red[x] www.x.y <http://a.b>"):
        assert unescaped_markdown(escape_markdown(text)) == [], escape_markdown(text)


def test_no_page_renders_markdown_from_the_data(app: AppTest) -> None:
    seen = ""
    for seg in (SEGMENT, f"saved: {SAVED}"):
        app.sidebar.selectbox(key="seg").set_value(seg).run()
        for page in PAGES:
            ok(app.switch_page(f"pages/{page}.py").run())
            if page == "trends":
                pick_waves(app)
            problems = rendered_problems(app)
            assert not problems, (seg, page, problems)
            texts = [t for _, t in markdown_strings(app)]
            shown = "\n".join(texts)
            if (page, seg) != ("segments", SEGMENT):  # its tables are no Markdown
                assert "Session expired" in shown or "x^2" in shown, (seg, page, "no plant")
            seen += shown
    # Every kind of plant reached a page, escaped: the test looked where it matters.
    for plant in PLANTS:
        assert escape_markdown(plant) in seen, plant


def test_a_segment_too_small_for_a_result_says_so_escaped(app: AppTest) -> None:
    """Its collapsed card, its reason, the guardrails and the Trends page's warnings."""
    ok(app.sidebar.selectbox(key="seg").set_value(SEGMENT).run())
    shown = [t for _, t in markdown_strings(app)]
    assert any("insufficient data" in t and "Tiny" in t for t in shown), shown
    ok(app.switch_page("pages/moments.py").run())
    ok(app.selectbox(key="segment").set_value(TINY).run())
    assert app.warning, "the segment has no result, and the page says why"
    assert not rendered_problems(app)
    ok(app.switch_page("pages/trends.py").run())
    pick_waves(app)
    ok(app.selectbox(key="wave_seg").set_value(TINY).run())
    assert any("Tiny" in str(w.value) for w in app.warning)
    assert not rendered_problems(app)


def test_the_mapping_of_a_planted_file_renders_no_markdown_from_it(app: AppTest) -> None:
    data, _ = planted_file(600)
    app.switch_page("pages/data.py").run()
    ok(app.file_uploader(key="upload").set_value(("planted.csv", data, "text/csv")).run())
    assert app.selectbox(key="map_outcome").options, "the mapping is on the page"
    assert not rendered_problems(app)
    shown = "\n".join(t for _, t in markdown_strings(app))
    assert escape_markdown(SEGMENT) in shown or escape_markdown(WEIGHT) in shown
