"""The sidebar's widgets: the segmentation, the filters and the method settings, kept in the
URL, gathered into the `PageView` every page analyses (`sidebar_view`); the widget state
that belongs to one dataset, forgotten when the dataset changes."""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

import streamlit as st

from cmot.engine.view import DateFilter, ValueFilter, View, date_span, filter_values, view_sql
from cmot.ingest.answers import no_answer_values
from cmot.settings import DEFAULT_POOLING, POOLING_WORDS, POOLINGS, Settings
from cmot.spec import JourneySpec
from cmot.store.datasets import Store
from cmot.store.external import sample_note, source_version
from cmot.store.spark import spark_view_name
from cmot.store.versions import DatasetInfo
from cmot.text import escape_markdown
from cmot.ui.frame import SAVED, WHOLE, PageView, first_upper, source_text
from cmot.ui.state import get_store
from cmot.ui.url import forget_url_widgets, set_url_widget, url_widget

# ---- widget state of one dataset ------------------------------------------------------


# Widget state that belongs to one dataset: its columns, segments, dates and scale. Switching
# dataset (or saving a new version, which selects it) forgets it, so that no widget keeps a
# value the new dataset does not have (a date beyond its range raised in the date input).
DATASET_STATE = (
    "seg",
    "f_from",
    "f_to",
    "f_col",
    "f_val",
    "low",
    "high",
    "compare",
    "pair",
    "segment",
    "journey_segments",
    "wi_tp",
    "seg_result",
    "seg_names",
    "saved_names",
    "seg_save_name",
    "seg_delete_name",
    # Trends: the wave source, its grouping, segment and waves name this dataset's columns
    # and values (a link is offered for every dataset, and comes first for its own waves).
    # The migration plane is a way of looking, not the data's: it stays.
    "wave",
    "wave_by",
    "wave_seg",
    "wave_from",
    "wave_to",
    # Moments' evidence panel: a touchpoint of this dataset.
    "ev_tp",
)
DATASET_STATE_PREFIXES = ("seg_cols_",)


def forget_dataset_state(dataset_id: int) -> None:
    """Forget the widget state of the previous dataset when the sidebar's dataset changed."""
    last = st.session_state.get("_view_dataset")
    st.session_state["_view_dataset"] = dataset_id
    if last is None or last == dataset_id:
        return  # first run (a deep link's URL values stand) or the same dataset
    keys = [
        k
        for k in list(st.session_state)
        if isinstance(k, str) and k.startswith(DATASET_STATE_PREFIXES)
    ]
    forget_url_widgets((*DATASET_STATE, *keys))


# ---- the sidebar's widgets -------------------------------------------------------------


# A column's values and a date column's span: functions of the store, the dataset version
# (and an external source's version), never of a session; kept in a plain LRU, whose hit
# costs a dict lookup where Streamlit's data cache hashes the arguments and copies the
# value (~0.1 ms each, several a run). The values are tuples: shared, never edited.
@functools.lru_cache(maxsize=256)
def _distinct(db: str, dataset_id: int, table: str, column: str, version: str) -> tuple[str, ...]:
    return tuple(filter_values(get_store().cursor(), table, column))


@functools.lru_cache(maxsize=64)
def _date_span(db: str, dataset_id: int, table: str, column: str, version: str) -> tuple[Any, Any]:
    return date_span(get_store().cursor(), table, column)


@st.cache_data(show_spinner=False, ttl=30)
def _saved(db: str, dataset_id: int) -> list[tuple[int, str]]:
    frame = get_store().list_segmentations(dataset_id)
    return [(int(i), str(n)) for i, n in zip(frame["id"], frame["name"], strict=True)]


def clear_saved_cache() -> None:
    """Call after saving or deleting a segmentation so the sidebar lists it at once."""
    _saved.clear()


def sidebar_view(store: Store, info: DatasetInfo) -> PageView:
    """Draw the sidebar's segmentation, filters and method settings; return the view."""
    db = str(store.path)
    spec = info.spec
    forget_dataset_state(info.id)
    version = source_version(info)  # "" for a stored dataset; a lake's files otherwise
    saved = _saved(db, info.id)
    choice = _segmentation_widget(spec, saved)
    box, open_ = _panel("Filters", FILTERS_OPEN)
    with box:
        dates, date_words = _date_filter(db, info, version, open_)
        filters, value_words = _value_filter(db, info, version, open_)
    settings = _settings_panel(info)
    saved_id = None
    saved_sql = None
    given: tuple[str, ...] = () if choice == WHOLE else (choice,)
    no_answer = _no_answer_segments(db, info, version, given)
    if choice.startswith(SAVED) and choice != WHOLE:
        name = choice[len(SAVED) :]
        saved_id = next(i for i, n in saved if n == name)
        saved_sql = store.segment_sql(saved_id)
        given = ()
    query = view_sql(
        View(
            info.table,
            segmentation=given,
            saved=saved_sql,
            dates=dates,
            filters=filters,
            no_answer=no_answer,
        )
    )
    spark_relation = None
    if info.engine == "spark" and saved_sql is None:
        # The same filters and segment columns, pushed down into Spark's view of the source.
        spark_query = view_sql(
            View(spark_view_name(info), segmentation=given, dates=dates, filters=filters)
        )
        spark_relation = spark_query.relation
    engine_caption(info, saved=saved_sql is not None)
    return PageView(
        info,
        choice,
        query.columns,
        query.relation,
        "; ".join([*date_words, *value_words]),
        settings,
        saved_id,
        query.params,
        spark_relation,
        version,
    )


def default_view(store: Store, info: DatasetInfo) -> PageView:
    """The view a visitor with no choices in the URL gets: the default segmentation, no
    filter, the default settings; the same key as `sidebar_view`'s with its widgets at their
    defaults (`cmot.ui.warm` computes it before the first visitor). A stored dataset only:
    an external one's view depends on its source's version and engine."""
    if info.external is not None:
        raise ValueError("default_view is for stored datasets")
    choice = default_segmentation(info.spec)
    given: tuple[str, ...] = () if choice == WHOLE else (choice,)
    no_answer = _no_answer_segments(str(store.path), info, "", given)
    query = view_sql(View(info.table, segmentation=given, no_answer=no_answer))
    return PageView(
        info, choice, query.columns, query.relation, "", default_settings(info), None, query.params
    )


# The sidebar's panels draw their widgets only while open. Closed (as every page opens),
# a page run sends one element for each instead of its ~8 widgets, columns and captions,
# and the browser loads no slider or date picker: a sixth of a page switch's CPU
# (bench/load.md) and a sixth of the Overview's elements (issue 27). Their values stand
# meanwhile (`url_widget`, draw=False).
FILTERS_OPEN = "filters_open"
SETTINGS_OPEN = "settings_open"


def _panel(label: str, key: str) -> tuple[Any, bool]:
    """A sidebar expander that reruns the page when it is opened or closed, and whether it
    is open now."""
    box = st.sidebar.expander(label, key=key, on_change="rerun")
    return box, bool(box.open)


def _segmentation_widget(spec: JourneySpec, saved: list[tuple[int, str]]) -> str:
    """The sidebar's "Segmentation" (`?seg=`): the whole sample, a segment column or a saved
    segmentation."""
    options = [WHOLE, *spec.segments, *(SAVED + n for _, n in saved)]
    return url_widget(
        st.sidebar.selectbox,
        "Segmentation",
        options,
        key="seg",
        default=default_segmentation(spec),
        format_func=lambda c: spec.label_of(c) if c in spec.segments else c,
        help="A column of the survey, or a segmentation saved on the Segments page.",
    )


def _date_filter(
    db: str, info: DatasetInfo, version: str, draw: bool
) -> tuple[DateFilter | None, list[str]]:
    """The filters' From and To dates (`?f_from=`, `?f_to=`) of the spec's date column, and
    the filter in words; none when the whole span is chosen or there is no date column.
    The widgets are drawn when `draw` (the panel is open)."""
    spec = info.spec
    for key in ("f_from", "f_to"):  # a previous dataset's dates mean nothing here
        if not spec.date_column and key in st.query_params:
            del st.query_params[key]
    if not spec.date_column:
        return None, []
    lo, hi = _date_span(db, info.id, info.table, spec.date_column, version)
    if lo is None:  # a saved date column without one readable date (issue 23)
        if not draw:
            return None, []
        st.caption(
            f"Date filter not available: {escape_markdown(spec.label_of(spec.date_column))}"
            " holds no dates (a date reads like 2026-03-01). Map another date column,"
            " or none, on the Data page."
        )
        return None, []
    # A date outside the span (another dataset's, a stale link) does not count. One under
    # the other: side by side in the sidebar, each showed "2026 / 0" of its date.
    span = {"min_value": lo, "max_value": hi, "within": (lo, hi), "draw": draw}
    date = dt.date.fromisoformat
    start = url_widget(st.date_input, "From", key="f_from", default=lo, parse=date, **span)
    end = url_widget(st.date_input, "To", key="f_to", default=hi, parse=date, **span)
    if (start, end) == (lo, hi):  # the whole span is no filter (and no new SQL)
        return None, []
    when = f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
    return DateFilter(spec.date_column, start, end), [f"{spec.label_of(spec.date_column)} {when}"]


def _value_filter(
    db: str, info: DatasetInfo, version: str, draw: bool
) -> tuple[tuple[ValueFilter, ...], list[str]]:
    """The filters' "Only respondents whose" segment column (`?f_col=`) "is one of" its
    values (`?f_val=`), and the filter in words; none when no value is chosen. The
    widgets are drawn when `draw` (the panel is open)."""
    spec = info.spec
    cols = ["(none)", *spec.segments]
    fcol = url_widget(
        st.selectbox,
        "Only respondents whose",
        cols,
        key="f_col",
        default="(none)",
        draw=draw,
        format_func=lambda c: spec.label_of(c) if c in spec.segments else c,
    )
    if fcol == "(none)" and "f_val" in st.query_params:
        del st.query_params["f_val"]
    if fcol == "(none)":
        return (), []
    found = _distinct(db, info.id, info.table, fcol, version)
    # A code declared 'no answer' is no value to keep (issue 23).
    dropped = no_answer_values(found, _no_answer_codes(spec, fcol))
    values = [v for v in found if v not in dropped]
    chosen = url_widget(st.multiselect, "is one of", values, key="f_val", default=[], draw=draw)
    if not chosen:
        return (), []
    return (ValueFilter(fcol, tuple(chosen)),), [f"{spec.label_of(fcol)} in {', '.join(chosen)}"]


def _no_answer_segments(
    db: str, info: DatasetInfo, version: str, given: tuple[str, ...]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Declared no-answer codes of the segment column are no segment (issue 23): each given
    segment column with the values of it that are no answer."""
    spec = info.spec
    return tuple(
        (c, none)
        for c in given
        if c in spec.segments
        and (
            none := no_answer_values(
                _distinct(db, info.id, info.table, c, version), _no_answer_codes(spec, c)
            )
        )
    )


def _no_answer_codes(spec: JourneySpec, column: str) -> tuple[Any, ...]:
    """The codes declared 'no answer' that a segment column may hold: its own and the
    survey's (9 = don't know, 99 = none chosen)."""
    return (*spec.missing_codes(column), *spec.scale.missing)


_DATE_OR_ID = re.compile(
    r"date|(?:^|[_\W])(?:time|timestamp|day|month|year)(?:$|[_\W])|_at$|^id$|_id$|^id_|uuid"
)


def default_segmentation(spec: JourneySpec) -> str:
    """What the sidebar opens on: the first segment column (the one the analyst picked on
    the Data page comes first), unless it is the date, the id or named like one (an
    interview date made 20 segments, all insufficient); else the whole sample (issue 23)."""
    for c in spec.segments[:1]:
        if c not in (spec.date_column, spec.id_column) and not _DATE_OR_ID.search(c.lower()):
            return c
    return WHOLE


def engine_caption(info: DatasetInfo, saved: bool = False) -> None:
    """Say in the sidebar where the dataset's sums run and what its pages read."""
    ext = info.external
    if ext is None:
        return  # a stored dataset: this process's DuckDB, as always
    # A glob's stars and a path's underscores are Markdown: "year=*/part-*" lost its stars.
    label = escape_markdown(source_text(info))
    if ext.engine == "spark":
        where = f"Spark at {ext.remote}" if ext.remote else "Spark (local)"
        st.sidebar.caption(
            f"Engine: **{where}**, reading {label} in place. {sample_note(info, saved)}"
        )
    else:
        st.sidebar.caption(f"Engine: **DuckDB**, reading {label} in place.")


# The method settings' defaults (docs/METHODS.md): the panel's widgets and default_settings.
DEFAULT_IA = 0.2
DEFAULT_COVERAGE = 0.6
DEFAULT_ALPHA = 0.05


def default_settings(info: DatasetInfo) -> Settings:
    """The settings the panel gives with every widget at its default."""
    scale = info.spec.scale
    return _settings(scale.low_max, scale.high_min, DEFAULT_IA, DEFAULT_COVERAGE, DEFAULT_ALPHA)


def _settings(
    low: int, high: int, ia: float, cov: float, alpha: float, pooling: str = DEFAULT_POOLING
) -> Settings:
    return Settings(
        low_max=int(low),
        high_min=int(high),
        vulnerability_ia=-float(ia),
        opportunity_ia=float(ia),
        mot_coverage=float(cov),
        alpha=float(alpha),
        pooling="none" if pooling == "none" else "partial",
    )


def _settings_panel(info: DatasetInfo) -> Settings:
    """The "Method settings" expander (`?low=`, `?high=`, `?ia=`, `?cov=`, `?alpha=`,
    `?pool=`) as the `Settings` every result is computed with."""
    scale = info.spec.scale
    points = list(range(scale.min, scale.max + 1))
    box, draw = _panel("Method settings", SETTINGS_OPEN)
    with box:
        if draw:
            st.caption("Defaults follow docs/METHODS.md; every result shows the settings it used.")
        a, b = st.columns(2) if draw else (st.sidebar, st.sidebar)  # closed: neither drawn
        low = url_widget(
            a.selectbox,
            "Low: rating ≤",
            points[:-1],
            key="low",
            default=scale.low_max,
            parse=int,
            draw=draw,
        )
        high = url_widget(
            b.selectbox,
            "High: rating ≥",
            points[1:],
            key="high",
            default=scale.high_min,
            parse=int,
            draw=draw,
        )
        ia = url_widget(
            st.slider,
            "Asymmetry threshold ±",
            key="ia",
            default=DEFAULT_IA,
            draw=draw,
            parse=float,
            min_value=0.05,
            max_value=0.5,
            step=0.05,
        )
        cov = url_widget(
            st.slider,
            "Moments of truth cover this share of impact",
            key="cov",
            default=DEFAULT_COVERAGE,
            draw=draw,
            parse=float,
            min_value=0.3,
            max_value=0.9,
            step=0.05,
        )
        alpha = url_widget(
            st.selectbox,
            "Significance level α",
            [0.01, 0.05, 0.1],
            key="alpha",
            default=DEFAULT_ALPHA,
            draw=draw,
            parse=float,
        )
        pooling = url_widget(
            st.selectbox,
            "Segments' estimates",
            list(POOLINGS),
            key="pool",
            default=DEFAULT_POOLING,
            draw=draw,
            format_func=lambda p: first_upper(POOLING_WORDS[p]),
            help="Partial pooling across segments: each segment of 30 or more respondents "
            "blends its own data with the whole journey's, weighted by how much its own data "
            "says ('own data 34%') and by how much segments really differ, so every segment "
            "big enough gets an answer. Each segment alone: a segment needs 10 respondents "
            "per touchpoint. Measured in bench/pooling.md; docs/METHODS.md says why "
            f"{POOLING_WORDS[DEFAULT_POOLING]} is the default.",
        )
    return _settings(low, high, ia, cov, alpha, pooling)


def show_segmentation(choice: str) -> None:
    """Make `choice` the sidebar's segmentation and rerun (after a save on the Segments page)."""
    clear_saved_cache()
    set_url_widget("seg", choice)
    st.rerun()
