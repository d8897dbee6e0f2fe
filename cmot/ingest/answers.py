"""Which of a column's values are no answer (a blank, a declared text marker, a code beside
the column's other numbers): the Data page's segment labels and the sidebar's filters.
"""

from __future__ import annotations

from collections.abc import Sequence


def no_answer_values(values: Sequence[str], codes: Sequence[object]) -> tuple[str, ...]:
    """The values of a segment column (as text) that are no answer: a blank (" "), a code
    declared 'no answer' that is a text marker ("NA"), or a number among `codes` that lies
    beside the column's other numbers (9 after 1-2, -1 before 1-3). A code inside the run
    of the others is an answer there: San Diego's district 9 of 1-9, while 9 means don't
    know in its ratings."""
    wanted = {str(c).strip().lower() for c in codes}
    numbers = {v: x for v in values if (x := _number(v)) is not None}
    declared = {float(c) for c in codes if isinstance(c, int | float)}
    out = []
    for v in values:
        if v not in numbers:
            if not v.strip() or v.strip().lower() in wanted:  # a blank is no answer too
                out.append(v)
            continue
        x = numbers[v]
        if x not in declared:
            continue
        others = [y for w, y in numbers.items() if w != v and y not in declared]
        if not others or x > max(others) + 1 or x < min(others) - 1:
            out.append(v)
    return tuple(out)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
