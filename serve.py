"""The served dashboard: app.py behind cmot's request guards. `streamlit run serve.py`.

Streamlit answers uploads, metrics and websocket messages before any script (and so before
the login gate) runs; `cmot.ui.hosting` decides what it accepts. AppTest and `streamlit run
app.py` still run the bare app, as on a laptop.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

from cmot.ingest.read import sweep_uploads
from cmot.ui.hosting import middleware
from cmot.ui.option_reads import lock_free_option_reads
from cmot.ui.state import leave_pages_folder_mode
from cmot.ui.warm import warm_imports, warm_in_background

# Before the app's first run, so every session of this server saves through the worker; an
# environment that says otherwise ("0") wins.
os.environ.setdefault("CMOT_SAVE_WORKER", "1")
# Streamlit's options read without its process-wide lock: ~50 sessions' script threads in
# one process queued on it (cmot.ui.option_reads, bench/load.md).
lock_free_option_reads()
# Before the server listens: the pages' imports, which would otherwise share the interpreter
# with the first visitors' runs ($CMOT_WARM=0: not).
warm_imports()


@asynccontextmanager
async def _started(_app: object) -> AsyncIterator[None]:
    # Before the first request: no request ever runs in Streamlit's legacy pages/ mode.
    leave_pages_folder_mode()
    # The default view computed while the health check already answers ($CMOT_WARM=0: not).
    warm_in_background()
    # Upload copies left in /tmp by server processes killed mid-read.
    sweep_uploads()
    yield


app = st.App(Path(__file__).with_name("app.py"), middleware=middleware(), lifespan=_started)
