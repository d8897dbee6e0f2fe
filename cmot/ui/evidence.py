"""Comments as evidence on screen: the Moments page's panel (concerns and delights of one
moment), the Action plan's quotes per item and its closed-loop lists (issue 13).

Every comment shown goes through `cmot.text.for_display` (masked, Markdown-escaped); quotes
only for those `cmot.ui.auth.may_see_quotes` allows. The engine is `cmot.feedback.evidence`."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from cmot.feedback.evidence import Evidence, find_evidence, moment_terms, segment_comments
from cmot.present.exports import to_csv
from cmot.present.report import evidence_lines
from cmot.present.tables import EMPTY
from cmot.results.moments import ALL, MomentsResult
from cmot.results.summary import top_stakes
from cmot.spec import JourneySpec
from cmot.text import escape_markdown, for_display, mask_personal
from cmot.ui.auth import QUOTES_HIDDEN, is_analyst, may_see_quotes
from cmot.ui.frame import PageView, ViewKey
from cmot.ui.memo import derived
from cmot.ui.state import get_store
from cmot.ui.url import url_widget
from cmot.ui.widgets import arrow_once, table

SIDES = (("low", "Concerns (bottom box)"), ("high", "What delights (top box)"))
NO_COMMENTS = (
    "This dataset has no comment column. To read what raters wrote, mark a free-text column "
    "as a comment on the Data page (Map columns, Comments) and save the mapping."
)


def _key(view: PageView, segment: str) -> tuple[object, ...]:
    # A dataset version never changes: its id, the view and the segment fix the rows.
    return (
        str(get_store().path),
        view.info.id,
        view.relation,
        view.params,
        view.columns,
        segment,
        view.info.spec.comments,
    )


# Process caches that hand out the same objects (st.cache_resource), never edited: a
# st.cache_data hit unpickled the segment's comments on every page switch, and the values
# drawn from them are derived once per object (`derived`).
@st.cache_resource(show_spinner=False, max_entries=32)
def _segment(
    key: ViewKey,
    segment: str,
    comments: tuple[str, ...],
    low_max: int,
    high_min: int,
    _spec: JourneySpec,  # fixed by dataset_id: not hashed
    _segment_sql: str | None,  # fixed by columns
) -> tuple[pd.DataFrame, Evidence]:
    frame = segment_comments(
        get_store().cursor(), key.relation, _spec, _segment_sql, segment, params=key.params
    )
    # Every touchpoint at once: one vectoriser per comment column, so a switch is a lookup.
    found = find_evidence(
        frame,
        list(_spec.touchpoint_columns),
        _spec.comment_touchpoints(),
        low_max=low_max,
        high_min=high_min,
        id_col="__id",
    )
    return frame, found


def segment_evidence(
    view: PageView, result: MomentsResult, segment: str
) -> tuple[pd.DataFrame, Evidence]:
    """The segment's rows (ratings, comments) and `find_evidence` of all its touchpoints at
    the page's cut-offs, cached per dataset version, view, segment and comment columns."""
    sql = view.segment_expression if segment != ALL else None
    return _segment(
        view.key,
        segment,
        view.info.spec.comments,
        result.low_max,
        result.high_min,
        view.info.spec,
        sql,
    )


@st.cache_resource(show_spinner=False, max_entries=256)
def _terms(
    key: tuple[object, ...],
    touchpoint: str,
    side: str,
    low_max: int,
    high_min: int,
    _frame: pd.DataFrame,  # fixed by key
    _links: dict[str, tuple[str, ...]],
) -> pd.DataFrame:
    return moment_terms(_frame, touchpoint, _links, side, low_max=low_max, high_min=high_min)


def _column_of(spec: JourneySpec, name: str) -> str:
    return next((c for c in spec.touchpoint_columns if spec.label_of(c) == name), name)


def evidence_panel(view: PageView, result: MomentsResult, segment: str) -> None:
    """The Moments page's evidence: for `segment` and a chosen touchpoint (in the URL, default
    the segment's top moment), what bottom-box and top-box raters wrote."""
    spec = view.info.spec
    st.subheader("What raters say")
    if not spec.comments:
        st.info(NO_COMMENTS, icon=":material/chat:")
        return
    names = [spec.label_of(c) for c in spec.touchpoint_columns]
    default = derived.get(result, ("top_stake", segment), lambda: _top_name(result, segment))
    default = default if default is not None else names[0]
    name = url_widget(
        st.selectbox,
        "Touchpoint",
        names,
        key="ev_tp",
        default=default if default in names else names[0],
        help="Whose comments to read: raters of this touchpoint. Default: the segment's "
        "top moment of truth.",
    )
    tp = _column_of(spec, name)
    frame, found = segment_evidence(view, result, segment)
    show_quotes = may_see_quotes()
    # An expander's label is Markdown: the segment's and touchpoint's names are data.
    label = f"Evidence: {escape_markdown(segment)}, {escape_markdown(name)}"
    with st.expander(label, expanded=True):
        if not show_quotes:
            st.caption(QUOTES_HIDDEN)
        for (side, title), col in zip(SIDES, st.columns(2), strict=True):
            with col:
                st.markdown(f"**{title}**")
                _side(view, result, segment, frame, found, tp, side, show_quotes)


@dataclass(frozen=True)
class _Side:
    """One side of the evidence panel as drawn: plain values, derived once per Evidence."""

    counted: str  # "3 of 40 raters commented (8%)"
    terms: pd.DataFrame | None  # the distinctive terms' table, or None ...
    note: str  # ... and then why there is none (escaped)
    quotes: tuple[str, ...]  # Markdown lines, for those who may see quotes


def _top_name(result: MomentsResult, segment: str) -> str | None:
    top = top_stakes(result, [segment], 1)
    return str(top.touchpoint.iat[0]) if len(top) else None


def _side(
    view: PageView,
    result: MomentsResult,
    segment: str,
    frame: pd.DataFrame,
    found: Evidence,
    tp: str,
    side: str,
    show_quotes: bool,
) -> None:
    # `found` (a cached object) fixes the view, the segment and the cut-offs: what one side
    # shows is derived once per touchpoint, side and whether quotes are shown.
    shown = derived.get(
        found,
        ("side", segment, tp, side, show_quotes),
        lambda: _side_of(view, result, segment, frame, found, tp, side, show_quotes),
    )
    st.caption(shown.counted)
    if shown.terms is None:
        st.caption(shown.note)
    else:
        # A table cell is shown as text, never as Markdown: the engine's masking is the care.
        st.dataframe(
            arrow_once(shown.terms),
            hide_index=True,
            key=f"ev_terms_{side}",
            column_config={"example": st.column_config.TextColumn(width="large")},
        )
    if not show_quotes:
        return
    if not shown.quotes:
        st.caption("No comment from these raters.")
    for line in shown.quotes:
        st.markdown(line)


def _side_of(
    view: PageView,
    result: MomentsResult,
    segment: str,
    frame: pd.DataFrame,
    found: Evidence,
    tp: str,
    side: str,
    show_quotes: bool,
) -> _Side:
    c = found.counts
    row = c[(c.touchpoint == tp) & (c.side == side)]
    raters = int(row.raters.iat[0]) if len(row) else 0
    commented = int(row.commented.iat[0]) if len(row) else 0
    share = commented / raters if raters else 0.0
    counted = f"{commented} of {raters} raters commented ({share:.0%})"
    terms = _terms(
        _key(view, segment),
        tp,
        side,
        result.low_max,
        result.high_min,
        frame,
        view.info.spec.comment_touchpoints(),
    )
    shown, note = None, ""
    if terms.empty:
        prefix = f"{segment} / {tp} ({side}):"
        said = [m for m in found.messages if m.startswith(prefix)]
        note = (
            escape_markdown(said[0].removeprefix(prefix).strip().capitalize())
            if said
            else "Too few comments on this side or the other to tell which words stand out."
        )
    else:
        shown = terms[["term", "count", "example"] if show_quotes else ["term", "count"]]
    lines: tuple[str, ...] = ()
    if show_quotes:
        q = found.quotes
        q = q[(q.touchpoint == tp) & (q.side == side)].head(3)
        lines = tuple(
            f"> {for_display(quote)}" + (f" · *{for_display(term)}*" if term else "")
            for quote, term in zip(q.quote, q.term, strict=True)
        )
    return _Side(counted, shown, note, lines)


def item_quotes(
    view: PageView, result: MomentsResult, segment: str, plan: pd.DataFrame, per_item: int = 2
) -> pd.DataFrame:
    """One or two quotes per action-plan item: low side for fix/improve/maintain
    (vulnerabilities, hybrids), high side for grow (opportunities); masked, not escaped.
    Columns: touchpoint (its name), side, quote."""
    spec = view.info.spec
    if not spec.comments:
        return pd.DataFrame(columns=["touchpoint", "side", "quote"])
    _, found = segment_evidence(view, result, segment)
    rows = []
    for name, action in zip(plan.touchpoint, plan.action, strict=True):
        side = {"grow": "high", "fix": "low", "improve": "low", "maintain": "low"}.get(action)
        if side is None:
            continue
        q = found.quotes
        tp = _column_of(spec, str(name))
        mine = q[(q.touchpoint == tp) & (q.side == side)].quote.drop_duplicates()
        for quote in mine.head(per_item):  # two different voices, not one twice
            rows.append((name, side, quote))
    return pd.DataFrame(rows, columns=["touchpoint", "side", "quote"])


def show_item_quotes(quotes: pd.DataFrame, touchpoints: Sequence[str]) -> None:
    """The quotes beside the plan: one line per item, escaped for Markdown."""
    if quotes.empty:
        return
    st.markdown("**In their words** (low raters for fixes, top-box raters for opportunities)")
    if not may_see_quotes():
        st.caption(QUOTES_HIDDEN)
        return
    # `quotes` comes from the page's memo: its lines are built once per plan.
    for line in derived.get(
        quotes, ("lines", tuple(touchpoints)), lambda: _quote_lines(quotes, touchpoints)
    ):
        st.markdown(line)


def _quote_lines(quotes: pd.DataFrame, touchpoints: Sequence[str]) -> tuple[str, ...]:
    lines = []
    for name in touchpoints:
        mine = quotes[quotes.touchpoint == name]
        if mine.empty:
            continue
        said = " · ".join(f"“{for_display(q)}”" for q in mine.quote)
        lines.append(f"- **{for_display(str(name))}**: {said}")
    return tuple(lines)


def _number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)  # numpy's too


def displayed_comments(people: pd.DataFrame, comments: Sequence[str]) -> pd.DataFrame:
    """An at-risk or delight list as shown: comments masked (the CSV keeps them unmasked,
    for the analyst's follow-up, as `cmot.results.summary.at_risk` documents); for viewers without
    the setting, the comment columns are left out. An empty cell reads "–"."""
    present = [c for c in comments if c in people.columns]
    out = people.drop(columns=present) if not may_see_quotes() else people.copy()
    for c in out.columns:
        if c in present:
            # Table cells are text, not Markdown: masking is what they need. No comment
            # reads "–", never "None" or "nan".
            out[c] = [mask_personal(v) if isinstance(v, str) else EMPTY for v in out[c]]
        elif out[c].isna().any():  # a rating this list does not count: "–", not "None"
            out[c] = [EMPTY if pd.isna(v) else f"{v:g}" if _number(v) else v for v in out[c]]
    return out


def closed_loop(people: pd.DataFrame, comments: Sequence[str], key: str, name: str) -> None:
    """An at-risk or delight list: the table as shown (masked) with its formula-safe CSV, and
    for analysts a second CSV with the comments unmasked, for the follow-up itself."""
    # `people` comes from the page's memo: the masked table is built once per list and role.
    shown = derived.get(
        people,
        ("displayed", tuple(comments), may_see_quotes()),
        lambda: displayed_comments(people, comments),
    )
    table(shown, key, name)
    present = [c for c in comments if c in people.columns]
    if present and is_analyst():
        st.download_button(
            "CSV with contact details (analysts)",
            lambda: to_csv(people),
            f"{name}-unmasked.csv",
            "text/csv",
            key=f"{key}_unmasked",
            on_click="ignore",
            icon=":material/download:",
            help="Comments as written, emails and phone numbers included: for following up "
            "with these respondents. Formula-safe like every export.",
        )


def report_evidence(
    view: PageView,
    result: MomentsResult,
    segments: Sequence[str],
    *,
    show_quotes: bool,
    top: int = 2,
) -> tuple[str, ...]:
    """The report's evidence section: for each segment's `top` moments (most at stake), per
    side the counts, the top terms and one quote (only if `show_quotes`)."""
    spec = view.info.spec
    if not spec.comments:
        return ()
    lines: list[str] = []
    for seg in segments:
        frame, found = segment_evidence(view, result, seg)
        links = spec.comment_touchpoints()
        for name in top_stakes(result, [seg], top).touchpoint:
            tp = _column_of(spec, str(name))
            for side, _ in SIDES:
                c = found.counts
                row = c[(c.touchpoint == tp) & (c.side == side)]
                q = found.quotes
                q = q[(q.touchpoint == tp) & (q.side == side)]
                terms = moment_terms(
                    frame, tp, links, side, low_max=result.low_max, high_min=result.high_min, top=5
                )
                lines.append(
                    evidence_lines(
                        seg,
                        str(name),
                        side,
                        int(row.commented.iat[0]) if len(row) else 0,
                        int(row.raters.iat[0]) if len(row) else 0,
                        list(terms.term),
                        str(q.quote.iat[0]) if show_quotes and len(q) else None,
                    )
                )
    return tuple(lines)
