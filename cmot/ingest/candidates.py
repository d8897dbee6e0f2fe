"""The likeliest outcome columns, for a refusal that asks with a candidate (issue 23).

When no outcome is named and none is detected, the command line names the columns an
analyst would look at first: a rating whose question text (or name) says overall,
satisfaction, recommend or likely; one that moves with the other ratings (an overall
judgement correlates with its parts); one early in the file (overall questions usually
come first). Only a hint: nothing is chosen for the user.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import duckdb
import numpy as np

from cmot.ingest.detect import Detection
from cmot.names import quote_ident

# Rows read for the correlations: every k-th row of a larger file.
SAMPLE_ROWS = 5_000
# Rating columns considered at most (the first ones: a very wide file's rest is no outcome).
MAX_COLUMNS = 400
SHOWN = 3
_WORDS = re.compile(r"overall|satisf|recommend|likel|loyal|\bnps\b", re.IGNORECASE)
_WORD_BONUS = 0.25  # a question that says "overall" outranks any correlation
_EARLY_BONUS = 0.05  # the first rating gets this, the last none
_NO_OUTCOME = "pick the outcome column"


@dataclass(frozen=True)
class Candidate:
    column: str
    label: str  # question text, when the file carries it
    r: float | None  # correlation with the mean of the other ratings (standardised)
    words: bool  # its question text or name says overall, satisfaction, recommend, likely
    score: float

    def text(self, first: bool = False) -> str:
        """'q2_01 (r 0.64 with the other ratings)', with its question text when it has one
        (the first candidate says what r is, the next ones only the number)."""
        why = []
        if self.label:
            why.append(self.label if len(self.label) <= 60 else self.label[:59] + "…")
        if self.r is not None:
            why.append(f"r {self.r:.2f}" + (" with the other ratings" if first else ""))
        return f"{self.column} ({'; '.join(why) or 'a rating'})"


def needs_outcome(det: Detection) -> bool:
    """Detection found no outcome and none was named: the refusal should ask with names."""
    return det.spec is None and any(p.startswith(_NO_OUTCOME) for p in det.problems)


def rank_outcomes(
    con: duckdb.DuckDBPyConnection, relation: str, det: Detection, rows: int
) -> list[Candidate]:
    """Rating-like columns of `relation` on `con`, likeliest outcome first."""
    ratings = [g for g in det.columns if g.role == "touchpoint" or g.kind in ("rating", "scale")]
    ratings = ratings[:MAX_COLUMNS]
    if not ratings:
        return []
    codes = {float(p.code) for p in det.proposals if p.applied and isinstance(p.code, int)}
    step = max(1, -(-rows // SAMPLE_ROWS))
    cells = ", ".join(
        f"TRY_CAST(TRY_CAST({quote_ident(g.column)} AS VARCHAR) AS DOUBLE)" for g in ratings
    )
    found = con.execute(f"SELECT {cells} FROM {relation} WHERE rowid % {step} = 0").fetchall()
    x = np.array(found, dtype=float).reshape(len(found), len(ratings))
    if codes:
        x[np.isin(x, list(codes))] = np.nan
    rs = _with_the_others(x)
    out = []
    for i, g in enumerate(ratings):
        words = bool(_WORDS.search(g.label) or _WORDS.search(g.column))
        r = rs[i]
        early = _EARLY_BONUS * (1 - i / len(ratings))
        score = (r if r is not None else 0.0) + (_WORD_BONUS if words else 0.0) + early
        out.append(Candidate(g.column, g.label, r, words, score))
    return sorted(out, key=lambda c: -c.score)


def _with_the_others(x: np.ndarray) -> list[float | None]:
    """Each column's correlation with the row mean of the other columns, all standardised
    (a 0-10 item weighs no more than a 1-5 one); None without enough rows or variation."""
    n, k = x.shape
    out: list[float | None] = [None] * k
    if n < 10 or k < 2:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.nanstd(x, axis=0)
        z = (x - np.nanmean(x, axis=0)) / np.where(sd > 0, sd, np.nan)
        seen = np.isfinite(z)
        total = np.where(seen, z, 0.0).sum(axis=1)
        count = seen.sum(axis=1)
        for j in range(k):
            own = seen[:, j]
            rest_n = count - own
            ok = own & (rest_n > 0)
            if ok.sum() < 10:
                continue
            a = z[ok, j]
            b = (total[ok] - a) / rest_n[ok]
            if np.std(a) == 0 or np.std(b) == 0:
                continue
            out[j] = float(np.corrcoef(a, b)[0, 1])
    return out


def hint(candidates: Sequence[Candidate], shown: int = SHOWN) -> str:
    """'likely: q2_01 (r 0.64 with the other ratings), q2_02 (...), ...'; '' without any."""
    if not candidates:
        return ""
    return "likely: " + ", ".join(c.text(i == 0) for i, c in enumerate(candidates[:shown]))


def with_outcome_hint(
    det: Detection, con: duckdb.DuckDBPyConnection, relation: str, rows: int
) -> Detection:
    """The detection, its missing-outcome problem ending with the likeliest columns."""
    if not needs_outcome(det):
        return det
    try:
        said = hint(rank_outcomes(con, relation, det, rows))
    except duckdb.Error:
        return det  # only a hint: the refusal stands without it
    if not said:
        return det
    problems = tuple(f"{p}; {said}" if p.startswith(_NO_OUTCOME) else p for p in det.problems)
    return replace(det, problems=problems)
