"""Values derived once per cached result (cmot.ui.memo): reused on a page switch, never stale."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import altair as alt
import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from cmot.ingest.options import IngestOptions
from cmot.store.datasets import Store
from cmot.store.demo import demo_spec, generate_demo
from cmot.store.intake import ingest
from cmot.ui.memo import DerivedMemo, derived
from cmot.ui.widgets import chart_spec
from tests.app.panels import open_panels
from tests.app.test_pages import APP, chart_frames, ok


class Result:  # a stand-in for a cached MomentsResult: only its identity matters
    pass


# ---- the memo itself -----------------------------------------------------------------


def test_a_value_is_built_once_per_source_and_key() -> None:
    memo, source, calls = DerivedMemo(), Result(), []

    def build() -> list[int]:
        calls.append(1)
        return [len(calls)]

    first = memo.get(source, ("chart", "West"), build)
    assert memo.get(source, ("chart", "West"), build) is first
    assert len(calls) == 1 and memo.builds == 1
    other = memo.get(source, ("chart", "East"), build)  # another choice: its own value
    assert other == [2] and memo.builds == 2


def test_a_new_result_never_meets_a_value_of_an_older_one() -> None:
    """Same key, another result object (new dataset version, settings, renamed segments):
    rebuilt, even if the old object is gone and Python reuses its id."""
    memo = DerivedMemo()
    old = Result()
    memo.get(old, "k", lambda: "old")
    new = Result()
    assert memo.get(new, "k", lambda: "new") == "new"
    # The entry holds its source: an id cannot be handed to a new object while it exists.
    old_id = id(old)
    del old
    gc.collect()
    assert any(id(Result()) != old_id for _ in range(3))
    for _ in range(50):  # whatever ids new objects get, none is served the old value
        assert memo.get(Result(), "k", lambda: "fresh") == "fresh"


def test_the_memo_is_bounded_and_forgets_the_least_recently_used() -> None:
    memo, a, b, c = DerivedMemo(maxsize=2), Result(), Result(), Result()
    memo.get(a, "k", lambda: "a")
    memo.get(b, "k", lambda: "b")
    memo.get(a, "k", lambda: "rebuilt a")  # a used last: b goes first
    memo.get(c, "k", lambda: "c")
    assert len(memo) == 2
    assert memo.get(a, "k", lambda: "rebuilt a") == "a"
    assert memo.get(b, "k", lambda: "rebuilt b") == "rebuilt b"
    memo.clear()
    assert len(memo) == 0


# ---- charts converted once, drawn identically ----------------------------------------


def _draw_both() -> None:
    import altair as alt
    import pandas as pd
    import streamlit as st

    from cmot.ui.widgets import chart

    frame = pd.DataFrame({"touchpoint": ["Billing", "Site visits"], "penalty": [0.12, 0.05]})
    bars = alt.Chart(frame).mark_bar().encode(x=alt.X("penalty:Q"), y=alt.Y("touchpoint:N"))
    fig = bars + bars.mark_text().encode(text=alt.Text("touchpoint:N"))
    chart(fig, "ours", "ours")  # the frame to Arrow by us, once
    st.vega_lite_chart(fig.to_dict(validate=False), key="plain", width="stretch")


def _named(spec: str, names: list[str]) -> dict[str, object]:
    """The spec with its datasets' names replaced by their order (the names are hashes)."""
    text = spec
    for i, name in enumerate(names):
        text = text.replace(json.dumps(name), json.dumps(f"dataset {i}"))
    return dict(json.loads(text))


def test_a_converted_spec_draws_what_streamlit_draws_from_the_values() -> None:
    """Our Arrow datasets (cmot.ui.widgets._named_data: each frame converted by Streamlit's
    dataframe_util, passed through in the spec's datasets) against Streamlit's own drawing
    of the chart's inline values: the same spec and the same rows. Fails loudly if
    dataframe_util or the pass-through of Arrow bytes changes."""
    at = AppTest.from_function(_draw_both).run()
    assert not at.exception, [e.message for e in at.exception]
    ours, plain = (c.proto for c in at.get("vega_lite_chart"))
    assert len(ours.datasets) == len(plain.datasets) == 1  # the layers' one frame, once
    assert _named(ours.spec, [d.name for d in ours.datasets]) == _named(
        plain.spec, [d.name for d in plain.datasets]
    )
    (mine,), (theirs,) = ([d.data.data for d in c.datasets] for c in (ours, plain))
    assert pa.ipc.open_stream(mine).read_all().to_pylist() == (
        pa.ipc.open_stream(theirs).read_all().to_pylist()
    )


def test_a_chart_spec_keeps_the_values_for_downloads() -> None:
    frame = pd.DataFrame({"touchpoint": ["Billing", "Invoicing"], "penalty": [0.12, None]})
    fig = alt.Chart(frame[frame.penalty.isna()]).mark_bar()  # a filtered frame: index [1]
    converted = chart_spec(fig.encode(x=alt.X("penalty:Q"), y=alt.Y("touchpoint:N")))
    (data,) = converted.spec["datasets"].values()
    table = pa.ipc.open_stream(data).read_all()
    assert table.column_names == ["touchpoint", "penalty"]  # no field for the row labels
    assert table.to_pylist() == [{"touchpoint": "Invoicing", "penalty": None}]
    assert list(json.loads(converted.json)["datasets"].values()) == [
        [{"touchpoint": "Invoicing", "penalty": None}]
    ]
    assert isinstance(converted.fig.data, pd.DataFrame)  # the chart itself left as it was
    base = alt.Chart(frame).encode(x=alt.X("penalty:Q"))
    layered = alt.layer(base.mark_bar(), alt.Chart(frame.head(1)).mark_rule())
    before = layered.to_dict(validate=False)
    spec = chart_spec(layered).spec
    assert len(spec["datasets"]) == 2 and all(
        isinstance(v, bytes) for v in spec["datasets"].values()
    )
    assert layered.to_dict(validate=False) == before  # every layer's frame put back


def _draw_converted() -> None:
    import altair as alt
    import pandas as pd
    import streamlit as st

    from cmot.ui.widgets import chart, chart_spec

    frame = pd.DataFrame({"touchpoint": ["Billing"], "penalty": [0.12]})
    converted = chart_spec(alt.Chart(frame).mark_bar().encode(x=alt.X("penalty:Q")))
    st.session_state["converted"] = converted
    chart(converted, "lazy", "lazy")


def test_drawing_a_chart_leaves_its_download_json_to_the_click() -> None:
    """The inline-values JSON (PNG and SVG) is a second conversion of the whole chart: a
    draw never makes it; the first download does, once."""
    at = AppTest.from_function(_draw_converted).run()
    assert not at.exception, [e.message for e in at.exception]
    converted = at.session_state["converted"]
    assert "json" not in vars(converted)
    assert json.loads(converted.json)["mark"] == {"type": "bar"}
    assert vars(converted)["json"] is converted.json  # kept


# ---- on the pages: reused on a switch, rebuilt when the answer changes ------------------


def _frames(at: AppTest) -> list[list[pd.DataFrame]]:
    return [chart_frames(at, i) for i in range(len(at.get("vega_lite_chart")))]


def _specs(at: AppTest) -> list[str]:
    return [c.proto.spec for c in at.get("vega_lite_chart")]


def _same(a: list[list[pd.DataFrame]], b: list[list[pd.DataFrame]]) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y) and all(f.equals(g) for f, g in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True)
    )


@pytest.fixture
def app(store_dir: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    ok(at.run())
    return at


@pytest.mark.parametrize("page", ["moments", "compare", "journey", "overview", "actions"])
def test_a_warm_page_switch_draws_the_same_page_without_building(app: AppTest, page: str) -> None:
    ok(app.switch_page(f"pages/{page}.py").run())
    specs, frames = _specs(app), _frames(app)
    tables = [d.value for d in app.dataframe]
    body = [m.value for m in app.markdown]
    ok(app.switch_page("pages/data.py").run())
    builds = derived.builds
    ok(app.switch_page(f"pages/{page}.py").run())
    assert derived.builds == builds, "a warm switch rebuilt something from the same result"
    assert _specs(app) == specs and _same(_frames(app), frames)
    assert all(a.equals(b) for a, b in zip([d.value for d in app.dataframe], tables, strict=True))
    assert [m.value for m in app.markdown] == body


def test_a_setting_change_redraws_from_the_new_result(app: AppTest) -> None:
    ok(app.switch_page("pages/moments.py").run())
    before = _frames(app)
    open_panels(app)
    ok(app.sidebar.selectbox(key="low").set_value(1).run())
    after = _frames(app)
    assert not _same(before, after), "the charts kept the answer of the old cut-off"
    ok(app.sidebar.selectbox(key="low").set_value(2).run())  # back: the same as at first
    assert _same(_frames(app), before)


def test_a_new_dataset_version_is_never_drawn_from_the_old_charts(app: AppTest) -> None:
    ok(app.switch_page("pages/compare.py").run())
    before = _frames(app)
    v2 = generate_demo(n_per_segment=300, seed=11).frame.to_csv(index=False).encode()
    info, _ = ingest(Store(), v2, "demo", IngestOptions(spec=demo_spec()), source_name="v2.csv")
    assert info.version == 2
    ok(app.run())
    assert app.session_state["current_dataset"].version == 2  # the sidebar took the new one
    assert not _same(_frames(app), before), "a new version was drawn from the old charts"


def test_the_server_skips_streamlits_full_collection_after_every_run() -> None:
    """A full gc after each script run cost about 115 ms of CPU per page run served (more
    than the page): .streamlit/config.toml turns it off (bench/pages.md)."""
    import tomllib

    from tests.conftest import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["runner"]["postScriptGC"] is False
