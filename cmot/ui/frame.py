"""The shared frame: the view every page analyses (`PageView`, drawn by `cmot.ui.sidebar`),
its moments (cached), the page guard and the lines said next to a result."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import streamlit as st

from cmot.engine.engines import DuckDBEngine, Engine, SparkEngine
from cmot.engine.rows import segment_sql_expr
from cmot.engine.view import Query
from cmot.errors import CmotError
from cmot.results.moments import ALL, MomentsResult, Settings, analyse_stats
from cmot.spec import JourneySpec
from cmot.store.sources import SourceError, hide_paths
from cmot.store.spark import spark_view
from cmot.store.versions import DatasetInfo
from cmot.text import escape_markdown, escape_message
from cmot.ui.auth import is_analyst
from cmot.ui.memo import derived
from cmot.ui.state import get_store, spark_for

WHOLE = "(whole sample)"
SAVED = "saved: "
log = logging.getLogger("cmot.ui")
UNEXPECTED = (
    "This page ran into an unexpected problem and stopped. Try again; if it happens again, "
    "pick another segmentation, filter or dataset in the sidebar. The details are in the "
    "server log"
)
T = TypeVar("T")


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
    (`cmot.ui.sidebar.sidebar_view`) chose, with the view's SQL (`relation`, `params`) from
    `cmot.engine.view.view_sql`."""

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
        engine: Engine = SparkEngine(session)
        query = Query(key.spark_relation, key.params, key.columns)
    else:
        engine, query = DuckDBEngine(store.cursor()), Query(key.relation, key.params, key.columns)
    stats = engine.statistics(query, info.spec, settings, cache_key=key.cache_key)
    return analyse_stats(stats, settings)


def cache_moments(view: PageView) -> MomentsResult:
    """The view's moments into (or from) the cache every page reads, outside a page: no
    spinner, errors raised (`cmot.ui.warm` computes the default view before any visitor)."""
    return _moments(view.key, view.settings)


# The results pages already read, by (view key, settings): a page switch finds its result
# here without hashing the key through Streamlit's cache and without a spinner (a timer
# thread and two messages each run). Bounded as `_moments` is; cleared with it.
_READY_MAX = 64
_ready: OrderedDict[tuple[ViewKey, Settings], MomentsResult] = OrderedDict()
_ready_lock = threading.Lock()


def moments(view: PageView) -> MomentsResult:
    """The moments of truth of the view (cached); a user-caused error stops the page."""
    slot = (view.key, view.settings)
    with _ready_lock:
        hit = _ready.get(slot)
        if hit is not None:
            _ready.move_to_end(slot)
            return hit
    result = computed(
        "Computing the moments of truth of each segment…",
        lambda: _moments(slot[0], slot[1]),
    )
    with _ready_lock:
        _ready[slot] = result
        while len(_ready) > _READY_MAX:
            _ready.popitem(last=False)
    return result


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
    # Built once per (cached) result, weighting and segment: the same line on every run.
    words = view.weighting
    return derived.get(
        result, ("caption", words, segment), lambda: _caption(words, result, segment)
    )


def _caption(weighting_words: str, result: MomentsResult, segment: str | None) -> str:
    s = result.settings
    segs = result.segments.set_index("segment")
    n = ""
    if segment is not None and segment in segs.index:
        own = own_data(result, segment)
        n = f"n = {int(segs.loc[segment, 'n']):,}{'; ' + own if own else ''}; "
    return (
        f"**{escape_markdown(first_upper(weighting_words))}**; "
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


def first_upper(text: str) -> str:
    """`text` with its first letter a capital ("Partial pooling ...")."""
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


def clear_results() -> None:
    """Forget cached results (after renaming saved segments: the names live in the sums)."""
    from cmot.results.moments import clear_cache

    _moments.clear()
    with _ready_lock:
        _ready.clear()
    clear_cache()
    derived.clear()  # only memory: entries of an older result are never reused anyway
