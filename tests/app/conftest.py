"""AppTest runs app.py the way a served app does after its first request.

AppTest resets Streamlit's "uses a pages/ folder" flag before every run, so every rerun takes
the legacy multipage path and runs the page script without app.py (no sidebar, no frame). A
server leaves that path for good after one run through st.navigation (see
cmot.ui.state.require_app_frame, and the browser test of a deep link as the first visit).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cmot.ui.state import without_pages_folder


@pytest.fixture(autouse=True)
def _served_app_navigation() -> Iterator[None]:
    with without_pages_folder():
        yield
