"""AppTest runs app.py the way a served app does after its first request.

AppTest resets Streamlit's "uses a pages/ folder" flag before every run, so every rerun takes
the legacy multipage path and runs the page script without app.py (no sidebar, no frame). A
server leaves that path for good after one run through st.navigation (see
cmot.ui.state.require_app_frame, and the browser test of a deep link as the first visit).
"""

from __future__ import annotations

from pathlib import Path

import pytest


class _PathWithoutPagesFolder(type(Path())):  # type: ignore[misc]
    def exists(self, *args: object, **kwargs: object) -> bool:
        return False if self.name == "pages" else super().exists(*args, **kwargs)


@pytest.fixture(autouse=True)
def _served_app_navigation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streamlit.runtime.pages_manager.Path", _PathWithoutPagesFolder)
