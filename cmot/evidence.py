"""Comments as evidence for a moment (segment x touchpoint): the quotes of bottom-box raters
(concerns) and top-box raters (delights), ranked by how much they speak to that touchpoint,
and the distinctive terms of low raters against the rest (docs/METHODS.md, "Comments as
evidence"). Pure functions of a frame; nothing is downloaded (sklearn's English stop words)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer

from cmot.errors import CmotError
from cmot.spec import JourneySpec
from cmot.store import ID_COL, ROW_COL, quote_ident
from cmot.sums import segment_sql_expr
from cmot.text import mask_personal

# Below this many comments on a side, terms are noise: say so instead of listing them.
MIN_COMMENTS = 5
EVIDENCE_COLUMNS = ["segment", "touchpoint", "side", "rank", "respondent", "quote", "term"]
TERM_COLUMNS = ["term", "count", "z", "example"]


@dataclass(frozen=True)
class Evidence:
    """`quotes`: EVIDENCE_COLUMNS (the CLI's evidence.csv), personal data masked, not escaped
    (escape at the place it is shown). `counts`: per segment x touchpoint x side, raters,
    commented and their share. `messages`: why a moment has no or few quotes."""

    quotes: pd.DataFrame
    counts: pd.DataFrame
    messages: tuple[str, ...]


def _texts(values: pd.Series) -> pd.Series:
    """Comments as stripped strings, blanks as NA."""
    out = values.astype("string").str.strip()
    return out.mask(out.fillna("") == "")


def distinctive_terms(
    texts: Sequence[str],
    target: Sequence[bool],
    *,
    top: int = 10,
    min_count: int = 2,
    prior: float = 10.0,
) -> pd.DataFrame:
    """Terms (1-2 grams) that the `target` texts use more than the others: the log-odds ratio
    with an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008), its z-score ranking.

    The prior is the pooled term frequencies scaled to `prior` pseudo-counts per text... in
    total `prior` x vocabulary share, so rare terms shrink towards no difference. Returns
    TERM_COLUMNS: the term, how many target texts use it, z, and the first target text with
    it as an example (masked). Empty when either side has fewer than MIN_COMMENTS texts.
    """
    docs = [str(t) for t in texts]
    is_target = np.asarray(target, dtype=bool)
    if is_target.sum() < MIN_COMMENTS or (~is_target).sum() < MIN_COMMENTS:
        return pd.DataFrame(columns=TERM_COLUMNS)
    vec = CountVectorizer(ngram_range=(1, 2), stop_words="english", min_df=min_count)
    try:
        counts = vec.fit_transform(docs)
    except ValueError:  # nothing left after stop words and min_df
        return pd.DataFrame(columns=TERM_COLUMNS)
    y_t = np.asarray(counts[is_target].sum(axis=0)).ravel().astype(float)
    y_r = np.asarray(counts[~is_target].sum(axis=0)).ravel().astype(float)
    pooled = y_t + y_r
    alpha = prior * len(pooled) * pooled / pooled.sum()
    a0 = alpha.sum()
    n_t, n_r = y_t.sum(), y_r.sum()
    delta = np.log((y_t + alpha) / (n_t + a0 - y_t - alpha)) - np.log(
        (y_r + alpha) / (n_r + a0 - y_r - alpha)
    )
    z = delta / np.sqrt(1.0 / (y_t + alpha) + 1.0 / (y_r + alpha))
    docs_with = np.asarray((counts[is_target] > 0).sum(axis=0)).ravel()
    terms = vec.get_feature_names_out()
    order = [i for i in np.argsort(-z) if docs_with[i] >= min_count][:top]
    target_idx = np.flatnonzero(is_target)
    sub = counts[target_idx].tocsc()
    rows = []
    for i in order:
        first = target_idx[sub[:, i].nonzero()[0][0]]
        rows.append((terms[i], int(docs_with[i]), float(z[i]), mask_personal(docs[first])))
    return pd.DataFrame(rows, columns=TERM_COLUMNS)


def find_evidence(
    frame: pd.DataFrame,
    touchpoints: Sequence[str],
    comments: Mapping[str, str | Sequence[str] | None],
    *,
    low_max: int,
    high_min: int,
    id_col: str,
    segment_col: str | None = None,
    per_side: int = 5,
) -> Evidence:
    """Quotes per segment x touchpoint x side (low: rating <= `low_max`, high: >= `high_min`).

    `comments` maps each comment column to the touchpoint(s) it is linked to (None or ():
    a general comment); `JourneySpec.comment_touchpoints()` gives it for a spec. A comment
    is evidence for a touchpoint only if its author rated that touchpoint on that side.
    Ranking: columns linked to the touchpoint come first, then general ones; within
    these, by the summed z of the side's distinctive terms the comment uses (low or high
    raters against the segment's other commenters) plus the respondent's rating gap (how far
    this rating is from their mean over the other touchpoints, in scale points).
    """
    links = {c: (v,) if isinstance(v, str) else tuple(v or ()) for c, v in comments.items()}
    if not comments:
        return Evidence(pd.DataFrame(columns=EVIDENCE_COLUMNS), pd.DataFrame(), ())
    segs = frame[segment_col].astype("string").fillna("(none)") if segment_col else None
    quotes: list[pd.DataFrame] = []
    count_rows: list[tuple[object, ...]] = []
    messages: list[str] = []
    ratings = frame[list(touchpoints)].astype(float)
    texts = {c: _texts(frame[c]) for c in comments}
    groups = ["All"] if segs is None else sorted(segs.unique())
    for seg in groups:
        in_seg = np.ones(len(frame), bool) if segs is None else (segs == seg).to_numpy()
        for tp in touchpoints:
            cols = [c for c, link in links.items() if not link or tp in link]
            # the linked columns first, then the general ones
            cols.sort(key=lambda c: not links[c])
            for side in ("low", "high"):
                rating = ratings[tp]
                on_side = (rating <= low_max) if side == "low" else (rating >= high_min)
                on_side = on_side.to_numpy() & in_seg
                raters = int(on_side.sum())
                picked: list[pd.DataFrame] = []
                commented = np.zeros(len(frame), bool)
                for col in cols:
                    text = texts[col]
                    has = text.notna().to_numpy()
                    commented |= has & on_side
                    pool = has & in_seg & rating.notna().to_numpy()
                    mine = has & on_side
                    if not mine.any():
                        continue
                    terms = distinctive_terms(text[pool].tolist(), on_side[pool].tolist(), top=20)
                    own = text[mine].str.lower()
                    score = pd.Series(0.0, index=own.index)
                    term = pd.Series("", index=own.index, dtype="string")
                    for t, z in zip(terms["term"], terms["z"], strict=True):
                        if z <= 0:
                            continue
                        hit = own.str.contains(rf"\b{t}\b", regex=True).fillna(False)
                        term = term.mask(hit & (term == ""), t)
                        score = score + hit * z
                    others = ratings.drop(columns=[tp]).loc[own.index].mean(axis=1)
                    gap = (others - rating.loc[own.index]).fillna(0.0)
                    score = score + (gap if side == "low" else -gap)
                    part = pd.DataFrame(
                        {
                            "respondent": frame.loc[own.index, id_col],
                            "quote": text[mine].map(mask_personal),
                            "term": term,
                            "_group": 0 if links[col] else 1,
                            "_score": score,
                        }
                    )
                    picked.append(part)
                n_commented = int(commented.sum())
                count_rows.append(
                    (seg, tp, side, raters, n_commented, n_commented / raters if raters else 0.0)
                )
                if n_commented < MIN_COMMENTS:
                    messages.append(
                        f"{seg} / {tp} ({side}): {n_commented} of {raters} raters commented; "
                        f"too few to rank terms (needs {MIN_COMMENTS})"
                    )
                if not picked:
                    continue
                top = (
                    pd.concat(picked)
                    .sort_values(["_group", "_score"], ascending=[True, False], kind="stable")
                    .head(per_side)
                )
                top = top.drop(columns=["_group", "_score"])
                top.insert(0, "rank", range(1, len(top) + 1))
                top.insert(0, "side", side)
                top.insert(0, "touchpoint", tp)
                top.insert(0, "segment", seg)
                quotes.append(top)
    out = pd.concat(quotes, ignore_index=True) if quotes else pd.DataFrame(columns=EVIDENCE_COLUMNS)
    counts = pd.DataFrame(
        count_rows, columns=["segment", "touchpoint", "side", "raters", "commented", "share"]
    )
    return Evidence(out[EVIDENCE_COLUMNS], counts, tuple(messages))


def evidence_of_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    spec: JourneySpec,
    segmentation: Sequence[str],
    comments: Sequence[str],
    *,
    low_max: int | None = None,
    high_min: int | None = None,
    per_side: int = 5,
) -> Evidence:
    """`find_evidence` on a stored (or in-memory) survey relation: "All" and, with
    `segmentation`, each segment as the engine names it. Each touchpoint is cut on its own
    scale unless `low_max` / `high_min` override the cut-offs (as the analysis settings do).
    Comment columns are linked as the spec says; columns it does not list are general."""
    cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()}
    absent = [c for c in comments if c not in cols]
    if absent:
        have = ", ".join(repr(c) for c in spec.comments) or "none"
        raise CmotError(
            f"No comment column {', '.join(map(repr, absent))} in this survey (its comment "
            f"columns: {have}). Name a column of the file, or map it as a comment."
        )
    links = spec.comment_touchpoints()
    wanted = {c: links.get(c, ()) for c in comments}
    tps = list(spec.touchpoint_columns)
    select = ", ".join(quote_ident(c) for c in dict.fromkeys([*tps, *comments]))
    frame = con.execute(
        f"SELECT {quote_ident(ID_COL)} AS __id, {segment_sql_expr(segmentation)} AS __seg, "
        f"{select} FROM {table} ORDER BY {quote_ident(ROW_COL)}"
    ).df()
    parts: list[Evidence] = []
    segment_cols: list[str | None] = [None] + (["__seg"] if segmentation else [])
    by_scale: dict[tuple[int, int], list[str]] = {}
    for tp in tps:
        sc = spec.scale_of(tp)
        cut = (
            sc.low_max if low_max is None else low_max,
            sc.high_min if high_min is None else high_min,
        )
        by_scale.setdefault(cut, []).append(tp)
    for seg_col in segment_cols:
        for (lo, hi), group in by_scale.items():
            parts.append(
                find_evidence(
                    frame,
                    group,
                    wanted,
                    low_max=lo,
                    high_min=hi,
                    id_col="__id",
                    segment_col=seg_col,
                    per_side=per_side,
                )
            )
    order = {tp: i for i, tp in enumerate(tps)}
    quotes = pd.concat([p.quotes for p in parts], ignore_index=True)
    # All first, then the segments; touchpoints in journey order.
    quotes = quotes.assign(_all=quotes["segment"] != "All", _tp=quotes["touchpoint"].map(order))
    quotes = (
        quotes.sort_values(["_all", "segment", "_tp", "side", "rank"], kind="stable")
        .drop(columns=["_all", "_tp"])
        .reset_index(drop=True)
    )
    counts = pd.concat([p.counts for p in parts], ignore_index=True)
    return Evidence(quotes, counts, tuple(m for p in parts for m in p.messages))
