"""Shared widgets: charts and tables with their downloads, moment cards, guardrail notes."""

from __future__ import annotations

import hashlib
import json
import math
import threading
import weakref
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import altair as alt
import pandas as pd
import pyarrow as pa
import streamlit as st
from streamlit import dataframe_util

from cmot.present import exports
from cmot.present.scales import CLASS_COLOURS, ROOM, class_label
from cmot.results.headline import certainty, stake_text
from cmot.results.moments import MomentsResult
from cmot.text import escape_markdown
from cmot.ui.context import current_context
from cmot.ui.memo import derived


@st.cache_data(show_spinner=False, max_entries=128)
def _render(spec_json: str, fmt: str, headline: str = "") -> bytes:
    chart = alt.Chart.from_dict(with_headline(json.loads(spec_json), headline))
    if fmt == "png":
        return exports.chart_png(chart)
    return exports.chart_svg(chart).encode()


@dataclass(frozen=True)
class ChartSpec:
    """A chart converted once: the Vega-Lite dict Streamlit draws (its data as Arrow
    datasets) and the chart itself, whose JSON with inline values only a download needs."""

    spec: dict[str, Any]
    fig: Any

    @cached_property
    def json(self) -> str:
        """The chart's Vega-Lite JSON with its data as inline values (PNG and SVG): made on
        the first download's click, then kept with the converted chart."""
        return json.dumps(self.fig.to_dict(validate=False), default=str)


def chart_spec(fig: Any) -> ChartSpec:
    """Convert an Altair chart to the Vega-Lite dict `chart` draws."""
    # One unvalidated conversion: the builders' output is schema-checked in the unit tests,
    # and validating again on every rerun costs more than the rest of a page switch. The
    # frames go to Arrow directly, as st.altair_chart sends them, not through Altair's
    # inline values (its per-frame sanitising and records were ~40% of the conversion).
    datasets: dict[str, bytes] = {}
    with _named_frames(fig, datasets):
        spec = fig.to_dict(validate=False)
    if datasets:
        spec["datasets"] = {**spec.get("datasets", {}), **datasets}
    return ChartSpec(spec, fig)


_COMPOSED = ("layer", "hconcat", "vconcat", "concat")


@contextmanager
def _named_frames(chart: Any, datasets: dict[str, bytes]) -> Iterator[None]:
    """While open, `chart`'s data frames (its own and its sub-charts') are named datasets,
    each frame's Arrow IPC bytes in `datasets` under a name from their hash; on leaving,
    the chart is as it was. Swapped in place: a copy of a layered chart would rebuild it,
    and Altair deep-copies every layer when it does. The bytes are Streamlit's own
    (`dataframe_util`, not in its documented API: st.vega_lite_chart passes such bytes
    through as st.altair_chart makes them); tests/app/test_memo.py fails if either changes."""
    swapped: list[tuple[Any, pd.DataFrame]] = []
    names: dict[int, str] = {}  # a frame shared by layers is converted once

    def name_of(frame: pd.DataFrame) -> str:
        if id(frame) not in names:
            data = frame
            if not isinstance(data.index, pd.RangeIndex) or data.index.start != 0:
                data = data.reset_index(drop=True)  # a filtered frame's row labels: no field
            raw = dataframe_util.convert_anything_to_arrow_bytes(data)
            names[id(frame)] = name = "data-" + hashlib.sha256(raw).hexdigest()[:32]
            datasets[name] = raw
        return names[id(frame)]

    def swap(part: Any) -> None:
        data = getattr(part, "data", alt.Undefined)
        if isinstance(data, pd.DataFrame):
            swapped.append((part, data))
            part.data = {"name": name_of(data)}  # a dict: Altair takes it as it is
        for attr in _COMPOSED:
            subs = getattr(part, attr, alt.Undefined)
            if isinstance(subs, list):
                for sub in subs:
                    swap(sub)
        inner = getattr(part, "spec", alt.Undefined)  # a facet's or a repeat's chart
        if isinstance(inner, alt.SchemaBase):
            swap(inner)

    try:
        swap(chart)
        yield
    finally:
        for part, frame in reversed(swapped):
            part.data = frame


def with_headline(spec: dict[str, Any], headline: str) -> dict[str, Any]:
    """The spec with `headline` (the page's context: dataset, segments, filters) as a line
    under its title, so a downloaded image says what it was computed on (issue 28)."""
    if not headline:
        return spec
    title = spec.get("title")
    if isinstance(title, dict):
        sub = title.get("subtitle")
        subs = [*([sub] if isinstance(sub, str) else sub or []), headline]
        return {**spec, "title": {**title, "subtitle": subs}}
    if isinstance(title, (str, list)) and title:
        return {**spec, "title": {"text": title, "subtitle": headline}}
    # No title: the headline is one, in the weight and size of a subtitle (Vega draws no
    # subtitle under an empty title).
    small = {"fontWeight": "normal", "fontSize": 11, "anchor": "start"}
    return {**spec, "title": {"text": headline, **small}}


def result_chart(
    source: object, cache_key: Hashable, build: Callable[[], Any], key: str, name: str
) -> None:
    """`chart(build(), key, name)`, with the chart built and converted once per `source`
    (a cached result) and `cache_key` (what else the chart depends on: the page's choices).

    Building an Altair chart and converting it costs tens of ms of CPU; a page switch on a
    warm cache would otherwise pay it every run for an identical chart.
    """
    chart(derived.get(source, ("chart", key, cache_key), lambda: chart_spec(build())), key, name)


def chart(fig: Any, key: str, name: str) -> None:
    """Draw an Altair chart (or a ChartSpec) with PNG and SVG downloads (rendered on click),
    each headed by the page's context."""
    converted = fig if isinstance(fig, ChartSpec) else chart_spec(fig)
    spec = converted.spec
    headline = current_context()
    plot = spec.get("height")
    if isinstance(plot, int) and "facet" not in spec:
        # Streamlit fits a chart that fills the width into one element height, legend and
        # axes included; give it room for them (the chart says how much: cmot.present.scales.ROOM),
        # or the plot is squeezed to a sliver.
        meta = spec.get("usermeta")
        room = meta.get("room", ROOM) if isinstance(meta, dict) else ROOM
        st.vega_lite_chart(spec, key=key, width="stretch", height=plot + int(room))
    else:
        st.vega_lite_chart(spec, key=key, width="stretch")
    a, b, _ = st.columns([1, 1, 6])
    a.download_button(
        "PNG",
        lambda: _render(converted.json, "png", headline),
        f"{name}.png",
        "image/png",
        key=f"{key}_png",
        icon=":material/image:",
        on_click="ignore",
    )
    b.download_button(
        "SVG",
        lambda: _render(converted.json, "svg", headline),
        f"{name}.svg",
        "image/svg+xml",
        key=f"{key}_svg",
        icon=":material/image:",
        on_click="ignore",
    )


# Tables up to this many rows are converted to Arrow once per frame object (`arrow_once`);
# far below Streamlit's own threshold for sending a frame in chunks (150,000 rows).
ARROW_ONCE_ROWS = 20_000
_arrow_tables: dict[int, tuple[weakref.ref[pd.DataFrame], pa.Table]] = {}
_arrow_lock = threading.Lock()


def arrow_once(frame: pd.DataFrame) -> pd.DataFrame | pa.Table:
    """What `st.dataframe` is given for `frame`: its Arrow table, converted once per frame
    object, or the frame itself (a large one, or one with multi-level columns: Streamlit
    treats those otherwise).

    st.dataframe converts a pandas frame to Arrow on every draw (0.5-1.5 ms a table), and
    passes an Arrow table through as it is: a frame derived once per cached result (and
    shared by every session, so never edited) is converted once. The entry lives as long
    as its frame (a frame built afresh each run leaves with it), so an id reused by a new
    frame never meets an old table. The conversion is Streamlit's own: the bytes sent are
    the same (tests/app/test_memo.py). `dataframe_util` is not in Streamlit's documented API.
    """
    if not isinstance(frame, pd.DataFrame):
        return frame
    if len(frame) > ARROW_ONCE_ROWS or frame.columns.nlevels != 1:
        return frame
    slot = id(frame)
    with _arrow_lock:
        hit = _arrow_tables.get(slot)
    if hit is not None and hit[0]() is frame:
        return hit[1]
    converted = dataframe_util.convert_pandas_df_to_arrow_table(frame)
    with _arrow_lock:
        _arrow_tables[slot] = (weakref.ref(frame), converted)
    weakref.finalize(frame, _forget_arrow, slot)
    return converted


def _forget_arrow(slot: int) -> None:
    with _arrow_lock:
        _arrow_tables.pop(slot, None)


def table(frame: pd.DataFrame, key: str, name: str, **kwargs: Any) -> None:
    """Draw a table with a formula-safe CSV download, its first line the page's context."""
    st.dataframe(arrow_once(frame), key=key, hide_index=True, **kwargs)
    headline = current_context()
    st.download_button(
        "CSV",
        lambda: csv_with_headline(frame, headline),
        f"{name}.csv",
        "text/csv",
        key=f"{key}_csv",
        icon=":material/download:",
        on_click="ignore",
    )


def csv_with_headline(frame: pd.DataFrame, headline: str) -> bytes:
    """`exports.to_csv(frame)` after one line holding `headline` (formula-safe like every
    cell): a spreadsheet shows it as a title row; `pd.read_csv(..., skiprows=1)` reads the
    table. Without a headline, the table alone."""
    body = exports.to_csv(frame)
    if not headline:
        return body
    bom = "\ufeff".encode()
    return exports.to_csv(pd.DataFrame(columns=[headline])) + body.removeprefix(bom)


def class_html(cls: str) -> str:
    """The class as a coloured symbol and word, the same colour as in every chart."""
    return f'<span style="color:{CLASS_COLOURS[cls]};font-weight:600">{class_label(cls)}</span>'


def moment_line(cls: str, touchpoint: str, rest: str) -> None:
    """One line naming a moment: coloured class, the touchpoint, then `rest` (both escaped for
    Markdown and HTML: a touchpoint's name is data)."""
    st.markdown(
        f"{class_html(cls)} **{escape_markdown(touchpoint)}** {escape_markdown(rest)}",
        unsafe_allow_html=True,
    )


def outcome_level(result: MomentsResult, value: float) -> str:
    """An outcome level: a share as a percentage, a score with two decimals."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.1%}" if result.unit == "percentage points" else f"{value:.2f}"


@dataclass(frozen=True)
class Card:
    """What one segment's card says: n, outcome level and its moments (class, name, the
    amount at stake formatted by cmot.results.headline.stake_text, how sure:
    cmot.results.headline.certainty)."""

    segment: str
    n: int
    outcome: str
    moments: tuple[tuple[str, str, str, str], ...]
    reason: str = ""
    own: str = ""  # "own data 34%" for a segment pooled across segments, "" alone


def certainty_words(result: MomentsResult) -> pd.DataFrame:
    """certainty(result), once per cached result: the cards and the Overview's lists read
    the same words (a Benjamini-Hochberg pass over every moment of the result)."""
    return derived.get(result, "certainty", lambda: certainty(result))


def card_rows(
    result: MomentsResult, segments: Sequence[str], words: pd.DataFrame | None = None
) -> tuple[tuple[Card, ...], ...]:
    """The cards of `segments` with enough data, then those without: plain values, so a page
    switch draws them without going through the frames again (cached per result). `words`:
    certainty(result), if already computed."""
    words = certainty(result) if words is None else words
    # Only the columns a card says: filtering and sorting the result's ~50 columns per
    # segment, then reading rows as tuples, cost ~30 ms on a segmentation's first view.
    m = result.moments[["segment", "touchpoint", "class", "mot", "ris", "at_stake"]]
    m = m.assign(certainty=words.certainty.to_numpy())
    segs = {str(r["segment"]): r for r in result.segments.to_dict("records")}
    full: list[Card] = []
    short: list[Card] = []
    for seg in segments:
        if seg not in segs:
            continue
        row = segs[seg]
        outcome = outcome_level(result, row["outcome_mean"])
        share = float(row.get("own_share", math.nan))
        own = f"own data {share:.0%}" if math.isfinite(share) else ""
        if bool(row["insufficient"]):
            short.append(Card(seg, int(row["n"]), outcome, (), str(row["reason"] or "")))
            continue
        mine = m[(m.segment == seg) & m.mot].sort_values("ris", ascending=False)
        # Vulnerabilities, then opportunities, then hybrids, each by RIS; the amount is the
        # engine's at_stake, the one every list, plan, report and the CLI show, with the
        # same certainty word as the Overview's lists.
        rows = list(zip(mine["class"], mine.touchpoint, mine.at_stake, mine.certainty, strict=True))
        lines = [
            (cls, str(tp), stake_text(stake, result.unit), str(sure))
            for cls in ("vulnerability", "opportunity", "hybrid")
            for c, tp, stake, sure in rows
            if c == cls
        ]
        full.append(Card(seg, int(row["n"]), outcome, tuple(lines), own=own))
    return tuple(full), tuple(short)


def moment_cards(result: MomentsResult, segments: list[str]) -> None:
    """One bordered card per segment with enough data (n, outcome, its vulnerabilities and
    opportunities), in the order given; then one collapsed line per insufficient segment,
    its reason on demand, so that small segments neither come first nor fill the page."""
    full, short = derived.get(
        result,
        ("cards", tuple(segments)),
        lambda: card_rows(result, segments, certainty_words(result)),
    )
    width = min(len(full), 4) or 1
    cols = [c for _ in range(0, len(full), width) for c in st.columns(width)]
    for col, card in zip(cols, full, strict=False):
        with col.container(border=True):
            st.markdown(f"**{escape_markdown(card.segment)}**")
            own = f" · {card.own}" if card.own else ""
            st.caption(f"n = {card.n:,} · outcome {card.outcome}{own}")
            for cls, touchpoint, at_stake, sure in card.moments:
                moment_line(cls, touchpoint, f"(at stake {at_stake}, {sure})")
            if not card.moments:
                st.markdown("No moment of truth stands out.")
    if short:
        st.caption(
            f"{len(short)} segment{'s' if len(short) > 1 else ''} without enough data for a "
            "result (open one for the reason):"
        )
    for card in short:
        # Segment names and the reasons (which name touchpoints) are data: escaped.
        with st.expander(f"{escape_markdown(card.segment)}: insufficient data (n = {card.n:,})"):
            st.markdown(escape_markdown(f"Outcome {card.outcome}. {card.reason}".strip()))
