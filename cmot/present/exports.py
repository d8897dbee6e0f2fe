"""Exports a person downloads: tables as CSV (formula-safe: `neutralise`, the one function every
CSV export goes through) and charts as PNG or SVG (vl-convert), as wide as a file needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # annotations only: the command line's CSV exports need no altair (0.3 s)
    import altair as alt

# A downloaded chart's font: named, so that a glyph the default lacks (⇄) does not send a whole
# title to a serif fallback.
DOWNLOAD_FONT = "DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif"
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` safe to open in a spreadsheet: every text cell (and column name)
    that starts like a formula gets a leading apostrophe. Numbers stay numbers (a negative
    difference is data, not a formula). The one function every CSV/Excel export goes through."""

    def fix(v: Any) -> Any:
        if isinstance(v, str) and v.startswith(_FORMULA_START):
            return "'" + v
        return v

    out = frame.copy()
    out.columns = [fix(str(c)) for c in out.columns]
    for c in out.columns:
        col = out[c]
        if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
            out[c] = col.map(fix).astype(object)
    return out


def to_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM, so spreadsheets read accents right) of a formula-safe copy.

    CRLF line ends (RFC 4180) make pandas quote any cell holding a CR or LF, so a line break
    inside a cell cannot start a new row that begins with a formula."""
    return neutralise(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def chart_png(
    chart: alt.TopLevelMixin, scale: float = 2.0, width: int = 640, font: str | None = None
) -> bytes:
    """The chart as PNG, `width` px wide where it fills its container; `font`: its text's."""
    import vl_convert as vlc

    return bytes(vlc.vegalite_to_png(_spec(chart, width, font), scale=scale))


def chart_svg(chart: alt.TopLevelMixin, font: str | None = None) -> str:
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(_spec(chart, 640, font)))


def _spec(chart: alt.TopLevelMixin, width: int = 640, font: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    # "container" width means "as wide as the page"; a file has no page: fix it.
    _fixed_width(spec, width)
    spec["config"] = {**spec.get("config", {}), "font": font or DOWNLOAD_FONT}
    return spec


def _fixed_width(node: Any, width: int = 640) -> None:
    if isinstance(node, dict):
        if node.get("width") == "container":
            node["width"] = width
        for v in node.values():
            _fixed_width(v, width)
    elif isinstance(node, list):
        for v in node:
            _fixed_width(v, width)
