"""Alerts: moments that worsened beyond chance as batches arrived, and who is behind them."""

import streamlit as st

from cmot.ui.alerts import draw
from cmot.ui.state import get_store, require_app_frame

require_app_frame()
draw(get_store(), st.session_state.get("current_dataset"))
