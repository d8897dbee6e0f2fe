"""Widgets whose value lives in the URL (`?key=value`), so a copied link reproduces the view.

Every page's shareable choices and the sidebar's dataset picker go through `url_widget`;
`set_url_widget` changes one from code (after a save), `forget_url_widgets` drops some (a
dataset switch). Streamlit's own `bind="query-params"` is not used: it leaves a value equal
to the widget's default out of the URL, and defaults here depend on the data (the first
dataset, the largest segments), so such a link would open something else tomorrow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import streamlit as st

from cmot.text import escape_markdown


def url_widget(
    widget: Callable[..., Any],
    label: str,
    options: Sequence[Any] | None = None,
    *,
    key: str,
    default: Any,
    parse: Callable[[str], Any] = str,
    within: tuple[Any, Any] | None = None,
    draw: bool = True,
    **kwargs: Any,
) -> Any:
    """Draw `widget` (e.g. `st.sidebar.selectbox`) keyed `key`, its value kept in the URL.

    The value it shows follows one rule of precedence: this session's value (the widget's
    state, kept across pages with Streamlit's `persist_state="session"`, or one set by
    `set_url_widget`) > the URL's `?key=` > `default`. A value that is not one of `options`
    (each of them, for a list `default`: a multiselect), or lies outside `within` = (lo, hi),
    does not count and the next one is taken. After the widget, its value is written to the
    URL (the default too, so a link names every choice). Returns the widget's value.

    `parse` turns the URL's text into a value (`int`, `float`, `date.fromisoformat`);
    `kwargs` go to the widget, which must not be given `value=`/`index=`/`default=`.
    `draw=False` (the widget's panel is closed) gives the same value by the same rule and
    writes it to the URL without drawing the widget: its state is kept meanwhile.
    """
    multi = isinstance(default, list)

    def ok(v: Any) -> bool:
        return _valid(v, options, multi) and _inside(v, within)

    if key in st.session_state and not ok(st.session_state[key]):
        del st.session_state[key]  # another dataset's value (a deleted option, a stale date)
    if within is None and "min_value" in kwargs and "max_value" in kwargs:
        within = (kwargs["min_value"], kwargs["max_value"])  # a slider's range
    if key not in st.session_state:
        value = _from_url(key, multi, parse)
        if key in st.query_params and (value is None or not ok(value)):
            _refused(label, st.query_params.get_all(key))
        st.session_state[key] = value if value is not None and ok(value) else default
    if draw:
        args = () if options is None else (options,)
        value = widget(label, *args, key=key, persist_state="session", **kwargs)
    else:
        value = st.session_state[key]
    _to_url(key, value)
    return value


def set_url_widget(key: str, value: Any) -> None:
    """Make `value` the widget `key`'s value from the next run on (call, then `st.rerun()`).

    The widget may already be drawn in this run, so its state cannot be set: it is dropped
    and the URL names the value, which the rule of precedence then takes.
    """
    st.session_state.pop(key, None)
    _to_url(key, value)


def forget_url_widgets(keys: Iterable[str]) -> None:
    """Drop these widgets' values from the session and the URL: they start from the default."""
    for key in keys:
        st.session_state.pop(key, None)
        if key in st.query_params:
            del st.query_params[key]


def _from_url(key: str, multi: bool, parse: Callable[[str], Any]) -> Any:
    if key not in st.query_params:
        return None
    try:
        raw = st.query_params.get_all(key)
        values = [parse(v) for v in raw] if multi else [parse(raw[0])]
    except (ValueError, IndexError, OverflowError):  # a hand-edited or stale link: no value
        return None
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        return None  # inf or nan: no setting means it, and widgets refuse it with a traceback
    return values if multi else values[0]


def _refused(label: str, raw: list[str]) -> None:
    shown = ", ".join(raw)[:80]
    st.toast(
        f"The link's value for {escape_markdown(label)} ({escape_markdown(shown)}) is not one "
        "this page can use: the default is shown instead.",
        icon=":material/link_off:",
    )


def _to_url(key: str, value: Any) -> None:
    if isinstance(value, (list, tuple)):
        text: str | list[str] = [str(x) for x in value]
    elif value is not None:
        text = str(value)
    else:
        return
    # Each write sends the browser the whole query string: a value the URL already holds
    # (every widget, on most runs) is not written again.
    if key in st.query_params and st.query_params.get_all(key) == (
        text if isinstance(text, list) else [text]
    ):
        return
    st.query_params[key] = text


def _valid(value: Any, options: Sequence[Any] | None, multi: bool) -> bool:
    if options is None:
        return True
    if multi:
        return isinstance(value, list) and all(v in options for v in value)
    return value in options


def _inside(value: Any, within: tuple[Any, Any] | None) -> bool:
    if within is None:
        return True
    try:
        return bool(within[0] <= value <= within[1])
    except TypeError:  # a value of another type (a stale text from the URL)
        return False
