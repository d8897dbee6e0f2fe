"""Overview: the current dataset at a glance."""

import streamlit as st

from cmot.ui.state import get_store, require_app_frame

require_app_frame()

info = st.session_state.get("current_dataset")
st.title("Moments of truth")
if info is None:
    st.info("Upload a survey on the Data page to begin.")
    st.stop()

spec = info.spec
st.caption(
    f"Dataset **{info.name}** (version {info.version}, from {info.source_name}). "
    "The moments-of-truth analysis of each segment will appear here."
)
frame = get_store().read_frame(info, ["__cmot_y"])
a, b, c, d = st.columns(4)
a.metric("Respondents", f"{info.rows_kept:,}")
b.metric("Touchpoints", len(spec.touchpoints))
c.metric("Stages", len(spec.stages))
label = "Positive outcome" if spec.outcome.kind == "binary" else "Mean outcome"
value = frame["__cmot_y"].mean()
d.metric(label, f"{value:.1%}" if spec.outcome.kind == "binary" else f"{value:.2f}")
st.subheader("Journey")
for stage in spec.stages:
    st.markdown(f"**{stage.name}**: " + " → ".join(stage.touchpoints))
st.markdown(
    f"Outcome: **{spec.outcome.column}** ({spec.outcome.kind}); "
    f"segments: {', '.join(spec.segments) or 'none detected'}"
)
