"""What storing a survey needs of its spec and its file, beyond a valid spec: the columns
the spec names are there and none is named as a column cmot adds (`check_columns`), ratings
fit the stored TINYINT and each touchpoint has a name of its own (`check_storable`)."""

from __future__ import annotations

from cmot.errors import CmotError
from cmot.names import DERIVED_COLUMNS
from cmot.spec import JourneySpec


def check_columns(spec: JourneySpec, columns: list[str]) -> None:
    """The file has every column the spec names and none of cmot's own names; the spec can
    be stored (`check_storable`)."""
    need = list(spec.touchpoint_columns) + [spec.outcome.column]
    need += [c for c in (spec.id_column, spec.weight_column, spec.date_column) if c]
    need += list(spec.attributes) + list(spec.comments)
    missing = [c for c in dict.fromkeys(need) if c not in columns]
    if missing:
        raise CmotError(
            f"The file lacks column(s) the journey spec needs: {', '.join(missing)}. "
            f"The file has: {', '.join(columns)}."
        )
    reserved = [c for c in columns if c in DERIVED_COLUMNS]
    if reserved:
        raise CmotError(f"Column name(s) {reserved} are reserved by cmot; rename them.")
    check_storable(spec)


def check_storable(spec: JourneySpec) -> None:
    """What saving needs of a spec beyond `validate_spec` (which stored specs pass on every
    load, so it stays as it was): ratings fit the stored TINYINT, and each touchpoint's name
    is its own, as results are keyed on it (a chart's rows, a table's pivot)."""
    for tp in spec.touchpoint_columns:
        s = spec.scale_of(tp)
        if s.min < -127 or s.max > 127:
            raise CmotError(
                f"The scale of {tp!r} is {s.min}-{s.max}: ratings are stored as whole numbers "
                "from -127 to 127. Make a column of larger numbers an attribute, not a touchpoint."
            )
    seen: dict[str, str] = {}
    for tp in spec.touchpoint_columns:
        name = spec.touchpoint(tp).name
        if name in seen:
            raise CmotError(
                f"The touchpoints {seen[name]!r} and {tp!r} are both named {name!r}: give them "
                "different labels (on the Data page, or in the journey spec)."
            )
        seen[name] = tp
