"""The process's cache of sums: an LRU of `SufficientStats` under the data's version and
what else the sums depend on (relation, bound values, segmentation, cut-offs, measure,
path), shared by both engines and by the dashboard's sessions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from cmot.engine.stats import SufficientStats

_CACHE: OrderedDict[Hashable, SufficientStats] = OrderedDict()
_CACHE_SIZE = 32
_CACHE_LOCK = threading.Lock()  # dashboard sessions share the cache from several threads


def cached(
    cache_key: Hashable | None, parts: tuple[Hashable, ...], compute: Callable[[], SufficientStats]
) -> SufficientStats:
    """`compute()`, kept in the process's LRU of sums under (cache_key, *parts) when a
    cache_key (the data's version) is given: both engines' sums are cached alike."""
    if cache_key is None:
        return compute()
    key = (cache_key, *parts)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    stats = compute()
    with _CACHE_LOCK:
        _CACHE[key] = stats
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return stats


def clear_cache() -> None:
    """Forget every cached sums object."""
    with _CACHE_LOCK:
        _CACHE.clear()
