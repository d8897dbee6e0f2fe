"""The shared frame: segmentation, filters and method settings in the sidebar, kept in the URL."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import streamlit as st

from cmot.engine.engines import SparkEngine
from cmot.engine.sums import segment_sql_expr
from cmot.engine.view import DateFilter, ValueFilter, View, date_span, filter_values, view_sql
from cmot.errors import CmotError
from cmot.ingest.answers import no_answer_values
from cmot.results.moments import ALL, MomentsResult, Settings, analyse_stats, find_moments
from cmot.settings import DEFAULT_POOLING, POOLING_WORDS, POOLINGS
from cmot.spec import JourneySpec
from cmot.store.datasets import DatasetInfo, Store
from cmot.store.external import (
    SourceError,
    hide_paths,
    sample_note,
    source_version,
    spark_view,
    spark_view_name,
)
from cmot.text import escape_markdown, escape_message
from cmot.ui.auth import is_analyst
from cmot.ui.memo import derived
from cmot.ui.state import get_store, spark_for
from cmot.ui.url import forget_url_widgets, set_url_widget, url_widget

WHOLE = "(whole sample)"
SAVED = "saved: "
log = logging.getLogger("cmot.ui")
UNEXPECTED = (
    "This page ran into an unexpected problem and stopped. Try again; if it happens again, "
    "pick another segmentation, filter or dataset in the sidebar. The details are in the "
    "server log"
)
T = TypeVar("T")

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


# ---- one guard for every page ----------------------------------------------------------


@contextmanager
def page_guard() -> Iterator[None]:
    """Run a page so that no error reaches the browser as Streamlit's red exception box.

    A CmotError (something the user can fix) shows its message; anything else shows a short
    message saying what to do, and the traceback goes to the server log. st.stop and
    st.rerun raise BaseException subclasses and pass through untouched.
    """
    try:
        yield
    except CmotError as e:
        show_error(e)
    except Exception as e:
        ref = f"{type(e).__name__} at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC"
        log.exception("page failed (%s)", ref)
        st.error(f"{UNEXPECTED} ({ref}).", icon=":material/error:")


def show_error(error: CmotError) -> None:
    """`error` in an error box, as whoever runs the script may read it (`error_text`); its
    message may quote names from the data, so it renders literally but for its code spans
    (`escape_message`)."""
    st.error(escape_message(error_text(error)), icon=":material/error:")


def error_text(error: CmotError) -> str:
    """`error`'s message as whoever runs the script may read it. An external dataset's
    server paths are for analysts: a viewer reads a refusal's path-free twin
    (`SourceError.public`), and any other message with the current dataset's paths cut."""
    if is_analyst():
        return str(error)
    if isinstance(error, SourceError):
        return error.public
    info = st.session_state.get("current_dataset")
    ext = info.external if isinstance(info, DatasetInfo) else None
    return str(error) if ext is None or ext.kind != "parquet" else hide_paths(str(error), ext)


def source_text(info: DatasetInfo) -> str:
    """Where a dataset's rows come from, as whoever runs the script may see it: an external
    Parquet dataset's location is a path on the server, for analysts only."""
    ext = info.external
    if ext is None or ext.kind != "parquet" or is_analyst():
        return info.source_name
    return "Parquet files on the server"


# ---- widget state of one dataset ------------------------------------------------------


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


# ---- the view every page analyses ------------------------------------------------------


@dataclass(frozen=True)
class ViewKey:
    """What names a view's rows in a cache: the store, the dataset version, the relation with
    its bound values, the segment columns and (a Spark dataset's) Spark relation. A page's
    cached computation takes it, plus whatever else its result depends on."""

    db: str
    dataset_id: int
    relation: str
    params: tuple[object, ...]
    columns: tuple[str, ...]
    spark_relation: str | None = None
    version: str = ""  # an external dataset's source version (cmot.store.external.source_version)

    @property
    def cache_key(self) -> tuple[object, ...]:
        """The engine's sums cache key: the dataset version, and its source's for a lake."""
        return ("dataset", self.dataset_id, self.version)


@dataclass(frozen=True)
class PageView:
    """What every page analyses: the dataset, segmentation, filters and settings the sidebar
    chose, with the view's SQL (`relation`, `params`) from `cmot.engine.view.view_sql`."""

    info: DatasetInfo
    segmentation: str  # what the sidebar shows: a column, "saved: NAME" or WHOLE
    columns: tuple[str, ...]  # columns of `relation` that define the segments
    relation: str  # SQL relation: the dataset table, filtered, with a saved segmentation
    filters: str  # the filters in words ("" when none)
    settings: Settings
    saved_id: int | None = None
    params: tuple[object, ...] = ()  # values bound to the `?` placeholders of `relation`
    # A Spark dataset's view as Spark SQL over all its rows (`relation` reads its sample):
    # the sums run there. None for DuckDB, and for a saved segmentation (of sample rows).
    spark_relation: str | None = None
    version: str = ""  # an external dataset's source version: new files, new results

    @property
    def key(self) -> ViewKey:
        """The view's rows as a cache key (see ViewKey)."""
        return ViewKey(
            str(get_store().path),
            self.info.id,
            self.relation,
            self.params,
            self.columns,
            self.spark_relation,
            self.version,
        )

    @property
    def segment_expression(self) -> str | None:
        """SQL giving a row's segment name, as the engine names segments."""
        return segment_sql_expr(self.columns) if self.columns else None

    @property
    def weighting(self) -> str:
        """'weighted by X' or 'unweighted': said next to every result."""
        return weighting(self.info.spec)

    @property
    def label(self) -> str:
        extra = f"; {self.filters}" if self.filters else ""
        spec = self.info.spec
        by = (
            spec.label_of(self.segmentation)
            if self.segmentation in spec.segments
            else (self.segmentation)
        )
        return f"{self.info.name} v{self.info.version}, by {by}{extra}; {self.weighting}"


def weighting(spec: JourneySpec) -> str:
    w = spec.weight_column
    return f"weighted by {spec.label_of(w)}" if w else "unweighted"


@st.cache_data(show_spinner=False, max_entries=256)
def _distinct(db: str, dataset_id: int, table: str, column: str, version: str) -> list[str]:
    return filter_values(get_store().cursor(), table, column)


@st.cache_data(show_spinner=False, max_entries=64)
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
    options = [WHOLE, *spec.segments, *(SAVED + n for _, n in saved)]
    choice = url_widget(
        st.sidebar.selectbox,
        "Segmentation",
        options,
        key="seg",
        default=default_segmentation(spec),
        format_func=lambda c: spec.label_of(c) if c in spec.segments else c,
        help="A column of the survey, or a segmentation saved on the Segments page.",
    )
    dates: DateFilter | None = None
    filters: tuple[ValueFilter, ...] = ()
    words: list[str] = []
    with st.sidebar.expander("Filters"):
        for key in ("f_from", "f_to"):  # a previous dataset's dates mean nothing here
            if not spec.date_column and key in st.query_params:
                del st.query_params[key]
        if spec.date_column:
            lo, hi = _date_span(db, info.id, info.table, spec.date_column, version)
            if lo is not None:
                a, b = st.columns(2)
                # A date outside the span (another dataset's, a stale link) does not count.
                span = {"min_value": lo, "max_value": hi, "within": (lo, hi)}
                date = dt.date.fromisoformat
                start = url_widget(
                    a.date_input, "From", key="f_from", default=lo, parse=date, **span
                )
                end = url_widget(b.date_input, "To", key="f_to", default=hi, parse=date, **span)
                if (start, end) != (lo, hi):  # the whole span is no filter (and no new SQL)
                    dates = DateFilter(spec.date_column, start, end)
                    when = f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
                    words.append(f"{spec.label_of(spec.date_column)} {when}")
            else:  # a saved date column without one readable date (issue 23)
                st.caption(
                    f"Date filter not available: {escape_markdown(spec.label_of(spec.date_column))}"
                    " holds no dates (a date reads like 2026-03-01). Map another date column,"
                    " or none, on the Data page."
                )
        cols = ["(none)", *spec.segments]
        fcol = url_widget(
            st.selectbox,
            "Only respondents whose",
            cols,
            key="f_col",
            default="(none)",
            format_func=lambda c: spec.label_of(c) if c in spec.segments else c,
        )
        if fcol == "(none)" and "f_val" in st.query_params:
            del st.query_params["f_val"]
        if fcol != "(none)":
            values = _distinct(db, info.id, info.table, fcol, version)
            # A code declared 'no answer' is no value to keep (issue 23).
            dropped = no_answer_values(values, _no_answer_codes(spec, fcol))
            values = [v for v in values if v not in dropped]
            chosen = url_widget(st.multiselect, "is one of", values, key="f_val", default=[])
            if chosen:
                filters = (ValueFilter(fcol, tuple(chosen)),)
                words.append(f"{spec.label_of(fcol)} in {', '.join(chosen)}")
    settings = _settings_panel(info)
    saved_id = None
    saved_sql = None
    given: tuple[str, ...] = () if choice == WHOLE else (choice,)
    # Declared no-answer codes of the segment column are no segment (issue 23).
    no_answer = tuple(
        (c, none)
        for c in given
        if c in spec.segments
        and (
            none := no_answer_values(
                _distinct(db, info.id, info.table, c, version), _no_answer_codes(spec, c)
            )
        )
    )
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
        "; ".join(words),
        settings,
        saved_id,
        query.params,
        spark_relation,
        version,
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


def _settings_panel(info: DatasetInfo) -> Settings:
    scale = info.spec.scale
    points = list(range(scale.min, scale.max + 1))
    with st.sidebar.expander("Method settings"):
        st.caption("Defaults follow docs/METHODS.md; every result shows the settings it used.")
        a, b = st.columns(2)
        low = url_widget(
            a.selectbox, "Low: rating ≤", points[:-1], key="low", default=scale.low_max, parse=int
        )
        high = url_widget(
            b.selectbox, "High: rating ≥", points[1:], key="high", default=scale.high_min, parse=int
        )
        ia = url_widget(
            st.slider,
            "Asymmetry threshold ±",
            key="ia",
            default=0.2,
            parse=float,
            min_value=0.05,
            max_value=0.5,
            step=0.05,
        )
        cov = url_widget(
            st.slider,
            "Moments of truth cover this share of impact",
            key="cov",
            default=0.6,
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
            default=0.05,
            parse=float,
        )
        pooling = url_widget(
            st.selectbox,
            "Segments' estimates",
            list(POOLINGS),
            key="pool",
            default=DEFAULT_POOLING,
            format_func=lambda p: _first_upper(POOLING_WORDS[p]),
            help="Partial pooling across segments: each segment of 30 or more respondents "
            "blends its own data with the whole journey's, weighted by how much its own data "
            "says ('own data 34%') and by how much segments really differ, so every segment "
            "big enough gets an answer. Each segment alone: a segment needs 10 respondents "
            "per touchpoint. Measured in bench/pooling.md; docs/METHODS.md says why "
            f"{POOLING_WORDS[DEFAULT_POOLING]} is the default.",
        )
    return Settings(
        low_max=int(low),
        high_min=int(high),
        vulnerability_ia=-float(ia),
        opportunity_ia=float(ia),
        mot_coverage=float(cov),
        alpha=float(alpha),
        pooling="none" if pooling == "none" else "partial",
    )


def current_view() -> PageView:
    """The sidebar's view; without one, say where to start (or leave the sidebar's error
    about the dataset as the page's message) and stop the page."""
    view: PageView | None = st.session_state.get("view")
    if view is None:
        if st.session_state.get("current_dataset") is None:
            st.info("Upload a survey on the Data page to begin.")
        st.stop()
    return view


@st.cache_resource(show_spinner=False, max_entries=64)
def _moments(key: ViewKey, settings: Settings) -> MomentsResult:
    # Either engine keeps the sums per (view, source version, cut-offs): a threshold change
    # (asymmetry, coverage, alpha) reclassifies from them without reading the data again.
    store = get_store()
    info = store.get_dataset_by_id(key.dataset_id)
    if key.spark_relation is not None:
        session = spark_for(info)
        spark_view(session, info)  # (again): a Spark Connect session may have been renewed
        stats = SparkEngine(session).stats(
            key.spark_relation,
            info.spec,
            key.columns,
            settings,
            params=key.params,
            cache_key=key.cache_key,
        )
        return analyse_stats(stats, settings)
    return find_moments(
        store.cursor(),
        key.relation,
        info.spec,
        key.columns,
        settings,
        params=key.params,
        cache_key=key.cache_key,
    )


def moments(view: PageView) -> MomentsResult:
    """The moments of truth of the view (cached); a user-caused error stops the page."""
    return computed(
        "Computing the moments of truth of each segment…",
        lambda: _moments(view.key, view.settings),
    )


def computed(what: str, compute: Callable[[], T]) -> T:
    """`compute()` under a spinner saying `what`; an error the user can fix (CmotError) is
    shown where the result would be and stops the page, never a traceback."""
    try:
        with st.spinner(what):
            return compute()
    except CmotError as e:
        show_error(e)
        st.stop()
        raise  # unreachable: st.stop raises


def settings_caption(view: PageView, result: MomentsResult, segment: str | None = None) -> str:
    """Weighting, the method settings and n, for the line next to a result."""
    s = result.settings
    segs = result.segments.set_index("segment")
    n = ""
    if segment is not None and segment in segs.index:
        own = own_data(result, segment)
        n = f"n = {int(segs.loc[segment, 'n']):,}{'; ' + own if own else ''}; "
    return (
        f"**{escape_markdown(_first_upper(view.weighting))}**; "
        f"**{escape_markdown(result.method)}**; {n}low ≤ {result.low_max}, "
        f"high ≥ {result.high_min}; vulnerability IA ≤ "
        f"{s.vulnerability_ia:+.2f}, opportunity IA ≥ {s.opportunity_ia:+.2f}; moments of "
        f"truth cover {s.mot_coverage:.0%} of impact; α = {s.alpha}; effects in {result.unit}."
    )


def own_data(result: MomentsResult, segment: str) -> str:
    """'own data 34%': how much of a pooled segment's estimate is its own data (the rest is
    the whole journey's); "" for "All" and a segment estimated alone."""
    segs = result.segments
    if "own_share" not in segs:
        return ""
    share = segs.own_share[segs.segment == segment]
    return f"own data {float(share.iloc[0]):.0%}" if len(share) and share.notna().iloc[0] else ""


def data_warnings(result: MomentsResult, segments: Sequence[str] = ()) -> None:
    """The engine's guardrails for what the page shows: the survey's own (an outcome like an
    id, out of range, empty boxes, too many segments), the whole sample's, and those of
    `segments`. One line up front, every message on demand, never silent."""
    w = result.warnings
    if w is None or not len(w):
        return
    shown = w[w.segment.isin(["", ALL, *segments])]
    if not len(shown):
        return
    messages = list(dict.fromkeys(shown.message))
    survey = list(dict.fromkeys(shown[shown.segment == ""].message))
    lead = (survey or messages)[0]
    more = len(messages) - 1
    extra = f" (and {more} more note{'s' if more > 1 else ''} on the data below)" if more else ""
    # The messages name segments and touchpoints: data, escaped.
    st.warning(escape_markdown(lead + extra), icon="⚠️")
    if more:
        with st.expander("What the data cannot support, in detail"):
            for r in shown.drop_duplicates("message").itertuples(index=False):
                where = " · ".join(str(x) for x in (r.segment, r.touchpoint) if x)
                line = f"{where}: {r.message}" if where else str(r.message)
                st.markdown(f"- {escape_markdown(line)}")


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def ranked_segments(result: MomentsResult) -> list[str]:
    """The segments to show, in the order to show them: those with enough data first, largest
    first, then the insufficient ones (largest first); ["All"] when not segmented.

    Pages take their defaults from the front of this list, so they open on the largest
    segments that have a result, not on the alphabetically first codes ("0", "10").
    """
    return list(derived.get(result, "ranked", lambda: _ranked(result)))  # a copy: callers edit


def _ranked(result: MomentsResult) -> tuple[str, ...]:
    segs = result.segments[result.segments.segment != ALL]
    if segs.empty:
        return (ALL,)
    bad = segs.insufficient.astype(bool)
    ok = segs[~bad].sort_values("n", ascending=False, kind="stable")
    short = segs[bad].sort_values("n", ascending=False, kind="stable")
    return tuple(str(s) for s in (*ok.segment, *short.segment))


def default_segments(result: MomentsResult, most: int, least: int = 1) -> list[str]:
    """What a page shows before the user picks: up to `most` of the largest segments with
    enough data; padded with the largest insufficient ones only up to `least`."""
    ranked = ranked_segments(result)
    short = insufficient_segments(result)
    chosen = [s for s in ranked if s not in short][:most]
    return chosen + [s for s in ranked if s in short][: max(0, least - len(chosen))]


def insufficient_segments(result: MomentsResult) -> set[str]:
    def build() -> frozenset[str]:
        segs = result.segments
        return frozenset(str(s) for s in segs.segment[segs.insufficient.astype(bool)])

    return set(derived.get(result, "insufficient", build))


def show_segmentation(choice: str) -> None:
    """Make `choice` the sidebar's segmentation and rerun (after a save on the Segments page)."""
    clear_saved_cache()
    set_url_widget("seg", choice)
    st.rerun()


def clear_results() -> None:
    """Forget cached results (after renaming saved segments: the names live in the sums)."""
    from cmot.results.moments import clear_cache

    _moments.clear()
    clear_cache()
    derived.clear()  # only memory: entries of an older result are never reused anyway
