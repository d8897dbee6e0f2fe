"""Values derived from a cached result (chart specs, small tables), built once per result.

A warm page switch used to rebuild every Altair chart from the same cached MomentsResult:
building and converting a chart cost 30-100 ms of CPU each run, most of a page switch. The
result objects come from a process cache (`st.cache_resource`), so the same object is
returned for the same view; what a page derives from it can be kept next to it.

The memo is keyed by the source object's identity plus a small hashable key (the page's
choices: segments, unit, settings). An entry is only reused while it was built from that very
object (`entry.source is source`), so a recomputed result (new dataset version, other
settings, renamed segments, a cleared cache) never meets a value derived from an older one,
whatever the key says. Nothing here imports Streamlit: it is plain, thread-safe Python.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

T = TypeVar("T")


class DerivedMemo:
    """A bounded LRU of values derived from source objects, valid while the source lives.

    An entry holds a reference to its source, so the source's id cannot be reused by another
    object while the entry exists (an id-keyed cache without it could hand out a stale value).
    """

    def __init__(self, maxsize: int = 128) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[tuple[int, Hashable], tuple[object, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.builds = 0  # how many values were built (misses): for tests and benchmarks

    def get(self, source: object, key: Hashable, build: Callable[[], T]) -> T:
        """The value `build()` gives for `source` and `key`, built on the first call only."""
        slot = (id(source), key)
        with self._lock:
            hit = self._items.get(slot)
            if hit is not None and hit[0] is source:
                self._items.move_to_end(slot)
                return cast(T, hit[1])
        # Built outside the lock: two threads may both build on a miss (same value), but a
        # slow build never blocks other sessions' pages.
        value = build()
        with self._lock:
            self._items[slot] = (source, value)
            self._items.move_to_end(slot)
            self.builds += 1
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


# Shared by the pages: chart specs and tables derived from one MomentsResult.
# Several values per result and page choice (charts, tables, a panel's sides): room for a
# few dozen sessions' views at once.
derived = DerivedMemo(maxsize=512)
