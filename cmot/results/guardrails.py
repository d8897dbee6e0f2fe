"""The guardrails: warnings in plain words about the data and the fits, each where its number
is shown (`guardrails` -> the rows of `MomentsResult.warnings`, WARNING_COLUMNS), one step per
kind of warning. Formulas and thresholds: docs/METHODS.md, "Guardrails"."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cmot.engine.stats import SufficientStats
from cmot.settings import ALL, Settings

WARNING_COLUMNS = ["segment", "touchpoint", "column", "kind", "message"]
# A segmentation with more values than this is too fine to read; merge codes first.
MANY_SEGMENTS = 50
# An outcome with at least this share of distinct values over 20+ respondents is an id.
ID_LIKE_SHARE = 0.95

# One warning: segment, touchpoint, column, kind, message (WARNING_COLUMNS).
WarningRow = tuple[str, str, str, str, str]


def guardrails(
    stats: SufficientStats, segments: pd.DataFrame, moments: pd.DataFrame, settings: Settings
) -> pd.DataFrame:
    """Warnings in plain words, each where its number is shown (WARNING_COLUMNS).

    kinds: id_outcome (an outcome unique per row), outcome_range (outside its declared
    range), one_value (a touchpoint everyone rated alike), thin_cell (an empty or tiny
    top-box or bottom-box cell), empty_boxes (that cell empty for every touchpoint: the
    scale or its missing codes are wrong), many_segments (a segment column with too many
    values),
    fit (a model that cannot be fitted), importance (Shapley or relative weights skipped).
    """
    # Only for segments big enough to analyse: small ones already say so as a whole.
    min_seg = settings.segment_minimum(len(stats.columns))
    big = {s.segment for s in stats.segments if s.n >= min_seg} | {ALL}
    out = [
        *_outcome_warnings(stats),
        *_one_value(stats),
        *_empty_boxes(stats, moments),
        *_thin_cells(stats, moments, settings, big),
        *_many_segments(stats, segments),
        *_fit_problems(stats),
        *_importance_notes(stats, big),
    ]
    return pd.DataFrame(out, columns=WARNING_COLUMNS)


def _outcome_warnings(stats: SufficientStats) -> list[WarningRow]:
    """An outcome that looks like an id, or runs outside its declared range."""
    out: list[WarningRow] = []
    n_all = stats.segments[0].n if stats.segments else 0
    if n_all >= 20 and stats.outcome_distinct >= ID_LIKE_SHARE * n_all:
        out.append(
            (
                "",
                "",
                "",
                "id_outcome",
                f"The outcome has {stats.outcome_distinct} different values among {n_all} "
                "respondents: it looks like an id, not an outcome. Pick the column that "
                "measures the whole relationship (satisfaction, recommend, renewed).",
            )
        )
    rng = stats.outcome_range
    lo_y, hi_y = stats.outcome_min, stats.outcome_max
    if rng is not None and math.isfinite(lo_y) and (lo_y < rng[0] or hi_y > rng[1]):
        out.append(
            (
                "",
                "",
                "",
                "outcome_range",
                f"The outcome runs from {lo_y:g} to {hi_y:g}, outside its declared range "
                f"{rng[0]:g}-{rng[1]:g}: declare the codes outside it (e.g. 9 or 99 for "
                "'don't know') as missing, or correct the range.",
            )
        )
    return out


def _one_value(stats: SufficientStats) -> list[WarningRow]:
    """Touchpoints everyone who rated them rated alike."""
    out: list[WarningRow] = []
    if stats.segments:
        lv = stats.segments[0].levels
        for i in range(len(stats.columns)):
            given = np.flatnonzero(lv[i, :-1, 0] > 0)
            if len(given) == 1:
                value = stats.scale_at(i)[0] + int(given[0])
                out.append(
                    (
                        ALL,
                        stats.names[i],
                        stats.columns[i],
                        "one_value",
                        f"Everyone who rated {stats.names[i]} gave {value}: a touchpoint with "
                        "one value cannot explain the outcome; leave it out of the journey.",
                    )
                )
    return out


def _empty_boxes(stats: SufficientStats, moments: pd.DataFrame) -> list[WarningRow]:
    """The top or the bottom box empty for every touchpoint of the whole survey."""
    out: list[WarningRow] = []
    if not len(moments):
        return out
    everyone = [s == ALL for s in moments["segment"].tolist()]  # as lists: see _thin_cells
    for side, col in (("top", "n_high"), ("bottom", "n_low")):
        cells = [n for n, whole in zip(moments[col].tolist(), everyone, strict=True) if whole]
        if cells and all(n == 0 for n in cells):
            cut = (
                f">= {stats.high_min}" if side == "top" else f"<= {stats.low_max}"
            )  # the survey scale's; own scales are named per touchpoint below
            out.append(
                (
                    "",
                    "",
                    "",
                    "empty_boxes",
                    f"Nobody is in the {side} box ({cut}) of any touchpoint, so no "
                    f"{'reward' if side == 'top' else 'penalty'} can be estimated and no "
                    "moment of truth found: check the scale (is its end a 'not used' or "
                    "'don't know' code?) and the missing codes.",
                )
            )
    return out


def _thin_cells(
    stats: SufficientStats, moments: pd.DataFrame, settings: Settings, big: set[str]
) -> list[WarningRow]:
    """Empty or tiny top-box or bottom-box cells of the segments big enough to analyse."""
    out: list[WarningRow] = []
    # A pooled segment's (cmot.results.pooling) estimates rest on the journey's cells, not its own.
    own = {s.segment for s in stats.segments if s.cov is None}
    shown = big & own
    # Over the columns as lists: a few hundred rows, where pandas' filters cost more than
    # the loop (this runs on every analysis, inside the serial part of a view's wait).
    if not len(moments):
        return out
    names = ("segment", "touchpoint", "column", "n_low", "n_high")
    rows = zip(*(moments[c].tolist() for c in names), strict=True)
    for segment, touchpoint, column, n_low, n_high in rows:
        if segment not in shown:
            continue
        for side, n_cell in (("bottom", n_low), ("top", n_high)):
            if n_cell < settings.min_cell:
                what = "nobody" if n_cell == 0 else f"only {n_cell} respondents"
                out.append(
                    (
                        str(segment),
                        str(touchpoint),
                        str(column),
                        "thin_cell",
                        f"{what} in the {side} box of {touchpoint} (needs "
                        f"{settings.min_cell}): its {'penalty' if side == 'bottom' else 'reward'}"
                        " cannot be estimated; check the scale's cut-offs and missing codes.",
                    )
                )
    return out


def _many_segments(stats: SufficientStats, segments: pd.DataFrame) -> list[WarningRow]:
    """A segmentation with more values than MANY_SEGMENTS."""
    n_segs = len(stats.segments) - 1
    if not (stats.segmentation and n_segs > MANY_SEGMENTS):
        return []
    small = int(segments.insufficient.iloc[1:].sum()) if len(segments) > 1 else 0
    return [
        (
            "",
            "",
            "",
            "many_segments",
            f"{' / '.join(stats.segmentation)} has {n_segs} values ({small} too small to "
            "analyse): merge its codes into a few groups, or pick another segmentation.",
        )
    ]


def _fit_problems(stats: SufficientStats) -> list[WarningRow]:
    """Segments whose model cannot be fitted."""
    return [
        (
            s.segment,
            "",
            "",
            "fit",
            f"Segment {s.segment}: {s.problem}; its results are left out. Merge it "
            "with a similar segment or drop touchpoints few respondents rated.",
        )
        for s in stats.segments
        if s.problem
    ]


def _importance_notes(stats: SufficientStats, big: set[str]) -> list[WarningRow]:
    """Why Shapley values or relative weights were skipped: one line per distinct reason."""
    out: list[WarningRow] = []
    imp = stats.importance
    if not len(imp):
        return out
    # Segments too small to analyse say so as a whole: no importance note for them. Each
    # segment's first row, in order (as lists: see _thin_cells).
    segments = imp["segment"].tolist()
    firsts: dict[str, int] = {}
    for i, segment in enumerate(segments):
        if segment in big and segment not in firsts:
            firsts[segment] = i
    for col in ("shapley_note", "relative_weight_note"):
        if col not in imp:
            continue
        # One line per distinct reason, for the largest segment it applies to.
        notes, said = imp[col].tolist(), set()
        for i in firsts.values():
            note = notes[i]
            if isinstance(note, str) and note and note not in said:
                said.add(note)
                out.append((str(segments[i]), "", "", "importance", note))
    return out
