"""Process-wide store, the demo on first start, and the sidebar's dataset choice (in the URL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import streamlit as st

from cmot.store.datasets import Store
from cmot.store.demo import DEMO_NAME, ensure_demo
from cmot.store.directory import default_store_path
from cmot.store.spark import spark_session
from cmot.store.versions import DatasetInfo
from cmot.ui.auth import passes_gate
from cmot.ui.url import set_url_widget, url_widget

# Streamlit's private PagesManager holds the only switch of its legacy pages/ mode (no public
# API leaves it before a server's first run); tests/app/test_state.py fails if it changes.
# (Moving pages/ to a folder of another name would avoid it, but the layout is fixed.)

# Set by app.py around page.run() in the thread that runs this session's script: a page that
# runs without it was started by Streamlit's legacy pages/ mode, before the login gate.
_FRAME = threading.local()


def leave_pages_folder_mode() -> None:
    """Streamlit's legacy pages/ mode off for this process: every run goes through app.py.
    serve.py calls it at server start, before the first request."""
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False


@contextmanager
def app_frame() -> Iterator[None]:
    """app.py runs the page inside this, after the login gate and the sidebar."""
    _FRAME.active = True
    try:
        yield
    finally:
        _FRAME.active = False


def require_app_frame() -> None:
    """Every page calls this first, so no page code ever runs outside app.py's frame.

    With a pages/ folder, Streamlit serves a request in its legacy multipage mode until some
    session's run reaches st.navigation, which turns the mode off for the whole process. A
    request that started in that mode runs pages/NAME.py alone: no login gate, no sidebar.
    Whether this run is in the frame is a property of the run (app.py marks it), not of the
    process-wide flag, which another session may have turned off meanwhile: so concurrent
    first requests cannot slip through. Outside the frame: leave the mode and rerun, which
    sends the request through app.py's gate and st.navigation to the same page. Inside, the
    gate is checked once more.
    """
    if not getattr(_FRAME, "active", False):
        leave_pages_folder_mode()
        st.rerun()
    if not passes_gate():
        st.stop()


@contextmanager
def without_pages_folder() -> Iterator[None]:
    """Inside, Streamlit sees no pages/ folder: every run goes through app.py's st.navigation,
    as a served app's runs do after its first request. For AppTest (tests/app/conftest.py) and
    bench/pages.py: AppTest resets the legacy flag before every run, so each would otherwise
    take the legacy path (where a rerun loses a button's click)."""
    from streamlit.runtime import pages_manager

    original = pages_manager.Path
    pages_manager.Path = _PathWithoutPagesFolder  # type: ignore[misc]
    try:
        yield
    finally:
        pages_manager.Path = original  # type: ignore[misc]


class _PathWithoutPagesFolder(type(Path())):  # type: ignore[misc]
    def exists(self, *args: object, **kwargs: object) -> bool:
        return False if self.name == "pages" else super().exists(*args, **kwargs)


# (script, title, icon, default) of each page, by section: app.py's navigation.
PageSpec = tuple[str, str, str, bool]
_PAGES: dict[tuple[object, ...], dict[str, list[Any]]] = {}
_pages_lock = threading.Lock()


def navigation_pages(sections: dict[str, list[PageSpec]]) -> dict[str, list[Any]]:
    """st.navigation's pages, made once per process and copied each run.

    st.Page resolves its script's path on disk (realpath, a stat) and hashes its URL: ~2 ms
    of CPU a run for nine pages, every run the same. A page object also holds whether it may
    run (st.navigation sets it, Page.run clears it), so each run gets its own shallow copy
    and sessions never share one. The first copies are made inside a run: st.Page needs its
    script-run context to find the pages' folder.
    """
    import copy

    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    # The paths are relative to the main script's folder: an app elsewhere (a test's copy)
    # has pages of its own.
    root = str(ctx.pages_manager.main_script_parent) if ctx is not None else None
    key = (root, tuple((name, tuple(pages)) for name, pages in sections.items()))
    with _pages_lock:
        made = _PAGES.get(key)
    if made is None:
        made = {
            name: [st.Page(path, title=t, icon=i, default=d) for path, t, i, d in pages]
            for name, pages in sections.items()
        }
        if root is not None:  # outside a run, st.Page makes incomplete pages: not kept
            with _pages_lock:
                _PAGES[key] = made
    return {name: [copy.copy(p) for p in pages] for name, pages in made.items()}


@st.cache_resource(show_spinner=False)
def _store_at(path: str) -> Store:
    store = Store(path)
    ensure_demo(store)
    return store


@st.cache_resource(show_spinner=False)
def _spark(remote: str | None) -> Any:
    return spark_session(remote)


def spark_for(info: DatasetInfo) -> Any:
    """The Spark session a Spark dataset is read through: one per process (and remote)."""
    return _spark(info.external.remote if info.external is not None else None)


def get_store() -> Store:
    """The store named by $CMOT_STORE (or the default), with the demo loaded on first use."""
    return _store_at(str(default_store_path()))


def select_dataset(store: Store) -> DatasetInfo | None:
    """The sidebar's dataset picker; its choice lives in the URL as ?dataset=NAME."""
    # The latest versions, once per run: the chosen one comes from this list too, not from a
    # second query (each store query costs a few ms of CPU on every page switch).
    latest = {d.name: d for d in store.list_datasets()}
    names = list(latest)
    if not names:
        st.sidebar.info("No datasets yet: upload one on the Data page.")
        return None
    # A deleted or renamed dataset is no longer an option: the widget then starts afresh.
    # The default is looked up only when it can be used: a store query costs CPU every run.
    kept = st.session_state.get("dataset") in latest
    default = names[0] if kept else default_dataset(store, names)
    name = url_widget(st.sidebar.selectbox, "Dataset", names, key="dataset", default=default)
    return latest[name]


DEFAULT_DATASET = "default_dataset"  # the store's meta key: the dataset a bare link opens


def default_dataset(store: Store, names: list[str]) -> str:
    """What a link without ?dataset= opens (issue 28): the dataset an analyst made the
    default on the Data page (kept in the store, so every server process and restart
    agrees), else the demo, else the first by name. Never just the alphabetically first:
    an executive's bare link would open whichever survey sorts first."""
    for name in (store.catalog.meta(DEFAULT_DATASET), DEMO_NAME):
        if name in names:
            return name
    return names[0]


def set_default_dataset(store: Store, name: str) -> None:
    """Make `name` the dataset a bare link opens."""
    store.set_meta(DEFAULT_DATASET, name)


def show_dataset(name: str) -> None:
    """Make `name` the sidebar's dataset and rerun (after a save, a rename or a delete)."""
    set_url_widget("dataset", name)
    st.rerun()
