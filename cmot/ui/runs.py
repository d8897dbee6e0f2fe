"""How many page runs a server process works on at once.

Streamlit runs every session's script in a thread of its own. Under a crowd, dozens of runs
in one process share one interpreter lock and Streamlit's own locks (its config lock is
taken by every element); each run then waits more than it works, more runs overlap, and a
burst (an upload's parse) tips the process into a backlog that outlasts the burst. A few
runs at a time, the others queued, keeps each run about as short as it is alone. The
set-up pages (an upload's parse, a clustering) queue apart, so they never hold the slots
the results pages are read in.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

ENV_RUNS = "CMOT_RUNS_AT_ONCE"  # results pages' runs at once in a process (0: no limit)
RUNS_AT_ONCE = 2  # one may be long (a view nobody opened); the other keeps the queue moving
SETUP_RUNS_AT_ONCE = 1  # the Data and Segments pages' runs: parses and fits, one at a time
SETUP_PAGES = frozenset({"data", "segments"})  # their url paths


@dataclass
class RunSlots:
    """The run slots of one process: `results` for the results pages, `setup` for the
    set-up pages (0: no limit for either)."""

    results: int = RUNS_AT_ONCE
    setup: int = SETUP_RUNS_AT_ONCE
    _held: dict[str, int] = field(default_factory=lambda: {"results": 0, "setup": 0})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        limited = self.results > 0
        self._slots = {
            "results": threading.BoundedSemaphore(self.results) if limited else None,
            "setup": threading.BoundedSemaphore(self.setup) if limited else None,
        }

    @classmethod
    def from_env(cls) -> RunSlots:
        return cls(results=int(os.environ.get(ENV_RUNS, RUNS_AT_ONCE)))

    def held(self) -> dict[str, int]:
        """Slots held now, by kind (for tests and diagnostics)."""
        with self._lock:
            return dict(self._held)

    @contextmanager
    def slot(self, url_path: str) -> Iterator[None]:
        """Hold a slot of the page at `url_path` for its run; wait, idle, while all of its
        kind are taken."""
        kind = "setup" if url_path in SETUP_PAGES else "results"
        slots = self._slots[kind]
        if slots is not None:
            slots.acquire()
        with self._lock:
            self._held[kind] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[kind] -= 1
            if slots is not None:
                slots.release()


SLOTS = RunSlots.from_env()


def run_slot(url_path: str) -> AbstractContextManager[None]:
    """This process's slot for a run of the page at `url_path` (app.py holds it around the
    frame and the page)."""
    return SLOTS.slot(url_path)
