"""AppTest: the Trends page on the demo waves: every widget path, exports, URL state, and what
it says when the data cannot support a number or the dataset has no waves."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cmot.ingest.options import IngestOptions
from cmot.present.tables import trend_rows
from cmot.results.moments import ALL
from cmot.results.trend import compute_trend
from cmot.settings import Settings
from cmot.spec import JourneySpec, load_spec
from cmot.store.datasets import Store
from cmot.store.demo import (
    DEMO_CSV,
    DEMO_NAME,
    DEMO_SPEC,
    WAVE_COLUMN,
    WAVE_LABELS,
    WAVES_NAME,
    demo_spec,
    ensure_demo,
    ensure_demo_waves,
    generate_waves,
)
from cmot.store.intake import ingest
from cmot.ui.frame import UNEXPECTED
from cmot.ui.trends import looks_like_wave
from cmot.waves.sources import waves_from_link
from tests.conftest import ROOT
from tests.planted import read_as_text

APP = str(ROOT / "app.py")
PAGE = "pages/trends.py"


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    caught = [e.value for e in at.error if UNEXPECTED in str(e.value)]
    assert not caught, caught
    return at


def open_trends(dataset: str, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"dataset": dataset, **params})
    at.run()
    return ok(at.switch_page(PAGE).run())


def body(at: AppTest) -> str:
    kinds = ("markdown", "caption", "info", "warning", "subheader")
    # As read: names from the data are escaped for Markdown on the page.
    return read_as_text("\n".join(str(e.value) for kind in kinds for e in at.get(kind)))


def specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def param(at: AppTest, key: str) -> str:
    v = at.query_params[key]
    return v[0] if isinstance(v, list) else v


@pytest.fixture
def waves(demo_waves_store: Store) -> Store:
    return demo_waves_store  # the demo and its waves, copied from the session's template


def test_the_demo_waves_open_on_the_wave_column_and_the_last_two_waves(waves: Store) -> None:
    at = open_trends(WAVES_NAME)
    assert at.selectbox(key="wave").value == "Wave"
    assert at.radio(key="wave_by").disabled  # a wave column's values are its waves
    assert (at.selectbox(key="wave_from").value, at.selectbox(key="wave_to").value) == (
        "2026",
        "2027",
    )
    text = body(at)
    for part in ("Migration", "Significant changes, 2026 → 2027", "Did the fix work"):
        assert part in text
    assert "At stake across waves" in text
    assert len(at.get("vega_lite_chart")) == 2  # migration and at-stake trend
    labels = [d.proto.label for d in at.get("download_button")]
    assert labels.count("PNG") == 2 and labels.count("SVG") == 2 and labels.count("CSV") >= 2
    names = {d.proto.label: None for d in at.get("download_button")}
    assert names


def test_the_planted_fix_and_the_emerging_opportunity_are_on_the_page(waves: Store) -> None:
    truth = generate_waves().changes
    fixed, emerging = truth.iloc[0], truth.iloc[1]
    at = open_trends(WAVES_NAME)
    at.selectbox(key="wave_seg").set_value(fixed.segment).run()
    at.selectbox(key="wave_from").set_value(fixed.from_wave).run()
    at.selectbox(key="wave_to").set_value(fixed.to_wave).run()
    ok(at)
    text = body(at)
    assert f"{fixed.touchpoint} ({fixed.segment}), a vulnerability in {fixed.from_wave}" in text
    assert "risk removed" in text or "risk reduced" in text
    at.selectbox(key="wave_seg").set_value(emerging.segment).run()
    at.selectbox(key="wave_from").set_value(emerging.from_wave).run()
    at.selectbox(key="wave_to").set_value(emerging.to_wave).run()
    ok(at)
    assert f"- {emerging.touchpoint} ({emerging.segment}), {emerging.from_wave} to" in body(at)
    assert param(at, "wave_seg") == emerging.segment


def test_a_date_column_groups_by_period(waves: Store) -> None:
    at = open_trends(WAVES_NAME)
    at.selectbox(key="wave").set_value("Survey date").run()
    ok(at)
    assert not at.radio(key="wave_by").disabled
    assert at.radio(key="wave_by").value == "year"  # the waves span three years
    assert at.selectbox(key="wave_to").value == "2027"
    at.radio(key="wave_by").set_value("quarter").run()
    ok(at)
    assert param(at, "wave_by") == "quarter"
    assert all("-Q" in w for w in at.selectbox(key="wave_from").options)


def test_a_survey_of_one_year_opens_by_quarter(waves: Store) -> None:
    at = open_trends("demo")  # the demo's dates lie within 2026, and no waves are confirmed
    assert at.selectbox(key="wave").value == ""  # nothing taken as waves unconfirmed
    assert "No column of this dataset is confirmed as its waves" in body(at)
    assert not at.get("vega_lite_chart")
    ok(at.selectbox(key="wave").set_value("Survey date").run())
    assert at.radio(key="wave_by").value == "quarter"
    assert at.selectbox(key="wave_to").value.startswith("2026-Q")


def test_the_plane_toggle_redraws_the_migration_chart(waves: Store) -> None:
    at = open_trends(WAVES_NAME)
    before = json.dumps(specs(at)[0])
    assert "penalty_k" in before and "reward_k" in before
    at.radio(key="plane").set_value("impact-asymmetry").run()
    ok(at)
    after = json.dumps(specs(at)[0])
    assert "ris_k" in after and '"ia"' in after
    assert param(at, "plane") == "impact-asymmetry"


def test_the_url_opens_the_same_view(waves: Store) -> None:
    at = open_trends(WAVES_NAME)
    at.selectbox(key="wave_seg").set_value("Private clients").run()
    at.selectbox(key="wave_from").set_value("2025").run()
    at.radio(key="plane").set_value("impact-asymmetry").run()
    ok(at)
    link = {k: param(at, k) for k in ("wave", "wave_by", "wave_seg", "wave_from", "wave_to")}
    link["plane"] = param(at, "plane")
    assert link["wave_to"] == "2027"  # still a later wave: the choice stands
    again = open_trends(WAVES_NAME, **link)
    for key, value in link.items():
        widget = again.radio(key=key) if key in ("wave_by", "plane") else again.selectbox(key=key)
        assert str(widget.value) == value, key


def test_a_segment_too_small_in_a_wave_says_so(store_dir: Path) -> None:
    store = Store(store_dir)
    ensure_demo(store)
    w = generate_waves(300)
    frame = w.frame.copy()
    # Five respondents of the first wave and five of the second form a segment of their own.
    for label in ("2025", "2026"):
        idx = frame.index[frame.Wave == label][:5]
        frame.loc[idx, "Segment"] = "Tiny"
    data = frame.to_csv(index=False).encode()
    ingest(store, data, "tiny", IngestOptions(spec=w.spec), source_name="tiny.csv")
    at = open_trends("tiny", wave_seg="Tiny", wave_from="2025")
    warnings = [str(x.value) for x in at.warning]
    assert any("Wave 2025: Tiny has n = 5, too few for a result" in x for x in warnings)
    assert any("Wave 2027: Tiny has n = 0" in x for x in warnings)
    text = body(at)
    assert "cannot tell" in text or "No significant change for Tiny" in text


def test_a_dataset_without_waves_says_what_to_do_and_opens_the_demo_waves(
    store_dir: Path,
) -> None:
    store = Store(store_dir)
    ensure_demo(store)
    spec = replace(load_spec(DEMO_SPEC), date_column=None, segments=(), attributes=())
    ingest(store, DEMO_CSV, "flat", IngestOptions(spec=spec))
    at = open_trends("flat")
    assert "no column to take waves from" in body(at)
    assert "map a date column" in body(at) and "Link datasets as waves" in body(at)
    at.button(key="demo_waves").click().run()
    ok(at)
    assert at.sidebar.selectbox(key="dataset").value == WAVES_NAME
    assert at.selectbox(key="wave").value == "Wave"


def test_a_viewer_cannot_open_the_demo_waves_which_would_save_a_dataset(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 29 F: "Open the demo waves" saved demo-waves to the shared store for a viewer."""
    monkeypatch.setenv("CMOT_OPEN_ROLE", "viewer")
    store = Store(store_dir)
    ensure_demo(store)
    spec = replace(load_spec(DEMO_SPEC), date_column=None, segments=(), attributes=())
    ingest(store, DEMO_CSV, "flat", IngestOptions(spec=spec))
    at = open_trends("flat")
    assert not [b for b in at.button if b.key == "demo_waves"]
    assert "An analyst can open the demo waves" in body(at)
    assert WAVES_NAME not in {d.name for d in store.list_datasets()}


def test_wave_names() -> None:
    assert looks_like_wave("Wave") and looks_like_wave("quarte") and looks_like_wave("survey_year")
    assert not looks_like_wave("Years as client") and not looks_like_wave("Region")


def test_the_overview_says_the_headline_change_only_with_waves(waves: Store) -> None:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["dataset"] = WAVES_NAME
    ok(at.run())
    infos = [read_as_text(str(i.value)) for i in at.info]  # as read: names are escaped
    lead = "Biggest change between the last two waves: "
    none = "No significant change between the waves 2026 → 2027"
    assert any((i.startswith(lead) and "2026 to 2027" in i) or i.startswith(none) for i in infos), (
        infos
    )
    plain = AppTest.from_file(APP, default_timeout=300)
    plain.query_params["dataset"] = "demo"  # dates within one year: no waves for a headline
    ok(plain.run())
    assert not any("change" in str(i.value).lower() and "→" in str(i.value) for i in plain.info)


def test_the_comparison_report_has_a_trend_section_with_waves(waves: Store) -> None:
    import io

    from pypdf import PdfReader

    from cmot.present.report import report_html, report_pdf
    from cmot.results.compare import compare_segments, find_flips
    from cmot.results.moments import find_moments
    from cmot.ui.report import build_report

    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["dataset"] = WAVES_NAME
    ok(at.run())
    view = at.session_state["view"]
    result = find_moments(
        waves.cursor(),
        view.relation,
        view.info.spec,
        view.columns,
        view.settings,
        params=view.params,
    )
    chosen = ["Public agencies", "Private clients"]
    diffs = compare_segments(result, *chosen)
    rep = build_report(view, result, chosen, diffs, find_flips(result))
    assert rep.trend is not None and rep.trend.waves == "Wave, 2026 → 2027"
    page = report_html(rep)
    assert "Significant changes (Wave, 2026 → 2027)" in page and "Did the fix work" in page
    for line in rep.trend.fixes:
        assert line.split(":")[0] in page
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(report_pdf(rep))).pages)
    assert "Did the fix work" in text
    flat = AppTest.from_file(APP, default_timeout=300)
    flat.query_params["dataset"] = "demo"
    ok(flat.run())
    plain = flat.session_state["view"]
    res = find_moments(
        waves.cursor(),
        plain.relation,
        plain.info.spec,
        plain.columns,
        plain.settings,
        params=plain.params,
    )
    no_waves = build_report(plain, res, chosen, compare_segments(res, *chosen), find_flips(res))
    assert no_waves.trend is None and "Did the fix work" not in report_html(no_waves)


def test_migration_chart_specs(store_dir: Path) -> None:
    from cmot.present import trend_charts
    from cmot.results.trend import compute_trend
    from cmot.ui.trends import at_stake_rows
    from cmot.waves.sources import waves_from_column

    store = Store(store_dir)
    info = ensure_demo_waves(store)
    src = waves_from_column(store.cursor(), info.table, info.spec, "Wave")
    result = compute_trend(src, "Segment")
    rows = result.trend[result.trend.segment == "Private clients"]
    for plane in trend_charts.MIGRATION_PLANES:
        spec = trend_charts.migration(rows, result.unit, plane).to_dict()  # validates the schema
        assert json.dumps(spec, allow_nan=False)
        empty = trend_charts.migration(rows.iloc[:0], result.unit, plane).to_dict()
        assert json.dumps(empty, allow_nan=False)  # no NaN reaches the browser's JSON
    stake = at_stake_rows(result, "Private clients", list(rows.touchpoint.unique()))
    assert set(stake.wave) == {"2025", "2026", "2027"}
    assert json.dumps(trend_charts.at_stake_trend(stake, result.unit).to_dict())
    with pytest.raises(ValueError, match="plane must be one of"):
        trend_charts.migration(rows, result.unit, "sideways")


@pytest.fixture
def linked(store_dir: Path, tmp_path: Path) -> Store:
    """The demo and the demo waves stored unweighted as three datasets, one per wave (the
    wave column dropped), linked as "waves"; wave 2027 renames Invoicing."""
    store = Store(store_dir)
    ensure_demo(store)
    data = generate_waves(n_per_segment=150, seed=3)
    ids = []
    for label in WAVE_LABELS:
        part = data.frame[data.frame[WAVE_COLUMN] == label].drop(columns=WAVE_COLUMN)
        spec = replace(demo_spec(), weight_column=None)  # the demo itself is weighted
        if label == WAVE_LABELS[-1]:
            part = part.rename(columns={"Invoicing": "invoices"})
            spec = rename_touchpoint(spec, "Invoicing", "invoices")
        path = tmp_path / f"wave_{label}.csv"
        part.to_csv(path, index=False)
        info, _ = ingest(store, path, f"wave {label}", IngestOptions(spec=spec))
        ids.append(info.id)
    store.save_link("waves", ids, list(WAVE_LABELS), {ids[2]: {"invoices": "Invoicing"}})
    return store


def rename_touchpoint(spec: JourneySpec, old: str, new: str) -> JourneySpec:
    tps = tuple(replace(t, column=new) if t.column == old else t for t in spec.touchpoints)
    stages = tuple(
        replace(s, touchpoints=tuple(new if c == old else c for c in s.touchpoints))
        for s in spec.stages
    )
    return replace(spec, touchpoints=tps, stages=stages)


def test_a_link_is_a_wave_source_and_the_default_without_a_wave_column(linked: Store) -> None:
    # A dataset of the link has no wave column: the link is the default source.
    at = open_trends("wave 2025")
    assert at.selectbox(key="wave").value == "link:waves"
    assert param(at, "wave") == "link:waves"
    assert "Linked: waves (3 datasets: wave 2025 v1, wave 2026 v1, wave 2027 v1)" in (
        at.selectbox(key="wave").format_func("link:waves")
    )
    assert "the sidebar's filters and saved segmentations" in body(at)
    # The page shows what compute_trend makes of the link's waves, Invoicing included in
    # the last wave under its first-wave name.
    expected = compute_trend(waves_from_link(linked, linked.get_link("waves")), (), Settings())
    assert (at.selectbox(key="wave_from").value, at.selectbox(key="wave_to").value) == (
        "2026",
        "2027",
    )
    trend_table = [t.value for t in at.dataframe if "Wave" in t.value.columns][-1]
    mine = expected.trend[expected.trend.segment == ALL]
    assert len(trend_table) == len(mine)
    assert "Invoicing" in set(trend_table[trend_table.Wave == "2027"].Touchpoint)
    shown = trend_rows(mine.reset_index(drop=True), expected.unit)
    assert list(trend_table["Low rating costs"]) == list(shown["Low rating costs"])


def test_a_link_follows_the_view_segments_and_round_trips_in_the_url(linked: Store) -> None:
    # The demo has Wave-free columns of its own; pick the link, segmented by Segment.
    at = open_trends(DEMO_NAME, wave="link:waves", seg="Segment", wave_seg="Public agencies")
    assert at.selectbox(key="wave").value == "link:waves"
    assert at.selectbox(key="wave_seg").value == "Public agencies"
    again = open_trends(DEMO_NAME, **{k: param(at, k) for k in ("wave", "seg", "wave_seg")})
    assert again.selectbox(key="wave").value == "link:waves"
    assert again.selectbox(key="wave_seg").value == "Public agencies"
    # Said as the link's waves were analysed (unweighted), not as the demo is (weighted).
    assert any(str(c.value).startswith("**Unweighted**") for c in again.caption)
    assert not any("Weighted by" in str(c.value) for c in again.caption)


def test_a_deleted_link_in_a_shared_url_says_so(linked: Store) -> None:
    linked.delete_link("waves")
    at = open_trends(DEMO_NAME, wave="link:waves")
    warnings = " ".join(str(w.value) for w in at.warning)
    assert "No datasets are linked as 'waves' any more" in warnings
    assert at.selectbox(key="wave").value != "link:waves"


def _copy(store: Store, name: str, copy: str) -> None:
    info = store.get_dataset(name)
    store.save_query(
        copy,
        f"SELECT * FROM {info.table}",
        [],
        info.spec,
        info.report,
        info.source_name,
        info.source_sha256,
    )


def test_another_dataset_forgets_the_waves(waves: Store) -> None:
    # The same waves under another name: every old choice would still be valid there, so
    # only forgetting (DATASET_STATE) brings the defaults back.
    _copy(waves, WAVES_NAME, "waves copy")
    at = open_trends(WAVES_NAME, wave_from="2025", wave_seg="Public agencies")
    assert at.selectbox(key="wave_from").value == "2025"
    ok(at.sidebar.selectbox(key="dataset").set_value("waves copy").run())
    assert (param(at, "wave_from"), param(at, "wave_seg")) == ("2026", ALL)  # the defaults
    assert (at.selectbox(key="wave_from").value, at.selectbox(key="wave_seg").value) == (
        "2026",
        ALL,
    )


def test_another_dataset_forgets_the_evidence_touchpoint(waves: Store) -> None:
    _copy(waves, DEMO_NAME, "demo copy")
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["dataset"] = DEMO_NAME
    ok(at.run())
    ok(at.switch_page("pages/moments.py").run())
    first = at.selectbox(key="ev_tp").value
    other = next(n for n in at.selectbox(key="ev_tp").options if n != first)
    ok(at.selectbox(key="ev_tp").set_value(other).run())
    assert param(at, "ev_tp") == other
    ok(at.sidebar.selectbox(key="dataset").set_value("demo copy").run())
    assert at.selectbox(key="ev_tp").value == first
