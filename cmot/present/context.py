"""What a result was computed on, in one sentence that travels with it (issue 28, item 5).

Every results page states it under its title, and every export (a table's CSV, a chart's
PNG/SVG, the comparison report, the executive brief) carries it in its headline, so a
number read away from the screen still says which data, segments, filters and method it
belongs to. One function builds the sentence; the UI fills it from the sidebar's view
(`cmot.ui.context.context_of`), the exports from the same call.
"""

from __future__ import annotations

from cmot.settings import POOLING_WORDS


def context_sentence(
    dataset: str,
    version: int | None,
    segmentation: str,
    filters: str,
    pooling: str | None,
    weighting: str,
) -> str:
    """'demo v3 · segments by Region · only Region in North · each segment alone ·
    unweighted'.

    `segmentation` is what the segments are named by ("" or None-like for the whole
    sample: then no pooling is said, as there are no segments to pool); `filters` the
    filters in words, "; "-separated ("" for none: "all respondents" is said, so a reader
    knows no filter was forgotten); `pooling` a key of `POOLING_WORDS` ("partial" or
    "none"); `weighting` "weighted by X" or "unweighted". Plain text: escape it where
    Markdown renders it.
    """
    parts = [dataset if version is None else f"{dataset} v{version}"]
    if segmentation:
        parts.append(f"segments by {segmentation}")
        if pooling in POOLING_WORDS:
            parts.append(POOLING_WORDS[pooling])
    else:
        parts.append("whole sample, no segments")
    parts.append(f"only {filters}" if filters else "all respondents")
    parts.append(weighting)
    return " · ".join(p for p in parts if p)
