"""The server's start, before its first visitor (issue 27), in two parts.

`warm_imports`, as serve.py is loaded, before the server listens: every page's module, and
what they import on first use (scikit-learn, SciPy), and Altair's schema. About 1.2 s of CPU:
done on a thread after the start, it shared the interpreter with the first visitors and
made their first two views slower than with no warm start at all (bench/first_view.md).

`warm`, on a thread once the server answers (`warm_in_background`): the store opened (the
demo loaded on first use) and the default dataset's default view computed into the cache
the Overview reads (`cmot.ui.frame.cache_moments`, the same key); a visitor who comes before
it ends waits on the same cached computation, never a second one.

$CMOT_WARM=0 turns both off.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import threading
import time

import cmot.ui

ENV_WARM = "CMOT_WARM"
# Imported inside the functions that use them (cmot.feedback.evidence, cmot.feedback.alerts,
# cmot.results.pooling): the served process imports them as it starts.
LAZY_IMPORTS = ("sklearn.feature_extraction.text", "scipy.stats", "scipy.optimize")
_log = logging.getLogger(__name__)


def enabled() -> bool:
    """$CMOT_WARM unset or anything but "0"."""
    return os.environ.get(ENV_WARM, "1") != "0"


def import_pages_modules() -> list[str]:
    """Import every module of cmot.ui (the pages import nothing else of cmot's that these do
    not): the first visitor's script run then finds them loaded. Returns their names."""
    names = [m.name for m in pkgutil.iter_modules(cmot.ui.__path__, "cmot.ui.")]
    for name in names:
        importlib.import_module(name)
    # What cmot imports on first use only (slow imports the command line rarely needs): a
    # server pays them here, before a visitor opens comments, alerts or a pooled view.
    for name in LAZY_IMPORTS:
        importlib.import_module(name)
    return names


def warm_imports() -> list[str]:
    """What a page run imports or loads on first use, done once (when enabled); returns the
    modules' names. serve.py calls it before the server listens."""
    if not enabled():
        return []
    import altair as alt
    import pandas as pd

    names = import_pages_modules()
    # Altair validates a chart's spec against its schema, loaded on first use (~0.3 s).
    alt.Chart(pd.DataFrame({"x": [1]})).mark_point().encode(x="x:Q").to_dict()
    return names


def warm() -> str:
    """Warm this process's caches for the default view; returns what was done, in words."""
    from cmot.ui.frame import cache_moments
    from cmot.ui.sidebar import default_view
    from cmot.ui.state import default_dataset, get_store

    start = time.perf_counter()
    store = get_store()
    latest = {d.name: d for d in store.list_datasets()}
    if not latest:
        return "no dataset to warm"
    info = latest[default_dataset(store, list(latest))]
    if info.external is not None:  # its view depends on the source's version: not guessed
        return f"{info.label} is external: not warmed"
    view = default_view(store, info)
    cache_moments(view)  # the Overview's cache, under the key its first visitor asks for
    # Once the server runs (the check asks whether it does): not at import time.
    streamlit_first_element()
    return f"warmed {info.label} by {view.segmentation} in {time.perf_counter() - start:.2f} s"


def streamlit_first_element() -> None:
    """What Streamlit does before the first element a process draws, done here: it checks
    once whether it runs in a REPL by reading the source of every frame of the stack
    (inspect.stack: 0.1-0.2 s of CPU, ~19,000 stat calls), else in the first visitor's run.
    In a server the check finds no REPL and prints nothing. Private to Streamlit:
    tests/app/test_warm.py fails if it moves."""
    from streamlit import delta_generator

    delta_generator._maybe_print_use_warning()


def warm_in_background() -> threading.Thread | None:
    """Start `warm` on a daemon thread (when enabled); a failure is logged, never raised:
    the first visitor then computes what it needs, as without warming."""
    if not enabled():
        return None

    def run() -> None:
        try:
            _log.info("cmot: %s", warm())
        except Exception:  # warming is an optimisation: log it and serve on
            _log.exception("cmot: warming the caches failed; serving without")

    thread = threading.Thread(target=run, name="cmot-warm", daemon=True)
    thread.start()
    return thread
