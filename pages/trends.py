"""Trends: moments of truth across survey waves (migration, changes, fixes, at stake)."""

from cmot.ui.state import require_app_frame
from cmot.ui.trends import draw

require_app_frame()
draw()
