"""How the benchmarks time a call: one warm-up call first (imports, caches, connections), then the
wall clock of each run in milliseconds."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def samples_ms(runs: int, fn: Callable[[], Any]) -> tuple[list[float], Any]:
    """Milliseconds of each of `runs` calls after one warm-up call, and the last result."""
    result = fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples, result


def median_ms(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Median milliseconds of `runs` calls after one warm-up call, and the last result."""
    samples, result = samples_ms(runs, fn)
    return statistics.median(samples), result
