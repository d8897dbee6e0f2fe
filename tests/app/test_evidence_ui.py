"""AppTest: comments as evidence on the Moments and Action plan pages, the viewer setting and
the comment role of the mapping (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cmot.store.demo import comment_themes
from cmot.ui.auth import QUOTES_HIDDEN
from cmot.ui.evidence import NO_COMMENTS
from tests.app.test_pages import APP, ok


def _texts(at: AppTest) -> str:
    kinds = ("markdown", "caption", "info", "warning")
    return "\n".join(str(e.value) for kind in kinds for e in at.get(kind))


@pytest.fixture
def moments(store_dir: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"segment": "Public agencies"})
    at.run()
    at.switch_page("pages/moments.py").run()
    return ok(at)


def test_panel_shows_the_planted_theme_among_the_top_quotes(moments: AppTest) -> None:
    body = _texts(moments)
    assert "Concerns (bottom box)" in body and "What delights (top box)" in body
    assert "raters commented (" in body
    themes = comment_themes()
    want = themes[(themes.segment == "Public agencies") & (themes.touchpoint == "Invoicing")]
    moments.selectbox(key="ev_tp").set_value("Invoicing").run()
    ok(moments)
    quotes = [str(m.value) for m in moments.markdown if str(m.value).startswith("> ")]
    assert quotes, "top quotes shown to an analyst"
    theme = str(want.theme.iat[0])  # billing errors (low side)
    assert any(theme in q.lower() for q in quotes[:3]), quotes
    assert moments.query_params["ev_tp"] in ("Invoicing", ["Invoicing"])
    terms = [d.value for d in moments.dataframe if "term" in d.value.columns]
    assert any(theme.split()[0] in " ".join(t.term) for t in terms)


def test_touchpoint_switch_and_url_round_trip(store_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"segment": "Private clients", "ev_tp": "Pricing clarity"})
    at.run()
    at.switch_page("pages/moments.py").run()
    ok(at)
    assert at.selectbox(key="ev_tp").value == "Pricing clarity"
    quotes = [str(m.value) for m in at.markdown if str(m.value).startswith("> ")]
    assert any("hidden fees" in q.lower() for q in quotes), quotes
    at.selectbox(key="ev_tp").set_value("Project kickoff").run()
    ok(at)
    quotes = [str(m.value) for m in at.markdown if str(m.value).startswith("> ")]
    assert any("kickoff meeting" in q.lower() for q in quotes), quotes


def test_viewers_see_counts_but_no_quotes_unless_allowed(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMOT_OPEN_ROLE", "viewer")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/moments.py").run()
    ok(at)
    body = _texts(at)
    assert QUOTES_HIDDEN in body and "raters commented (" in body
    assert not [m for m in at.markdown if str(m.value).startswith("> ")]
    monkeypatch.setenv("CMOT_VIEWERS_SEE_COMMENTS", "true")
    at.run()
    ok(at)
    assert QUOTES_HIDDEN not in _texts(at)
    assert [m for m in at.markdown if str(m.value).startswith("> ")]


def test_action_plan_quotes_and_delight_list(store_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/actions.py").run()
    ok(at)
    body = _texts(at)
    assert "In their words" in body
    assert "“" in body  # quotes beside the items
    ids = " ".join(b.proto.id for b in at.get("download_button"))
    assert "delight_table_csv" in ids and "at_risk_table_csv" in ids
    assert "delight_table_unmasked" in ids  # analysts: comments as written, to follow up
    heads = [h.value for h in at.subheader]
    assert "Delighted respondents" in heads and "At-risk respondents" in heads
    tables = [d.value for d in at.dataframe]
    assert any("Comment" in t.columns and "high ratings" in t.columns for t in tables)


def test_no_comment_column_says_how_to_mark_one(store_dir: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from cmot.ingest.options import IngestOptions
    from cmot.spec import load_spec
    from cmot.store.datasets import Store
    from cmot.store.demo import COMMENT_COLUMN, DEMO_CSV, DEMO_SPEC
    from cmot.store.intake import ingest

    store = Store(store_dir)
    spec = replace(load_spec(DEMO_SPEC), comments=())
    assert COMMENT_COLUMN not in spec.comments
    ingest(store, DEMO_CSV, "plain", IngestOptions(spec=spec))
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update({"dataset": "plain"})
    at.run()
    at.switch_page("pages/moments.py").run()
    ok(at)
    assert NO_COMMENTS in _texts(at)


NASTY = (
    "<script>alert(1)</script> [click](http://evil.example) =cmd|' /C calc'!A0 "
    "jane.doe@example.com +1 (310) 555-0100 Zürich ☺ 東京"
)


@pytest.mark.parametrize("unicode_font", [True, False])
def test_report_evidence_section_is_escaped_masked_and_survives_any_font(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch, unicode_font: bool
) -> None:
    import io

    from pypdf import PdfReader

    from cmot.present import pdf_layout, report
    from cmot.results.moments import find_moments
    from cmot.results.summary import top_stakes
    from cmot.store.datasets import Store
    from cmot.store.demo import ensure_demo

    if not unicode_font:
        monkeypatch.setattr(pdf_layout, "FONT_PATHS", ["/nonexistent/DejaVuSans.ttf"])
    store = Store(store_dir)
    info = ensure_demo(store)
    result = find_moments(store.cursor(), info.table, info.spec, "Segment")
    line = report.evidence_lines("Public agencies", "Invoicing", "low", 40, 90, ["billing"], NASTY)
    assert "jane.doe" not in line and "555-0100" not in line and "[email]" in line
    rep = report.Report(
        title="Comparison", dataset="demo", segmentation="Segment", segments=("Public agencies",),
        filters="", headline="x", stakes=top_stakes(result, ["Public agencies"]),
        matrix=report.matrix_table(result, ["Public agencies"]),
        differences=pd.DataFrame(), flips=(), charts=(), result=result, evidence=(line,),
    )  # fmt: skip
    page = report.report_html(rep)
    assert "What raters say" in page and "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<a " not in page and "jane.doe" not in page
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(report.report_pdf(rep))).pages)
    text = " ".join(text.split())  # lines wrap where the page ends
    assert "What raters say" in text and "40 of 90 raters commented" in text
    assert "jane.doe" not in text


def _demo_csv_with_comments(rows: int = 800) -> bytes:
    from cmot.store.demo import COMMENT_COLUMN, DEMO_CSV, demo_comments

    frame = pd.read_csv(DEMO_CSV).head(rows)
    frame[COMMENT_COLUMN] = demo_comments(frame)
    # A second free-text column the detection may not propose: the analyst adds it.
    frame["Invoice remark"] = [
        f"Invoice {i} arrived {'late' if i % 3 else 'on time'}" if i % 2 else None
        for i in range(len(frame))
    ]
    return frame.to_csv(index=False).encode()


def test_mapping_proposes_comments_adds_one_links_it_and_saves(store_dir: Path) -> None:
    from cmot.store.datasets import Store

    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="upload").set_value(
        ("with_comments.csv", _demo_csv_with_comments(), "text/csv")
    ).run()
    ok(at)
    assert "Comment" in at.multiselect(key="map_comments").value, "detected comments proposed"
    assert "Comment" not in at.selectbox(key="map_outcome").options
    chosen = [*at.multiselect(key="map_comments").value, "Invoice remark"]
    at.multiselect(key="map_comments").set_value(chosen).run()
    ok(at)
    assert set(at.multiselect(key="map_comments").value) == {"Comment", "Invoice remark"}
    assert "Invoice remark" not in at.selectbox(key="map_outcome").options
    at.selectbox(key="map_link_Invoice remark").set_value("Invoicing").run()
    ok(at)
    if not at.selectbox(key="map_outcome").value:
        at.selectbox(key="map_outcome").set_value("Would hire again").run()
    at.text_input(key="upload_name").set_value("commented").run()
    at.button(key="upload_save").click().run()
    ok(at)
    spec = Store().get_dataset("commented").spec
    assert set(spec.comments) == {"Comment", "Invoice remark"}
    assert dict(spec.comment_links) == {"Invoice remark": "Invoicing"}
    assert not set(spec.comments) & set(spec.touchpoint_columns)
    assert spec.outcome.column not in spec.comments


def test_terms_never_show_pieces_of_an_email_or_a_phone() -> None:
    from cmot.feedback.evidence import find_evidence, moment_terms

    n = 40
    frame = pd.DataFrame(
        {
            "__id": range(n),
            "a": [1 if i < 20 else 5 for i in range(n)],
            "b": [3] * n,
            "c": [
                f"hidden fees, call +1 (310) 555-0100 or jane.doe@example.com {i}"
                if i < 20
                else f"all fine thanks {i}"
                for i in range(n)
            ],
        }
    )
    terms = moment_terms(frame, "a", {"c": None}, "low", low_max=2, high_min=5)
    assert "hidden fees" in set(terms.term)
    shown = " ".join([*terms.term, *terms.example])
    assert not any(p in shown for p in ("310", "555", "0100", "jane", "doe", "example"))
    found = find_evidence(frame, ["a", "b"], {"c": None}, low_max=2, high_min=5, id_col="__id")
    said = " ".join([*found.quotes.term, *found.quotes.quote])
    assert not any(p in said for p in ("310", "555", "0100", "jane", "doe", "example.com"))


def test_viewers_get_no_quotes_or_comment_column_on_the_action_plan(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CMOT_OPEN_ROLE", "viewer")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/actions.py").run()
    ok(at)
    body = _texts(at)
    assert QUOTES_HIDDEN in body and "“" not in body
    assert not any("Comment" in d.value.columns for d in at.dataframe)
    assert not any(b.proto.id and "unmasked" in b.proto.id for b in at.get("download_button"))


def test_mapping_removes_a_comment_column(store_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="upload").set_value(
        ("with_comments.csv", _demo_csv_with_comments(), "text/csv")
    ).run()
    ok(at)
    at.multiselect(key="map_comments").set_value([]).run()
    ok(at)
    assert at.multiselect(key="map_comments").value == []
    table = at.dataframe(key=at.session_state["map_roles_key"]).value.set_index("column")
    assert table.role["Comment"] == "ignore"
    assert not [s for s in at.selectbox if str(s.key).startswith("map_link_")]
