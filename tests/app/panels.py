"""Open the sidebar's panels, as a user clicks them: their widgets are drawn only while open
(cmot.ui.sidebar), so a test that sets a filter or a method setting opens them first."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from cmot.ui.sidebar import FILTERS_OPEN, SETTINGS_OPEN


def open_panels(at: AppTest) -> AppTest:
    """Open Filters and Method settings and rerun, as clicking each does."""
    at.session_state[FILTERS_OPEN] = True
    at.session_state[SETTINGS_OPEN] = True
    return at.run()
