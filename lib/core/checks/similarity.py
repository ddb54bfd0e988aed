"""How much two texts overlap, on word shingles (runs of k consecutive words).

Exact comparison on at most 16 turns is a few hundred small set operations, so no MinHash sketch
is needed here; `jaccard` and `containment` are the exact values a sketch would estimate.
"""

from __future__ import annotations

from lib.core.checks.normalize import words


def shingles(text: str, k: int) -> frozenset[tuple[str, ...]]:
    """The text's k-word runs; a text shorter than k words is one shingle of all its words."""
    w = words(text)
    if len(w) < k:
        return frozenset([tuple(w)]) if w else frozenset()
    return frozenset(tuple(w[i : i + k]) for i in range(len(w) - k + 1))


def jaccard(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    """Shared shingles over all shingles: 1 for the same text, near 0 for unrelated ones."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def containment(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    """Shared shingles over the smaller set's: high when one text is copied inside a longer one."""
    smaller = min(len(a), len(b))
    return len(a & b) / smaller if smaller else 0.0


def shared_run(a: str, b: str, k: int) -> str:
    """The longest run of words the two texts share (at least k words), for a reason to quote."""
    wa, wb = words(a), words(b)
    best = (0, 0)  # (length, start in wa)
    prev = [0] * (len(wb) + 1)
    for i in range(1, len(wa) + 1):
        cur = [0] * (len(wb) + 1)
        for j in range(1, len(wb) + 1):
            if wa[i - 1] == wb[j - 1]:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best[0]:
                    best = (cur[j], i - cur[j])
        prev = cur
    length, start = best
    return " ".join(wa[start : start + length]) if length >= k else ""
