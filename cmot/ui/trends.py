"""The Trends page: wave source, segment and waves in the URL; migration chart, changes, "did
the fix work" and the at-stake trend of one segment, each with its exports.

The trend itself is cmot.results.trend (compute_trend), cmot.results.trend_changes
(compare_waves) and cmot.results.trend_fixes (fix_check); this module picks
the waves, caches the trend per view and draws it. Wave sources come from `wave_sources`, the
one place a new kind of source (stored datasets linked as waves) is added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd
import streamlit as st

from cmot.engine.view import date_span, filter_values
from cmot.errors import CmotError
from cmot.ingest.wave_columns import MAX_WAVES, named_like_wave
from cmot.present import trend_charts
from cmot.present.report import TrendSection
from cmot.present.tables import (
    CHANGE_HELP,
    FIX_HELP,
    MOMENT_HELP,
    change_rows,
    fix_rows,
    trend_rows,
)
from cmot.results.moments import ALL
from cmot.results.trend import TrendResult, compute_trend
from cmot.results.trend_changes import compare_waves
from cmot.results.trend_fixes import fix_check
from cmot.settings import Settings
from cmot.store.links import Link
from cmot.store.versions import DatasetInfo
from cmot.text import escape_markdown
from cmot.ui.context import show_context
from cmot.ui.explain import how_calculated
from cmot.ui.frame import PageView, ViewKey, computed, settings_caption
from cmot.ui.memo import derived
from cmot.ui.state import get_store
from cmot.ui.url import url_widget
from cmot.ui.widgets import result_chart, table
from cmot.waves.sources import PERIODS, confirmed_waves, waves_from_column, waves_from_link

LINK_PREFIX = "link:"
UNPICKED = ""  # the "Waves from" choice of a dataset with no confirmed waves: none yet
BY_VALUE = "value"  # group a wave column by its values (a date column: by month/quarter/year)
# The migration chart names at most this many touchpoints (the segment's moments first):
# past a dozen lines through three waves the chart is a tangle.
MIGRATION_MOST = 12


@dataclass(frozen=True)
class WaveOption:
    """One way to split the view into waves: a column and how it is grouped.

    kind "date": the spec's date column, grouped by month, quarter or year; "value": a
    segment or attribute column whose 2-24 values are the waves; "link": stored datasets
    linked as waves (`column` is the link's name).
    """

    column: str
    kind: str
    label: str

    @property
    def key(self) -> str:
        """What the URL names (`?wave=`): the column itself, or `link:NAME` for a link (a
        column may be named like a link)."""
        return f"{LINK_PREFIX}{self.column}" if self.kind == "link" else self.column


# The stored links as wave sources: those the dataset is a wave of, then the others.
Links = tuple[tuple[WaveOption, ...], tuple[WaveOption, ...]]


@st.cache_data(show_spinner=False, max_entries=64)
def _value_counts(db: str, dataset_id: int, table: str, columns: tuple[str, ...]) -> dict[str, int]:
    """How many values each column takes (capped at MAX_WAVES + 1: more is not waves)."""
    con = get_store().cursor()
    return {c: len(filter_values(con, table, c, limit=MAX_WAVES + 1)) for c in columns}


def wave_sources(info: DatasetInfo, links: Links | None = None) -> tuple[WaveOption, ...]:
    """The wave sources the page offers for the current dataset, in order.

    The column confirmed as the waves (`JourneySpec.wave_column`, on the Data page) first;
    then segment or attribute columns with 2 to 24 values named like a wave, quarter, year,
    period or round; then the spec's date column; then the other segment and attribute
    columns with 2 to 24 values: choices the analyst makes on the page, never a default
    (`default_source`). Stored links (datasets linked as waves on the Data page, so
    confirmed) are offered whatever the current dataset, a link being its own set of waves:
    first when the dataset is one of its waves, else last. `links`: link_sources(info.id),
    if already read.
    """
    spec = info.spec
    skip = {spec.date_column, spec.outcome.column, spec.weight_column, *spec.touchpoint_columns}
    cands = tuple(c for c in dict.fromkeys((*spec.segments, *spec.attributes)) if c not in skip)
    counts = _value_counts(str(get_store().path), info.id, info.table, cands)
    ok = [c for c in cands if 2 <= counts.get(c, 0) <= MAX_WAVES]
    named = [WaveOption(c, "value", f"{spec.label_of(c)} ({counts[c]} values)") for c in ok]
    date = spec.date_column
    dated = [WaveOption(date, "date", f"{spec.label_of(date)} (date)")] if date else []
    first = [o for o in named if looks_like_wave(o.column)]
    mine, others = link_sources(info.id) if links is None else links
    confirmed = confirmed_waves(spec)
    picked = [o for o in (*first, *dated, *named) if o.column == confirmed][:1]
    if picked:
        picked = [replace(picked[0], label=picked[0].label + ", confirmed as the waves")]
    rest = [o for o in (*first, *dated, *named) if o.column != confirmed]
    return (*mine, *picked, *dict.fromkeys(rest), *others)


def default_source(
    info: DatasetInfo, options: Sequence[WaveOption], links: Links | None = None
) -> str:
    """The key the page opens on: a link the dataset is a wave of, else the column confirmed
    as the waves; else UNPICKED: a column is never taken as waves unconfirmed (issue 23: a
    yes/no question and an interview day were). `links`: link_sources(info.id), if read."""
    mine, _ = link_sources(info.id) if links is None else links
    if mine:
        return mine[0].key
    confirmed = confirmed_waves(info.spec)
    found = [o.key for o in options if o.kind != "link" and o.column == confirmed]
    return found[0] if found else UNPICKED


def link_sources(dataset_id: int) -> Links:
    """The stored links as wave sources, by name: those the dataset is a wave of (the
    reason they were linked: they come first), then the others."""
    store = get_store()
    mine: list[WaveOption] = []
    others: list[WaveOption] = []
    for r in store.list_links().itertuples():
        option = WaveOption(
            str(r.name),
            "link",
            f"Linked: {r.name} ({len(str(r.datasets).split(', '))} datasets: {r.datasets})",
        )
        ids = store.get_link(str(r.name)).dataset_ids
        (mine if dataset_id in ids else others).append(option)
    return tuple(mine), tuple(others)


@st.cache_data(show_spinner=False, max_entries=64)
def default_period(db: str, dataset_id: int, table: str, column: str) -> str:
    """The coarsest period that splits the dates into two waves or more: year, else quarter,
    else month (a survey run within one year opens by quarter, not on an error)."""
    lo, hi = date_span(get_store().cursor(), table, column)
    if lo is None or hi is None or lo.year != hi.year:
        return "year"
    return "quarter" if (lo.month - 1) // 3 != (hi.month - 1) // 3 else "month"


def looks_like_wave(column: str) -> bool:
    """A column named like a wave (`cmot.ingest.wave_columns.named_like_wave`): an order on
    the page's choices, never a reason to take it as the waves."""
    return named_like_wave(column)


@st.cache_resource(show_spinner=False, max_entries=32)
def _trend(key: ViewKey, settings: Settings, column: str, by: str) -> TrendResult:
    store = get_store()
    info = store.get_dataset_by_id(key.dataset_id)
    source = waves_from_column(
        store.cursor(),
        key.relation,
        info.spec,
        column,
        by=None if by == BY_VALUE else by,  # type: ignore[arg-type]
        params=key.params,
        cache_key=key.cache_key,
    )
    return compute_trend(source, key.columns, settings)


@st.cache_resource(show_spinner=False, max_entries=32)
def _link_trend(db: str, link: Link, columns: tuple[str, ...], settings: Settings) -> TrendResult:
    """A link's trend. The Link itself is the key (its datasets, labels and mapping): a link
    saved again under the same name is another key, never served stale."""
    return compute_trend(waves_from_link(get_store(), link), columns, settings)


def column_trend(view: PageView, column: str, by: str) -> TrendResult:
    """The view's trend over the waves of one of its dataset's columns (cached)."""
    return _trend(view.key, view.settings, column, by)


def link_columns(view: PageView, link: Link) -> tuple[str, ...]:
    """The view's segment columns the link's waves share (the first wave's segment columns,
    under which every later wave's columns are renamed); none for a saved segmentation,
    which belongs to one dataset."""
    if view.saved_id is not None:
        return ()
    first = get_store().get_dataset_by_id(link.dataset_ids[0]).spec
    return tuple(c for c in view.columns if c in first.segments)


def trend(view: PageView, option: WaveOption, by: str) -> TrendResult:
    """The trend of the view's segments over the waves of `option` (cached per dataset
    version, view, settings, column and grouping; a link per its stored identity); a
    user-caused error stops the page."""

    def compute() -> TrendResult:
        db = str(get_store().path)
        if option.kind == "link":
            link = get_store().get_link(option.column)
            return _link_trend(db, link, link_columns(view, link), view.settings)
        return column_trend(view, option.column, by)

    return computed("Computing the moments of truth of each wave…", compute)


def _help(words: dict[str, str]) -> dict[str, object]:
    """A table's column_config: each header's meaning on hover."""
    return {c: st.column_config.Column(c, help=h) for c, h in words.items()}


def segment_rows(result: TrendResult, segment: str) -> pd.DataFrame:
    """One segment's rows of the trend table (waves in order, journey order within)."""
    return result.trend[result.trend.segment == segment]


def moment_touchpoints(result: TrendResult, segment: str) -> list[str]:
    """The touchpoints the charts follow: those a moment of truth of the segment in any wave,
    by their largest range of impact; all touchpoints (up to MIGRATION_MOST) when none is."""
    rows = segment_rows(result, segment)
    mot = rows[rows.mot.fillna(False).astype(bool)]
    pick = mot if len(mot) else rows
    ranked = pick.groupby("touchpoint", sort=False).ris.max().sort_values(ascending=False)
    return [str(t) for t in ranked.index[:MIGRATION_MOST]]


def at_stake_rows(result: TrendResult, segment: str, touchpoints: Sequence[str]) -> pd.DataFrame:
    """wave, touchpoint, class, at_stake, reason of `touchpoints` in `segment`, per wave: the
    engine's at_stake from each wave's own result (a wave without one: no row)."""
    frames = []
    for wave in result.waves:
        res = result.results.get(wave)
        if res is None:
            continue
        m = res.moments
        m = m[(m.segment == segment) & m.touchpoint.isin(touchpoints)]
        frames.append(m[["touchpoint", "class", "at_stake", "reason"]].assign(wave=wave))
    if not frames:
        return pd.DataFrame(columns=["wave", "touchpoint", "class", "at_stake", "reason"])
    return pd.concat(frames, ignore_index=True)[
        ["wave", "touchpoint", "class", "at_stake", "reason"]
    ]


def too_small(result: TrendResult, segment: str) -> list[str]:
    """One line per wave where the segment has no result: its n and the reason (Markdown:
    the wave's and segment's names and the reason escaped)."""
    segs = result.segments
    rows = segs[(segs.segment == segment) & segs.insufficient.astype(bool)]
    md = escape_markdown
    return [
        f"Wave {md(str(r.wave))}: {md(segment)} has n = {int(r.n):,}, too few for a result "
        f"here ({md(str(r.reason or 'too little data'))}); its numbers are left out of that "
        "wave."
        for r in rows.itertuples()
    ]


def headline_wave(info: DatasetInfo) -> tuple[WaveOption, str] | None:
    """The waves the Overview's headline change is taken from, or None: only the column the
    analyst confirmed as the waves (`JourneySpec.wave_column`): a wave column with 2 to 24
    values, by its values; the date column when its dates span two years or more, by year
    (finer periods are left to the Trends page: a month-to-month change is no headline). A
    survey without confirmed waves is one wave: no change to announce (issue 23)."""
    spec = info.spec
    column = confirmed_waves(spec)
    if column is None:
        return None
    db = str(get_store().path)
    if column == spec.date_column:
        if default_period(db, info.id, info.table, column) == "year":
            return WaveOption(column, "date", column), "year"
        return None
    counts = _value_counts(db, info.id, info.table, (column,))
    if 2 <= counts.get(column, 0) <= MAX_WAVES:
        return WaveOption(column, "value", column), BY_VALUE
    return None


def _headline_trend(view: PageView) -> tuple[WaveOption, TrendResult] | None:
    """headline_wave's trend of the view (the Trends page's cache), or None: no waves, or a
    trend that cannot be computed (the Trends page says why)."""
    found = headline_wave(view.info)
    if found is None:
        return None
    option, by = found
    try:
        result = column_trend(view, option.column, by)
    except CmotError:
        return None
    return option, result


def headline_change(view: PageView) -> str | None:
    """One sentence for the Overview: the most significant change between the last two waves
    (smallest q, any segment), or that none is significant; None when the dataset has no
    waves (headline_wave) or the trend cannot be computed (the Trends page says why)."""
    found = _headline_trend(view)
    if found is None:
        return None
    _, result = found
    pair = (result.waves[-2], result.waves[-1])

    def build() -> str:
        changes = compare_waves(result, [pair])
        sig = changes[changes.significant.astype(bool)].sort_values("p_adj", kind="stable")
        where = f"{pair[0]} → {pair[1]}"
        if sig.empty:
            return f"No significant change between the waves {where} (Trends page for more)."
        more = len(sig) - 1
        tail = f" ({more} more on the Trends page.)" if more else ""
        return f"Biggest change between the last two waves: {sig.sentence.iloc[0]}{tail}"

    return derived.get(result, ("headline_change", pair), build)


def trend_section(view: PageView, segments: Sequence[str]) -> TrendSection | None:
    """The comparison report's trend section for `segments`: the significant changes and the
    fix verdicts between the last two waves of headline_wave's source; None without waves."""
    found = _headline_trend(view)
    if found is None:
        return None
    option, result = found
    pair = (result.waves[-2], result.waves[-1])
    changes = derived.get(result, ("changes", pair), lambda: compare_waves(result, [pair]))
    fixes = derived.get(result, ("fixes", pair), lambda: fix_check(result, [pair]))
    mine = changes[changes.segment.isin(segments) & changes.significant.astype(bool)]
    return TrendSection(
        f"{option.column}, {pair[0]} → {pair[1]}",
        tuple(str(x) for x in mine.sentence),
        tuple(str(x) for x in fixes[fixes.segment.isin(segments)].sentence),
    )


def draw() -> None:
    """The page body (pages/trends.py is this call)."""
    from cmot.ui.frame import current_view

    view = current_view()
    st.title("Trends across waves")
    show_context(view)
    st.caption(
        "Each survey wave analysed on its own, then compared: how each touchpoint moved "
        "(migration chart), which changes are clear, not chance (one sentence each), "
        "whether the earlier wave's vulnerabilities were fixed, and what is "
        "at stake from wave to wave."
    )
    option = _wave_source(view)
    by = _grouping(view, option)
    result = trend(view, option, by)
    # Wave, segment and touchpoint names are data: escaped wherever Markdown renders them.
    for note in result.notes:
        st.caption(escape_markdown(note))
    segment, older, newer = _segment_and_waves(result)
    plane = url_widget(
        st.radio,
        "Plane",
        list(trend_charts.MIGRATION_PLANES),
        key="plane",
        default=trend_charts.MIGRATION_PLANES[0],
        horizontal=True,
        help="Penalty against reward, or range of impact against impact asymmetry.",
    )
    for line in too_small(result, segment):
        st.warning(line, icon="⚠️")
    tps = moment_touchpoints(result, segment)
    _migration(result, segment, plane, tps, view.settings)
    _changes(result, segment, (older, newer), view.settings)
    _fixes(result, segment, (older, newer))
    _at_stake(result, segment, tps)
    # The thresholds (IA, α) and the method's terms behind one expander: plain words first.
    first = next(iter(result.results.values()))
    how_calculated(
        settings_caption(_analysed_as(view, option), first), ("penalty", "class", "stake", "sure")
    )


def _wave_source(view: PageView) -> WaveOption:
    """The "Waves from" choice (`?wave=`): a column of the dataset or a stored link; the page
    stops with what to do when there is none, or none is picked yet."""
    # The stored links read once a run (a catalog query and a frame), for both uses.
    links = link_sources(view.info.id)
    options = wave_sources(view.info, links)
    if not options:
        st.info(
            "This dataset has no column to take waves from, and no datasets are linked as "
            "waves. Either map a date column, or a wave, quarter or year column with 2 to 24 "
            "values, as a segment or attribute on the Data page (or upload the waves stacked "
            "in one file with such a column); or store each wave as a dataset and link them "
            'under "Link datasets as waves" on the Data page. The demo waves show the page.'
        )
        _demo_button()
        st.stop()
    keys = [o.key for o in options]
    by_key = {o.key: o for o in options}
    default = default_source(view.info, options, links)
    if default == UNPICKED:
        keys = [UNPICKED, *keys]
    asked = st.query_params.get("wave")
    if asked and asked.startswith(LINK_PREFIX) and asked not in by_key:
        # A shared link naming a link since deleted: say so, then show the first source.
        # The link's name comes from the URL, the label from the data: escaped.
        st.warning(
            f"No datasets are linked as {escape_markdown(repr(asked[len(LINK_PREFIX) :]))} any "
            "more (the link or one of its datasets was deleted)."
        )
    column = url_widget(
        st.selectbox,
        "Waves from",
        keys,
        key="wave",
        default=default,
        format_func=lambda k: by_key[k].label if k in by_key else "— pick the waves —",
        help="A date column grouped by period, or a column whose values are the waves.",
    )
    if column == UNPICKED:
        st.info(
            "No column of this dataset is confirmed as its waves, so none is taken as waves: "
            "pick the column that holds them above (a wave, quarter or year column, or the "
            "date grouped by period), or confirm it once under Waves on the Data page "
            "(Edit mapping)."
        )
        st.stop()
    return by_key[column]


def _grouping(view: PageView, option: WaveOption) -> str:
    """A link's caption, then "Group dates by" (`?wave_by=`): a date column's period, else
    BY_VALUE (the radio shown disabled)."""
    if option.kind == "link":
        st.caption(
            f"Link {escape_markdown(repr(option.column))}: each wave is its stored dataset "
            "taken whole, with its "
            "own cleaning; the sidebar's filters and saved segmentations belong to the "
            "current dataset and do not apply here."
        )
    groups = list(PERIODS) if option.kind == "date" else [BY_VALUE]
    return url_widget(
        st.radio,
        "Group dates by",
        groups,
        key="wave_by",
        default=(
            default_period(str(get_store().path), view.info.id, view.info.table, option.column)
            if option.kind == "date"
            else BY_VALUE
        ),
        horizontal=True,
        disabled=option.kind != "date",
        help="Only a date column is grouped; a wave column's values are its waves.",
    )


def _segment_and_waves(result: TrendResult) -> tuple[str, str, str]:
    """The "Segment" (`?wave_seg=`, All first), "From wave" and "To wave" (`?wave_from=`,
    `?wave_to=`, a later wave than From) side by side."""
    waves = list(result.waves)
    segments = list(dict.fromkeys(result.segments.segment))
    segments = [ALL, *[s for s in segments if s != ALL]] if ALL in segments else segments
    a, b, c = st.columns([2, 1, 1])
    segment = url_widget(a.selectbox, "Segment", segments, key="wave_seg", default=segments[0])
    older = url_widget(b.selectbox, "From wave", waves[:-1], key="wave_from", default=waves[-2])
    later_options = waves[waves.index(older) + 1 :]
    newer = url_widget(
        c.selectbox, "To wave", later_options, key="wave_to", default=later_options[0]
    )
    return segment, older, newer


def _analysed_as(view: PageView, option: WaveOption) -> PageView:
    """The view whose settings the waves were analysed with: a link's first wave, not the
    sidebar's dataset (whose weight the link's datasets may not have)."""
    if option.kind != "link":
        return view
    first_id = get_store().get_link(option.column).dataset_ids[0]
    return replace(view, info=get_store().get_dataset_by_id(first_id))


def _migration(
    result: TrendResult, segment: str, plane: str, tps: Sequence[str], s: Settings
) -> None:
    """The migration chart of the segment's touchpoints `tps` through the waves."""
    rows = segment_rows(result, segment)
    picked = rows[rows.touchpoint.isin(tps)]
    st.subheader("Migration")
    st.caption(
        f"{len(tps)} touchpoint{'s' if len(tps) != 1 else ''} of {escape_markdown(segment)} "
        "(its moments of truth "
        "in any wave, by range of impact): a line runs through the waves in order, the "
        "largest point is the last wave, colour and shape the class in that wave."
    )
    result_chart(
        result,
        ("migration", segment, plane, tuple(tps)),
        lambda: trend_charts.migration(
            picked, result.unit, plane, s.vulnerability_ia, s.opportunity_ia, f"{segment}"
        ),
        "migration",
        f"migration-{segment}",
    )


def _changes(result: TrendResult, segment: str, pair: tuple[str, str], s: Settings) -> None:
    """The segment's significant changes between the two waves, one sentence each, and the
    table of every change."""
    older, newer = pair
    changes = derived.get(result, ("changes", pair), lambda: compare_waves(result, [pair]))
    mine = changes[changes.segment == segment]
    st.subheader(f"Significant changes, {escape_markdown(older)} → {escape_markdown(newer)}")
    st.caption(
        "Changes later − earlier in the outcome's unit with 95% intervals; clear means it "
        "holds after allowing for every touchpoint, measure and segment of the two waves "
        "compared (hover a column's name for what it means)."
    )
    sig = mine[mine.significant.astype(bool)]
    for sentence in sig.sentence:
        st.markdown(f"- {escape_markdown(sentence)}")
    if sig.empty:
        st.markdown(
            escape_markdown(f"No significant change for {segment} between {older} and {newer}.")
        )
    table(
        change_rows(mine, result.unit, s.alpha),
        "changes_table",
        f"changes-{segment}-{older}-{newer}",
        column_config=_help(CHANGE_HELP),
    )


def _fixes(result: TrendResult, segment: str, pair: tuple[str, str]) -> None:
    """The "Did the fix work" section: the verdict on each of the segment's vulnerabilities
    of the earlier wave, and their table."""
    older, newer = pair
    st.subheader("Did the fix work")
    fixes = derived.get(result, ("fixes", pair), lambda: fix_check(result, [pair]))
    fmine = fixes[fixes.segment == segment]
    for sentence in fmine.sentence:
        st.markdown(f"- {escape_markdown(sentence)}")
    if fmine.empty:
        st.markdown(escape_markdown(f"{segment} had no vulnerability in {older} to check."))
    else:
        table(
            fix_rows(fmine, result.unit),
            "fixes_table",
            f"fixes-{segment}-{older}-{newer}",
            column_config=_help(FIX_HELP),
        )


def _at_stake(result: TrendResult, segment: str, tps: Sequence[str]) -> None:
    """The amount at stake of the touchpoints `tps` in each wave, then the segment's trend
    table."""
    st.subheader("At stake across waves")
    st.caption(
        "The amount at stake of the same touchpoints in each wave where it is a moment of "
        "truth (a wave without a point: not a moment there, or too little data)."
    )
    stake = at_stake_rows(result, segment, tps)
    result_chart(
        result,
        ("at_stake", segment, tuple(tps)),
        lambda: trend_charts.at_stake_trend(stake, result.unit, f"At stake, {segment}"),
        "at_stake",
        f"at-stake-{segment}",
    )
    table(
        trend_rows(segment_rows(result, segment), result.unit),
        "trend_table",
        f"trend-{segment}",
        column_config=_help(MOMENT_HELP),
    )


def _demo_button() -> None:
    from cmot.store.demo import ensure_demo_waves
    from cmot.ui.auth import is_analyst, require_analyst
    from cmot.ui.state import show_dataset

    if not is_analyst():  # opening them saves a dataset to the shared store
        st.caption("An analyst can open the demo waves here.")
        return
    if st.button(
        "Open the demo waves", key="demo_waves", icon=":material/timeline:"
    ) and require_analyst("open the demo waves (it saves a dataset)"):
        info = ensure_demo_waves(get_store())
        show_dataset(info.name)
