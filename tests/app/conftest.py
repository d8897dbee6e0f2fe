"""AppTest runs app.py the way a served app does after its first request.

AppTest resets Streamlit's "uses a pages/ folder" flag before every run, so every rerun takes
the legacy multipage path and runs the page script without app.py (no sidebar, no frame). A
server leaves that path for good after one run through st.navigation (see
cmot.ui.state.require_app_frame, and the browser test of a deep link as the first visit).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.components.v2 import manifest_scanner

from cmot.store.datasets import Store
from cmot.store.demo import ensure_demo
from cmot.ui.state import without_pages_folder
from tests.conftest import copy_store


@pytest.fixture(autouse=True)
def _served_app_navigation() -> Iterator[None]:
    with without_pages_folder():
        yield


@pytest.fixture(scope="session", autouse=True)
def _components_scanned_once() -> Iterator[None]:
    """Every new AppTest scans the installed packages' metadata for Streamlit components
    (~0.1 CPU-second each, 132 scans in the 300 messy surveys alone); a server scans
    once, at its start. The packages do not change during a test run, so one scan serves
    every AppTest of the process, as it would a server's sessions."""
    scan = manifest_scanner.scan_component_manifests
    once = functools.cache(scan)
    manifest_scanner.scan_component_manifests = once
    yield
    manifest_scanner.scan_component_manifests = scan


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the demo as `ensure_demo` leaves it, made once per test process."""
    path = tmp_path_factory.mktemp("demo-template") / "store"
    ensure_demo(Store(path))
    return path


@pytest.fixture(autouse=True)
def _demo_in_store(request: pytest.FixtureRequest, demo_template: Path) -> None:
    """The store a test's app opens already holds the demo (a copy of the template): the app
    finds it there, as on every start after a server's first, instead of ingesting it again
    for each test (about half a CPU-second and a few fsyncs). A test with the demo waves
    copies its own template, which holds the demo too."""
    if "store_dir" in request.fixturenames and "demo_waves_store" not in request.fixturenames:
        copy_store(demo_template, request.getfixturevalue("store_dir"))
