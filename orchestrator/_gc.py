"""`steady_gc()`: the garbage collector's settings for the length of a run.

A run builds its graph, records and budget up front and then allocates many short-lived
objects per task (requests, leases, events). CPython's cyclic collector would walk the
long-lived ones again and again: on a 100k-node DAG about a third of the scheduler's CPU
went to full collections of a heap that was not garbage. For the length of a run,
everything alive at its start is moved out of the collector's way (`gc.freeze`) and
young collections run less often; both are undone when the last run in the process ends
(runs may nest or overlap: a counter keeps the outermost one in charge). Reference
counting still frees non-cyclic garbage at once; cyclic garbage made during the run is
collected by the (rarer) young collections or at the end.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["YOUNG_THRESHOLD", "steady_gc"]

#: Allocations between young collections during a run (CPython's default is 700).
#: Each young collection walks every task still in flight and every record and event
#: made since the last one, then the middle generation walks them again: on the 100k-node
#: overhead DAG (runner + budget + caller) 10_000 spent ~30 us per node in the collector,
#: 100_000 spends ~9 (at most ~100k young objects wait for collection: a few MB).
YOUNG_THRESHOLD = 100_000

_depth = 0
_saved: tuple[int, int, int] | None = None


@contextlib.contextmanager
def steady_gc(enabled: bool = True) -> Iterator[None]:
    """Freeze the objects alive now and collect the young generation less often."""
    global _depth, _saved
    if not enabled:
        yield
        return
    if _depth == 0:
        _saved = gc.get_threshold()
        gc.freeze()
        first, *older = _saved
        gc.set_threshold(max(first, YOUNG_THRESHOLD), *older)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _saved is not None:
            gc.set_threshold(*_saved)
            _saved = None
            gc.unfreeze()
