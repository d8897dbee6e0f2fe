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
from scipy import sparse

from cmot.engine.rows import segment_sql_expr
from cmot.errors import CmotError
from cmot.names import ID_COL, ROW_COL, quote_ident
from cmot.spec import JourneySpec
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
    """Comments as stripped strings, blanks as NA, emails and phones masked before any term
    is counted: unmasked, a phone's digit groups ("310 555") and an address's parts ranked
    among the distinctive terms shown on screen (seen in the browser test)."""
    out = values.astype("string").str.strip()
    out = out.mask(out.fillna("") == "")
    return out.map(mask_personal, na_action="ignore").astype("string")


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

    The prior's pseudo-counts are proportional to each term's pooled frequency, `prior` per
    term on average, so rare terms shrink towards no difference. Returns
    TERM_COLUMNS: the term, how many target texts use it, z, and the first target text with
    it as an example (masked). Empty when either side has fewer than MIN_COMMENTS texts.
    """
    docs = [str(t) for t in texts]
    fitted = _vectorise(docs, min_count)
    if fitted is None:
        return pd.DataFrame(columns=TERM_COLUMNS)
    counts, terms = fitted
    found = _contrast(counts, np.asarray(target, dtype=bool), top, min_count, prior)
    return _term_table(found, counts, terms, docs, np.asarray(target, dtype=bool))


def _vectorise(docs: Sequence[str], min_count: int) -> tuple[sparse.csr_matrix, np.ndarray] | None:
    """Term counts (1-2 grams, English stop words out) of `docs`, or None if no term is left."""
    # Imported here: scikit-learn takes ~0.9 s to import, and every command of the command
    # line imports this module (analyze), most of them never reading a comment.
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(ngram_range=(1, 2), stop_words="english", min_df=min_count)
    try:
        counts = sparse.csr_matrix(vec.fit_transform(docs))
    except ValueError:  # nothing left after stop words and min_df
        return None
    return counts, vec.get_feature_names_out()


def _contrast(
    counts: sparse.csr_matrix, is_target: np.ndarray, top: int, min_count: int, prior: float
) -> list[tuple[int, int, float]]:
    """(term index, target documents using it, z) of the `top` terms by the log-odds z."""
    if is_target.sum() < MIN_COMMENTS or (~is_target).sum() < MIN_COMMENTS:
        return []
    y_t = np.asarray(counts[is_target].sum(axis=0)).ravel().astype(float)
    y_r = np.asarray(counts[~is_target].sum(axis=0)).ravel().astype(float)
    pooled = y_t + y_r
    if pooled.sum() == 0:
        return []
    # Dirichlet prior: pseudo-counts proportional to each term's pooled frequency, `prior`
    # per term on average; a term unused in these documents gets none and is skipped.
    alpha = prior * len(pooled) * pooled / pooled.sum()
    a0 = alpha.sum()
    n_t, n_r = y_t.sum(), y_r.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.log((y_t + alpha) / (n_t + a0 - y_t - alpha)) - np.log(
            (y_r + alpha) / (n_r + a0 - y_r - alpha)
        )
        z = delta / np.sqrt(1.0 / (y_t + alpha) + 1.0 / (y_r + alpha))
    z = np.where(pooled > 0, z, -np.inf)
    docs_with = np.asarray((counts[is_target] > 0).sum(axis=0)).ravel()
    order = [i for i in np.argsort(-z) if docs_with[i] >= min_count and np.isfinite(z[i])]
    return [(int(i), int(docs_with[i]), float(z[i])) for i in order[:top]]


def _term_table(
    found: list[tuple[int, int, float]],
    counts: sparse.csr_matrix,
    terms: np.ndarray,
    docs: Sequence[str],
    is_target: np.ndarray,
) -> pd.DataFrame:
    target_idx = np.flatnonzero(is_target)
    sub = counts[target_idx].tocsc()
    rows = []
    for i, n, z in found:
        first = target_idx[sub[:, i].nonzero()[0][0]]
        rows.append((terms[i], n, z, mask_personal(docs[first])))
    return pd.DataFrame(rows, columns=TERM_COLUMNS)


# A comment column's commenters in one segment (their row positions) and its term counts
# there (`_vectorise`: None when no term is left).
_Commenters = tuple[np.ndarray, tuple[sparse.csr_matrix, np.ndarray] | None]


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
    ids = frame[id_col].to_numpy()
    groups = ["All"] if segs is None else sorted(segs.unique())
    for seg in groups:
        in_seg = np.ones(len(frame), bool) if segs is None else (segs == seg).to_numpy()
        # One vectoriser per segment and column: every touchpoint and side reuses it.
        fitted: dict[str, _Commenters] = {}
        for col in comments:
            pos = np.flatnonzero(texts[col].notna().to_numpy() & in_seg)
            fitted[col] = (pos, _vectorise(texts[col].iloc[pos].tolist(), 2))
        for tp in touchpoints:
            cols = [c for c, link in links.items() if not link or tp in link]
            # the linked columns first, then the general ones
            cols.sort(key=lambda c: not links[c])
            rating = ratings[tp].to_numpy()
            others = ratings.drop(columns=[tp]).mean(axis=1).to_numpy()
            for side in ("low", "high"):
                on_side = (rating <= low_max) if side == "low" else (rating >= high_min)
                on_side = on_side & in_seg
                raters = int(on_side.sum())
                picked, n_commented = _side_quotes(
                    {c: fitted[c] for c in cols}, texts, links, ids, rating, on_side, others, side
                )
                count_rows.append(
                    (seg, tp, side, raters, n_commented, n_commented / raters if raters else 0.0)
                )
                if n_commented < MIN_COMMENTS:
                    messages.append(
                        f"{seg} / {tp} ({side}): {n_commented} of {raters} raters commented; "
                        f"too few to rank terms (needs {MIN_COMMENTS})"
                    )
                if picked:
                    quotes.append(_top_quotes(picked, per_side, seg, tp, side))
    out = pd.concat(quotes, ignore_index=True) if quotes else pd.DataFrame(columns=EVIDENCE_COLUMNS)
    counts = pd.DataFrame(
        count_rows, columns=["segment", "touchpoint", "side", "raters", "commented", "share"]
    )
    return Evidence(out[EVIDENCE_COLUMNS], counts, tuple(messages))


def _side_quotes(
    fitted: Mapping[str, _Commenters],
    texts: Mapping[str, pd.Series],
    links: Mapping[str, tuple[str, ...]],
    ids: np.ndarray,
    rating: np.ndarray,
    on_side: np.ndarray,
    others: np.ndarray,
    side: str,
) -> tuple[list[pd.DataFrame], int]:
    """The quotes of the side's raters (`on_side`) in each comment column of `fitted` (in
    that order), with their ranking (`_group`: linked columns first; `_score`), and how
    many of the raters commented in any of them."""
    picked: list[pd.DataFrame] = []
    commented = np.zeros(len(rating), bool)
    for col, (pos, vectorised) in fitted.items():
        mine = pos[on_side[pos]]
        commented[mine] = True
        if not len(mine):
            continue
        score, term = _scores(pos, vectorised, rating, on_side, others, side)
        picked.append(
            pd.DataFrame(
                {
                    "respondent": ids[mine],
                    "quote": texts[col].iloc[mine].to_numpy(),
                    "term": term,
                    "_group": 0 if links[col] else 1,
                    "_score": score,
                }
            )
        )
    return picked, int(commented.sum())


def _scores(
    pos: np.ndarray,
    vectorised: tuple[sparse.csr_matrix, np.ndarray] | None,
    rating: np.ndarray,
    on_side: np.ndarray,
    others: np.ndarray,
    side: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Each of the side's commenters' score (the summed z of the side's distinctive terms
    the comment uses, against the column's other commenters who rated the touchpoint, plus
    the rating gap) and the first such term it uses ("" for none)."""
    rated = ~np.isnan(rating[pos])
    mine = pos[on_side[pos]]
    score = np.zeros(len(mine))
    term = np.full(len(mine), "", dtype=object)
    if vectorised is not None:
        counts, vocab = vectorised
        pool = counts[rated]
        found = _contrast(pool, on_side[pos][rated], 20, 2, 10.0)
        found = [f for f in found if f[2] > 0]
        if found:
            idx = [f[0] for f in found]
            z = np.array([f[2] for f in found])
            hits = counts[on_side[pos]][:, idx].toarray() > 0
            score = hits @ z
            first = hits.argmax(axis=1)
            term = np.where(hits.any(axis=1), vocab[idx][first], "")
    gap = np.nan_to_num(others[mine] - rating[mine])
    return score + (gap if side == "low" else -gap), term


def _top_quotes(
    picked: list[pd.DataFrame], per_side: int, seg: str, tp: str, side: str
) -> pd.DataFrame:
    """The best ranked `per_side` quotes of one segment x touchpoint x side, masked, as
    EVIDENCE_COLUMNS."""
    ranked = pd.concat(picked).sort_values(
        ["_group", "_score"], ascending=[True, False], kind="stable"
    )
    # The same words written by several people are one quote, the best ranked
    # (issue 23: a title quoted three times); the other places go to other texts.
    same = ranked["quote"].str.casefold().str.split().str.join(" ")
    top = ranked[~same.duplicated()].head(per_side)
    top = top.drop(columns=["_group", "_score"])
    top["quote"] = top["quote"].map(mask_personal)  # only the quotes shown
    top.insert(0, "rank", range(1, len(top) + 1))
    top.insert(0, "side", side)
    top.insert(0, "touchpoint", tp)
    top.insert(0, "segment", seg)
    return top


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


def segment_comments(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    spec: JourneySpec,
    segment_sql: str | None,
    segment: str,
    *,
    params: Sequence[object] = (),
) -> pd.DataFrame:
    """The rows of one segment of a (possibly filtered) view that `find_evidence` needs:
    `__id`, the touchpoint ratings and the comment columns, in file order. `relation`'s `?`
    placeholders are bound to `params`; `segment_sql` gives a row's segment (None: all rows)."""
    cols = [*spec.touchpoint_columns, *spec.comments]
    select = ", ".join(quote_ident(c) for c in dict.fromkeys(cols))
    where = f"({segment_sql}) = ?" if segment_sql else "TRUE"
    sql = (
        f"SELECT {quote_ident(ID_COL)} AS __id, {select} FROM {relation} WHERE {where} "
        f"ORDER BY {quote_ident(ROW_COL)}"
    )
    return con.execute(sql, [*params, *([segment] if segment_sql else [])]).df()


def moment_terms(
    frame: pd.DataFrame,
    touchpoint: str,
    comments: Mapping[str, str | Sequence[str] | None],
    side: str,
    *,
    low_max: int,
    high_min: int,
    top: int = 8,
) -> pd.DataFrame:
    """TERM_COLUMNS for one touchpoint and side: what its low (`side` "low") or top-box
    raters write more than the other commenters who rated it, in the comment columns that
    speak to it (linked to it, or general). Empty when either side has too few comments."""
    links = {c: (v,) if isinstance(v, str) else tuple(v or ()) for c, v in comments.items()}
    rating = frame[touchpoint].astype(float)
    on_side = rating <= low_max if side == "low" else rating >= high_min
    texts: list[str] = []
    target: list[bool] = []
    for col, link in links.items():
        if link and touchpoint not in link:
            continue
        said = _texts(frame[col])
        keep = said.notna() & rating.notna()
        texts += said[keep].tolist()
        target += on_side[keep].tolist()
    return distinctive_terms(texts, target, top=top)
