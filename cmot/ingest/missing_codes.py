"""The proposed missing codes (`propose_codes`, a `CodeProposal` each): a value that looks
like a code beside the scale rather than a scale point, with the evidence in words and
numbers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cmot.ingest.guesses import ColumnGuess
from cmot.ingest.options import IngestOptions
from cmot.ingest.survey_scale import STRAY_SHARE, Scales, Shape, order_codes
from cmot.spec import Code


@dataclass(frozen=True)
class CodeProposal:
    """A value that looks like a code beside the scale rather than a scale point."""

    code: Code
    columns: tuple[str, ...]
    evidence: str  # e.g. "9 holds 21% of answers in 83 columns rated 1-5"
    applied: bool = True  # proposals are applied unless the analyst unticks them


def propose_codes(
    found: dict[str, tuple[Code, ...]],
    guesses: dict[str, ColumnGuess],
    shapes: dict[str, Shape],
    sc: Scales,
    own: dict[str, tuple[int, int]],
    opts: IngestOptions,
    sampled: bool = False,
    file_declares: Mapping[str, tuple[Code, ...]] | None = None,
    strays: Mapping[str, tuple[int, ...]] | None = None,
) -> tuple[CodeProposal, ...]:
    """One proposal per code, with the evidence in words and numbers; a stray answer
    (`strays`: touchpoint -> its answers outside the survey's scale) says so, as does a code
    the file itself declares missing (`file_declares`: column -> its declared codes)."""
    strays = strays or {}
    file_declares = file_declares or {}
    by_code: dict[Code, list[str]] = {}
    for col, codes in found.items():
        for code in codes:
            by_code.setdefault(code, []).append(col)
    declared = {str(c) for c in opts.missing} if opts.missing is not None else None
    out = []
    for code in order_codes(list(by_code)):
        cs = by_code[code]
        rated = [c for c in cs if guesses[c].role in ("touchpoint", "outcome")]
        other = [c for c in cs if c not in rated]

        def share(columns: list[str], code: Code = code) -> tuple[int, int]:
            hits = total = 0
            for c in columns:
                sh = shapes[c]
                hits += sh.ints.get(code, 0) if isinstance(code, int) else sh.texts.get(code, 0)
                total += sh.answers
            return hits, total

        parts = []
        said = [c for c in cs if code in tuple(file_declares.get(c, ()))]
        if said:
            names = ", ".join(said[:3]) + (" ..." if len(said) > 3 else "")
            parts.append(f"the file declares {code} missing in {len(said)} column(s) ({names})")
        stray = [c for c in rated if code in strays.get(c, ())]
        rated = [c for c in rated if c not in stray]
        if stray:
            hits, total = share(stray)
            names = ", ".join(stray[:3]) + (" ..." if len(stray) > 3 else "")
            parts.append(
                f"{hits:,} answer{'s' if hits != 1 else ''} ({hits / max(total, 1):.1%}) in "
                f"{names}, outside the {sc.lo}-{sc.hi} the bulk of the sibling columns use: "
                f"a stray answer (under {STRAY_SHARE:.0%} of a column's), not a wider scale"
            )
        if rated:
            hits, total = share(rated)
            scales = sorted({own.get(c, (sc.lo, sc.hi)) for c in rated})
            rng = " or ".join(f"{a}-{b}" for a, b in scales)
            parts.append(
                f"{code} holds {hits / max(total, 1):.0%} of the answers ({hits:,}) in "
                f"{len(rated)} column(s) otherwise rated {rng}"
            )
        if other:
            hits, total = share(other)
            names = ", ".join(other[:3]) + (" ..." if len(other) > 3 else "")
            parts.append(
                f"{'also ' if rated else ''}{code} stands apart from the other codes in "
                f"{len(other)} coded column(s) ({names}): {hits / max(total, 1):.0%} of their "
                "answers"
            )
        applied = declared is None or str(code) in declared
        where = " (counted in a sample of the rows)" if sampled else ""
        out.append(CodeProposal(code, tuple(cs), "; ".join(parts) + where, applied))
    return tuple(out)
