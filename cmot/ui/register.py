"""The Data page's "Register data that stays where it lies": a Parquet path or glob under the
server's allowed folders, or a Spark table, as a dataset read in place (cmot.store.external)."""

from __future__ import annotations

import streamlit as st

from cmot.cli.flags import options_from_flags
from cmot.errors import CmotError
from cmot.ingest.options import IngestOptions
from cmot.spec import loads_spec
from cmot.store.datasets import Store
from cmot.store.external import register_external
from cmot.store.sources import ENV_EXTERNAL_ROOTS, EngineName, allowed_roots, check_allowed
from cmot.ui.auth import require_analyst
from cmot.ui.frame import show_error
from cmot.ui.state import show_dataset

ENGINES: dict[EngineName, str] = {"duckdb": "DuckDB (this server)", "spark": "Spark"}


def _options(
    spec_file: bytes | None, outcome: str, scale: str, missing: str, weight: str
) -> IngestOptions:
    """What the form says about the mapping: a journey spec alone, or the few choices detection
    cannot make (the same as the command line's flags)."""
    if spec_file is not None:
        try:
            return IngestOptions(spec=loads_spec(spec_file.decode("utf-8")))
        except UnicodeDecodeError:
            raise CmotError("The journey spec is not UTF-8 text: upload the TOML file.") from None
    return options_from_flags(
        outcome=outcome.strip() or None,
        outcome_range=scale.strip() or None,
        missing=missing.strip() or None,
        weight=weight.strip() or None,
    )


def register_form(store: Store) -> None:
    """The expander: where the rows lie, which engine reads them, the mapping; register."""
    with st.expander("Register data that stays where it lies (Parquet, Spark)", expanded=False):
        st.caption(
            "A Parquet file, folder or glob, or a Spark table, becomes a dataset without "
            "being copied: its mapping is detected on a seeded sample, every row is validated "
            "by the engine, and the pages analyse it through that engine. It needs a "
            "respondent id column."
        )
        roots = allowed_roots()
        if not roots:
            st.info(
                f"Registering from the dashboard reads files on this server: set "
                f"{ENV_EXTERNAL_ROOTS} to the folders it may read (separated by ':'). From a "
                "terminal, `python -m cmot register NAME SOURCE` registers any path."
            )
            return
        st.caption("Allowed folders: " + ", ".join(f"`{r}`" for r in roots))
        source = st.text_input(
            "Parquet path, folder or glob, or a Spark table",
            key="ext_source",
            placeholder="lake/responses/*.parquet or warehouse.responses",
        )
        a, b = st.columns(2)
        engine: EngineName = a.radio(
            "Engine", list(ENGINES), format_func=ENGINES.get, key="ext_engine", horizontal=True
        )
        remote = b.text_input(
            "Spark Connect server",
            key="ext_remote",
            placeholder="sc://host:15002 (empty: a local Spark)",
            disabled=engine != "spark",
        )
        spec = st.file_uploader("Journey spec (TOML, optional)", type=["toml"], key="ext_spec")
        c, d, e, f = st.columns(4)
        outcome = c.text_input("Outcome column", key="ext_outcome", disabled=spec is not None)
        scale = d.text_input(
            "Its range", key="ext_range", placeholder="1-5", disabled=spec is not None
        )
        missing = e.text_input(
            "'No answer' codes", key="ext_missing", placeholder="9, 99", disabled=spec is not None
        )
        weight = f.text_input(
            "Weight column", key="ext_weight", placeholder="none", disabled=spec is not None
        )
        name = st.text_input("Dataset name", key="ext_name")
        go = st.button(
            "Register", key="ext_register", disabled=not (source.strip() and name.strip())
        )
        if not go or not require_analyst("register datasets"):
            return
        try:
            check_allowed(source, engine)
            options = _options(
                spec.getvalue() if spec is not None else None, outcome, scale, missing, weight
            )
            with st.spinner("Sampling, mapping and validating every row where it lies…"):
                info, report = register_external(
                    store,
                    name,
                    source,
                    engine,
                    remote.strip() or None if engine == "spark" else None,
                    options,
                )
        except CmotError as err:
            show_error(err)
            return
        st.session_state["saved"] = (
            f"Registered {info.name!r} version {info.version}: {info.rows_kept:,} respondents, "
            f"read in place by {ENGINES[engine].split(' ')[0]}.",
            report.to_text(),
        )
        show_dataset(info.name)
