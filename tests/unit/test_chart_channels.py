"""Chart builders hand Altair channel objects, never shorthand strings or plain dicts.

Altair turns a string (``x="a:Q"``), a list of them, or a dict such as ``alt.value(0)`` or
``alt.datum(0)`` into its channel class through ``from_dict``, which hashes the JSON of every
schema class on each call: ~3.5 ms of CPU per channel, more than the rest of a small chart.
``alt.X("a:Q")`` is used as it is and gives the same Vega-Lite. Every page draws its charts on
each new result, so these milliseconds are part of what a first view waits for (issue 27).
"""

from __future__ import annotations

import ast

from tests.conftest import ROOT

CHART_MODULES = sorted((ROOT / "cmot" / "present").glob("*charts.py"))
_DICT_HELPERS = {"value", "datum", "expr", "condition"}  # these return dicts, not channels


def _shorthand(node: ast.expr) -> str | None:
    """Why `node`, given to an encoding channel, would go through Altair's from_dict."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return f"the string {node.value!r}"
    if isinstance(node, ast.JoinedStr):
        return "an f-string"
    if isinstance(node, (ast.List, ast.Tuple)):
        found = [why for el in node.elts if (why := _shorthand(el))]
        return found[0] if found else None
    if isinstance(node, ast.Dict):
        return "a dict"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _DICT_HELPERS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "alt"
    ):
        return f"alt.{node.func.attr}(...), a dict"
    return None


def shorthand_channels(source: str) -> list[tuple[int, str]]:
    """(line, why) of every encode(...) argument that is not a channel object. A channel
    kept in a name or a dict first (`layout.band`) is beyond this static look: the modules
    build those with channel classes too."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "encode"
        ):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                if why := _shorthand(arg):
                    found.append((arg.lineno, why))
    return found


def test_the_check_finds_each_kind_of_shorthand() -> None:
    src = (
        'c.encode(x="a:Q", y=alt.Y("b:Q"))\n'
        'c.encode(tooltip=[alt.Tooltip("a:Q"), "b:N"])\n'
        "c.encode(y=alt.value(0))\n"
        "c.encode(x=alt.datum(0))\n"
        'c.encode(fill=alt.condition("datum.a", alt.value("red"), alt.value("blue")))\n'
        'c.encode(text=f"{n}:N")\n'
        'c.encode(x=alt.X("a:Q"), y=alt.YValue(0), tooltip=[alt.Tooltip("a:Q")])\n'
    )
    assert [line for line, _ in shorthand_channels(src)] == [1, 2, 3, 4, 5, 6]


def test_chart_builders_pass_channel_objects() -> None:
    assert CHART_MODULES, "no chart modules found under cmot/present"
    found = [
        f"{path.relative_to(ROOT)}:{line}: {why}"
        for path in CHART_MODULES
        for line, why in shorthand_channels(path.read_text())
    ]
    assert not found, "\n".join(found)


def test_a_channel_object_gives_the_same_vega_lite_as_its_shorthand() -> None:
    import altair as alt
    import pandas as pd

    data = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    short = alt.Chart(data).mark_point().encode(x="a:Q", y=alt.value(0), tooltip=["b:N"])
    objects = (
        alt.Chart(data)
        .mark_point()
        .encode(x=alt.X("a:Q"), y=alt.YValue(0), tooltip=[alt.Tooltip("b:N")])
    )
    assert short.to_dict(validate=False) == objects.to_dict(validate=False)
