"""The pairwise covering behind lib.core.planner: each dimension's balance against its targets, the pair
counts, the plausibility rules as bit masks, the greedy search for the next row and the swaps that repair
what the greedy's last rows missed."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lib.core.plausibility import context_triples, topic_rule
from lib.core.taxonomy import Context, Taxonomy

POSITIONS: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 2),
    (0, 2),
)  # where each kind of PAIRS sits in [persona, arc, topic]
EPS = 1e-9
BLOCKED = 1 << 40


# ---- bookkeeping ---------------------------------------------------------------------------
class Balance:
    """One dimension's values against their targets: equal shares of all rows, plus any weighted demand."""

    def __init__(self, ids: list[str], total: int, demand: Mapping[str, float]) -> None:
        self.ids = ids
        self.index = {v: i for i, v in enumerate(ids)}
        want = [total / max(len(ids), 1) + demand.get(v, 0.0) for v in ids]
        scale = total / (sum(want) or 1)
        self.need = [w * scale for w in want]  # target minus rows so far

    def add(self, i: int) -> None:
        self.need[i] -= 1

    def candidates(self, among: Iterable[int], rng: random.Random, slack: float = 1) -> list[int]:
        """The values of `among` a row may use, neediest first, ties in seeded-random order. Only values within
        `slack` rows of the neediest qualify: with slack 1 a round-robin that keeps every count within one of
        its target (with equal targets: only the values with the lowest count)."""
        need = self.need
        pool = list(among)
        if len(pool) == 1:
            return pool
        top = max(map(need.__getitem__, pool))
        pool = [i for i in pool if need[i] > top - slack + EPS]
        rng.shuffle(pool)
        pool.sort(key=need.__getitem__, reverse=True)
        return pool


class Pairs:
    """How often each (x, y) pair occurs. mask[x] has bit y set while (x, y) is below the current level:
    first "not covered yet"; once every pair is covered the level rises, so big plans keep spreading."""

    def __init__(self, nx: int, ny: int, fit: Sequence[int] | None = None) -> None:
        # A pair the rules forbid holds BLOCKED, so it is never below the level and never counts as possible.
        self.count = [[0 if fit is None or fit[x] >> y & 1 else BLOCKED for y in range(ny)] for x in range(nx)]
        self.level = 0
        self.mask = [0] * nx
        self.below = 0
        self.zero = [0] * nx
        self._raise()

    def _raise(self) -> None:
        while self.below == 0 and self.count and self.count[0]:
            self.level += 1
            self.mask = [sum(1 << y for y, c in enumerate(row) if c < self.level) for row in self.count]
            self.below = sum(m.bit_count() for m in self.mask)

    def add(self, x: int, y: int) -> None:
        if self.count[x][y] >= BLOCKED:
            return  # an existing row outside today's rules
        self.count[x][y] += 1
        if self.count[x][y] == self.level:
            self.mask[x] &= ~(1 << y)
            self.below -= 1
            self._raise()

    def covered(self) -> int:
        return sum(0 < c < BLOCKED for row in self.count for c in row)

    def possible(self) -> int:
        return sum(c < BLOCKED for row in self.count for c in row)


# ---- the pairwise search -------------------------------------------------------------------
@dataclass(frozen=True)
class Fit:
    """The plausibility rules as bit masks: topics[kind][x] has bit t set when x (a persona for kind 0, an
    arc for kind 1) may meet topic t."""

    persona_topics: list[int]
    arc_topics: list[int]

    def topics(self, p: int, a: int) -> int:
        return self.persona_topics[p] & self.arc_topics[a]

    def allows(self, p: int, a: int, t: int) -> bool:
        return bool(self.topics(p, a) >> t & 1)


def make_fit(tax: Taxonomy, personas: list[str], arcs: list[str], topics: list[str]) -> Fit:
    clusters = {c.id: [t.id for t in c.topics] for c in tax.topic_clusters}
    everything = (1 << len(topics)) - 1

    def mask(kind: str, key: str) -> int:
        allowed = topic_rule(tax.plausibility, kind, key, clusters)
        return everything if allowed is None else sum(1 << i for i, t in enumerate(topics) if t in allowed)

    return Fit([mask("persona", p) for p in personas], [mask("arc", a) for a in arcs])


def possible_pairs(
    tax: Taxonomy, fit: Fit, P: dict[str, int], A: dict[str, int], T: dict[str, int]
) -> tuple[list[int], list[int], list[int]]:
    """The persona x arc, arc x topic and persona x topic pairs some plausible row of some tier can hold, as
    bit masks: a free tier's rows within its arcs, a context tier's within what its contexts list."""
    pa, at, pt = [0] * len(P), [0] * len(A), [0] * len(P)

    def hold(p: int, a: int, t: int) -> None:
        pa[p] |= 1 << a
        at[a] |= 1 << t
        pt[p] |= 1 << t

    clusters = {c.id: [t.id for t in c.topics] for c in tax.topic_clusters}
    contexts: dict[str, list[Context]] = {"scenario": list(tax.scenario_contexts), "edge_case": list(tax.edge_cases)}
    for tier in tax.tiers:
        if tier.id in contexts:
            for c in contexts[tier.id]:
                for ps, as_, ts in context_triples(tax.plausibility, tier.id, c.personas, c.arcs, c.topics, clusters):
                    hold(P[ps], A[as_], T[ts])
            continue
        for arc in tax.plausibility.arcs_of_tier(tier.id, list(A)):
            a = A[arc]
            for p in P.values():
                topics = fit.topics(p, a)
                for t in T.values():
                    if topics >> t & 1:
                        hold(p, a, t)
    return pa, at, pt


def best_triple(
    P: list[int],
    A: list[int],
    T: list[int],
    pa: Pairs,
    at: Pairs,
    pt: Pairs,
    bal: tuple[Balance, Balance, Balance],
    fit: Fit,
) -> tuple[tuple[int, float], tuple[int, int, int]]:
    """The plausible (persona, arc, topic) covering the most pairs below level, then with the best balance.
    P, A, T come ranked (neediest first, ties shuffled), so the first best found is the seeded choice.
    The key's first element is -1 when no plausible triple is among them."""
    # Only the pair kinds at the lowest level count: never-covered pairs before a second cover of another kind.
    level = min(pa.level, at.level, pt.level)
    pa_mask, at_mask, pt_mask = (k.mask if k.level == level else k.zero for k in (pa, at, pt))
    tmask = sum(1 << t for t in T)
    best: tuple[int, float] = (-1, 0.0)
    pick = (P[0], A[0], T[0])
    bp, ba, bt = bal
    for p in P:
        for a in A:
            ok = tmask & fit.topics(p, a)
            if not ok:
                continue
            m_pt = pt_mask[p] & ok
            m_at = at_mask[a] & ok
            both = m_at & m_pt
            m = both or (m_at | m_pt) or ok
            score = (pa_mask[p] >> a & 1) + (2 if both else 1 if m_at | m_pt else 0)
            if score < best[0]:
                continue
            t = next(t for t in T if m >> t & 1)  # the neediest topic that scores
            key = (score, bp.need[p] + ba.need[a] + bt.need[t])
            if key[0] > best[0] or key[1] > best[1] + EPS:
                best, pick = key, (p, a, t)
    return best, pick


def search(
    PAT: tuple[Sequence[int], Sequence[int], Sequence[int]],
    pairs: tuple[Pairs, Pairs, Pairs],
    bal: tuple[Balance, Balance, Balance],
    fit: Fit,
    rng: random.Random,
) -> tuple[tuple[int, float], tuple[int, int, int]]:
    """best_triple among the balanced candidates. When the rules leave them no plausible row (the neediest
    persona has no topic among the neediest topics), the balance gives way as little as it must: the slack
    doubles until a plausible row is found."""
    pa, at, pt = pairs
    (bp, ba, bt), (P, A, T) = bal, PAT
    slack = 1.0
    while True:
        found = best_triple(
            bp.candidates(P, rng, slack),
            ba.candidates(A, rng, slack),
            bt.candidates(T, rng, slack),
            pa,
            at,
            pt,
            bal,
            fit,
        )
        if found[0][0] >= 0 or slack > len(bp.need) + len(ba.need) + len(bt.need) + sum(map(abs, bp.need)):
            return found
        slack *= 2


def repair(
    picks: list[list[int]],
    fits: list[tuple[list[int], list[int], list[int]] | None],
    pairs: tuple[Pairs, Pairs, Pairs],
    rows: int,
    fit: Fit,
) -> None:
    """The greedy can leave a few pairs uncovered once balance forces its last rows. Swapping one value between
    two new rows changes no value's count, so a swap is made when it covers more pairs than it uncovers.
    Only pair kinds that the rows could cover completely are repaired ("where N allows")."""
    counts = [k.count for k in pairs]
    # position -> the kinds a swap there changes (swapping topics leaves persona x arc as it is)
    touching = [[(c, i, j) for c, (i, j) in zip(counts, POSITIONS, strict=True) if pos in (i, j)] for pos in range(3)]

    def gain(a: list[int], b: list[int], a2: list[int], b2: list[int], pos: int) -> int:
        change = 0
        for c, i, j in touching[pos]:
            if a[i + j - pos] != b[i + j - pos]:  # else the two rows just trade the same pair
                change += (c[a2[i]][a2[j]] == 0) + (c[b2[i]][b2[j]] == 0) - (c[a[i]][a[j]] == 1) - (c[b[i]][b[j]] == 1)
        return change

    def fits_in(r: int, pos: int, value: int) -> bool:
        fit = fits[r]
        return fit is None or value in fit[pos]  # a context row only takes values its context lists

    for c, (i, j) in zip(counts, POSITIONS, strict=True):
        if sum(n < BLOCKED for row in c for n in row) > rows:
            continue
        for x, y in [(x, y) for x, row in enumerate(c) for y, n in enumerate(row) if not n]:
            if c[x][y]:
                continue  # an earlier swap covered it
            holders_x = [r for r, pick in enumerate(picks) if pick[i] == x]
            holders_y = [r for r, pick in enumerate(picks) if pick[j] == y]
            for r1, r2, pos in ((r1, r2, pos) for r1 in holders_x for r2 in holders_y for pos in (i, j)):
                a, b = picks[r1], picks[r2]
                if a[pos] == b[pos] or not fits_in(r1, pos, b[pos]) or not fits_in(r2, pos, a[pos]):
                    continue
                a2, b2 = a.copy(), b.copy()
                a2[pos], b2[pos] = b[pos], a[pos]
                if not (fit.allows(*a2) and fit.allows(*b2)):
                    continue
                if gain(a, b, a2, b2, pos) > 0:
                    for k, (ki, kj) in zip(counts, POSITIONS, strict=True):
                        for old, now in ((a, a2), (b, b2)):
                            k[old[ki]][old[kj]] -= 1
                            k[now[ki]][now[kj]] += 1
                    picks[r1], picks[r2] = a2, b2
                    break
