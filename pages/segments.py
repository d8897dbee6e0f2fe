"""Segments: define or cluster segments, see the k curve, profiles, stability; name and save."""

import streamlit as st

from cmot.errors import CmotError
from cmot.present import charts
from cmot.present.tables import DRIVER_HELP, driver_rows
from cmot.segments.driver_based import driver_moments, driver_overview
from cmot.segments.modes import segment
from cmot.segments.records import load_segmentation, save_segmentation
from cmot.segments.segmentation import Segmentation
from cmot.text import escape_markdown
from cmot.ui.auth import require_analyst
from cmot.ui.context import show_context
from cmot.ui.frame import clear_results, computed, current_view, show_error
from cmot.ui.sidebar import clear_saved_cache, show_segmentation
from cmot.ui.state import get_store, require_app_frame
from cmot.ui.widgets import chart, table

require_app_frame()

view = current_view()
spec, store = view.info.spec, get_store()
st.title("Segments")
show_context(view)
st.caption(
    "Segments by a column of the survey, or found by clustering who respondents are "
    "(attributes), how they rate (needs) or what drives their outcome (drivers). The k curve "
    "shows how well each number of segments separates; stability says whether re-fits on "
    "fresh samples find the same segments. Name them, then save to analyse by them."
)
if view.info.sampled:
    st.info(
        f"Clustering here runs on the seeded sample of {view.info.report['sample_rows']:,} "
        f"of the {view.info.rows_kept:,} respondents that Spark drew when the dataset was "
        "registered; a saved segmentation is analysed on those respondents.",
        icon=":material/filter_alt:",
    )
modes = {
    "given": "a column",
    "attributes": "cluster attributes",
    "needs": "cluster ratings",
    "drivers": "drivers (mixture of regressions)",
}
mode = st.radio(
    "Segments from", list(modes), format_func=modes.get, key="seg_mode", horizontal=True
)
pool = list(spec.touchpoint_columns) if mode == "needs" else list(spec.attributes)
default = [c for c in ("Type of Travel", "Class", "Customer Type") if c in pool] or pool[:2]
cols = st.multiselect(
    "Columns",
    pool,
    default=default[: 1 if mode == "given" else 3],
    key=f"seg_cols_{mode}",
    format_func=spec.label_of,
)
k = st.number_input("Segments (0 = choose k automatically)", 0, 8, 0, key="seg_k")
if st.button("Find segments", key="seg_run", type="primary"):
    try:
        with st.status(f"Segmenting by {modes[mode]}…", expanded=True) as status:
            st.write("Fitting on a seeded sample, scoring k, re-fitting for stability…")
            st.session_state["seg_result"] = segment(
                store.cursor(), view.info.table, spec, mode, cols, k=int(k) or None
            )
            status.update(label="Segments found", state="complete", expanded=False)
    except CmotError as e:
        show_error(e)
seg = st.session_state.get("seg_result")
if seg is not None:
    if len(seg.k_curve) and seg.k_curve.drop(columns=["k", "chosen"]).notna().any().any():
        chart(charts.k_curve(seg.k_curve), "k_curve", "k-curve")
    if seg.stability is not None:
        st.info(
            f"Stability: mean adjusted Rand {seg.stability.mean_ari:.2f} over "
            f"{seg.stability.refits} re-fits. {seg.stability.verdict}"
        )
    st.markdown("**Sizes and names** (edit a name in the table)")
    edited = st.data_editor(
        seg.sizes,
        key="seg_names",
        hide_index=True,
        disabled=["segment", "size", "share"],
        column_config={"share": st.column_config.NumberColumn(format="percent")},
    )
    try:
        seg = seg.with_names(list(edited["name"]))
    except CmotError as e:
        show_error(e)
    labelled = seg.profile.assign(attribute=seg.profile.attribute.map(spec.label_of))
    profile = labelled.pivot_table(
        index=["attribute", "level"], columns="name", values="index"
    ).round(0)
    st.markdown("**Profiles**: index 100 = as in the whole sample; 150 = 1.5 times as common")
    table(profile.reset_index(), "seg_profile", "segment-profile")
    if seg.drivers is not None:  # their moments as the dashboard will show them, pooled or not
        key = (view.info.id, seg.columns, seg.k, seg.seed, seg.names, view.settings)
        if st.session_state.get("seg_moments_key") != key:
            fitted: Segmentation = seg
            st.session_state["seg_moments"] = computed(
                "Computing the driver segments' moments of truth…",
                lambda: driver_moments(
                    store.cursor(), view.info.table, spec, fitted, view.settings
                ),
            )
            st.session_state["seg_moments_key"] = key
        found = st.session_state["seg_moments"]
        st.markdown(
            f"**Moments of truth by driver segment** ({escape_markdown(found.method)}; "
            "the Method settings switch it)"
        )
        table(
            driver_rows(driver_overview(found)),
            "seg_driver_moments",
            "driver-segment-moments",
            column_config={c: st.column_config.Column(c, help=h) for c, h in DRIVER_HELP.items()},
        )
    name = st.text_input("Save as", value=" x ".join(cols)[:60], key="seg_save_name")
    if st.button("Save segmentation", key="seg_save", type="primary") and require_analyst(
        "save segmentations"
    ):
        try:
            save_segmentation(store, view.info.id, name, seg, replace=True)
        except CmotError as e:
            show_error(e)
        else:
            show_segmentation(f"saved: {name.strip()}")
st.subheader("Saved segmentations")
if view.saved_id is not None:  # the one the sidebar analyses by: rename its segments
    current = load_segmentation(store, view.saved_id)
    st.markdown(f"**Names in {escape_markdown(view.segmentation)}** (edit, then save the names)")
    names = st.data_editor(
        current.sizes[["segment", "name", "size"]],
        key="saved_names",
        hide_index=True,
        disabled=["segment", "size"],
    )
    if st.button("Save names", key="saved_names_save") and require_analyst("rename segments"):
        try:
            renames = {
                int(code): new
                for code, new, old in zip(names.segment, names.name, current.names, strict=True)
                if new != old
            }
            store.rename_segments(view.saved_id, renames)  # all the names or none
        except CmotError as e:
            show_error(e)
        else:
            clear_results()  # cached results carry the old names
            st.rerun()
saved = store.list_segmentations(view.info.id)
table(saved, "seg_saved", "segmentations")
if len(saved):
    gone = st.selectbox("Delete", list(saved.name), key="seg_delete_name", index=None)
    deleting = st.button("Delete segmentation", key="seg_delete", disabled=gone is None)
    if deleting and gone is not None and require_analyst("delete segmentations"):
        store.delete_segmentation((view.info.id, gone))
        clear_saved_cache()
        st.rerun()
