"""How alike two texts are, on word shingles (runs of k consecutive words): the project's one
similarity, used by the quality gate inside a conversation and by the dataset-wide search for
near-duplicates.

Two texts are near-duplicates when their shingle Jaccard reaches the quality rules'
near_duplicate_jaccard, or when that share of the smaller text's shingles is inside the other
(near_duplicate_containment: a turn pasted into a longer one). Inside one conversation the few
turns are compared exactly. Across a dataset (thousands of conversations, tens of thousands of
turns) MinHash sketches in an LSH index (datasketch) propose the candidate pairs, and each one is
confirmed with the exact measure: the sketch only makes the search fast, it never decides.
Containment across the dataset is confirmed among those candidates only (LSH indexes Jaccard).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

from lib.core.checks.normalize import words
from lib.core.taxonomy import QualityRules

Shingles = frozenset[str]  # each shingle is its k words joined by a space

# 64 permutations estimate a Jaccard of 0.4 within about +-0.06; the LSH index is built at a lower
# threshold than the rule so that pairs just above it are not missed (the exact measure then
# discards the extra candidates). CRC-32 is the shingle hash: MinHash needs a well-mixed 32-bit
# value, not a cryptographic one, and it is many times faster than datasketch's SHA-1 default.
NUM_PERM = 64
LSH_MARGIN = 0.75
_SEED = 7


def shingles(text: str, k: int) -> Shingles:
    """The text's k-word runs; a text shorter than k words is one shingle of all its words."""
    w = words(text)
    if len(w) < k:
        return frozenset([" ".join(w)]) if w else frozenset()
    return frozenset(" ".join(w[i : i + k]) for i in range(len(w) - k + 1))


def jaccard(a: Shingles, b: Shingles) -> float:
    """Shared shingles over all shingles: 1 for the same text, near 0 for unrelated ones."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def containment(a: Shingles, b: Shingles) -> float:
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


@dataclass(frozen=True)
class Rule:
    """When two texts count as near-duplicates (from the taxonomy's quality rules)."""

    k: int
    jaccard: float
    containment: float

    @classmethod
    def of(cls, rules: QualityRules) -> Rule:
        return cls(rules.shingle_words, rules.near_duplicate_jaccard, rules.near_duplicate_containment)


@dataclass(frozen=True)
class Match:
    """Two texts found alike: their Jaccard and containment, and which limit they reach."""

    i: int
    j: int
    jaccard: float
    containment: float

    def by_jaccard(self, rule: Rule) -> bool:
        return self.jaccard >= rule.jaccard


def compare(a: Shingles, b: Shingles, rule: Rule, i: int = 0, j: int = 1) -> Match | None:
    """The match of two shingle sets when they are near-duplicates under the rule, else None."""
    jac, con = jaccard(a, b), containment(a, b)
    if jac >= rule.jaccard or con >= rule.containment:
        return Match(i, j, jac, con)
    return None


def sketches(sets: Sequence[Shingles]) -> list[MinHash]:
    """A MinHash sketch of each shingle set (one shared permutation table for all of them)."""
    encoded = [[s.encode("utf-8") for s in shingle_set] for shingle_set in sets]
    return MinHash.bulk(encoded, num_perm=NUM_PERM, seed=_SEED, hashfunc=zlib.crc32)


def merged(parts: Sequence[MinHash]) -> MinHash:
    """The sketch of the union of the sets the parts sketch (a conversation from its turns)."""
    out = parts[0].copy()
    for part in parts[1:]:
        out.merge(part)
    return out


def near_pairs(
    sets: Sequence[Shingles],
    rule: Rule,
    groups: Sequence[object] | None = None,
    sketched: Sequence[MinHash] | None = None,
) -> list[Match]:
    """Every pair (i < j) of near-duplicate sets among many, found through an LSH index of their
    MinHash sketches and confirmed exactly. groups: an owner per set; pairs of the same owner are
    skipped (the turns of one conversation are the quality gate's business, not the dataset's).
    sketched: the sets' sketches when the caller has them already."""
    live = [n for n, s in enumerate(sets) if s]
    if len(live) < 2:
        return []
    lsh = MinHashLSH(threshold=rule.jaccard * LSH_MARGIN, num_perm=NUM_PERM)
    found: list[Match] = []
    live_sketches = [sketched[n] for n in live] if sketched is not None else sketches([sets[n] for n in live])
    by_index = dict(zip(live, live_sketches, strict=True))
    floor = rule.jaccard * LSH_MARGIN
    for n, sketch in by_index.items():
        for other in lsh.query(sketch):
            i = int(other)
            if groups is not None and groups[i] == groups[n]:
                continue
            # text that shares common sentences makes many weak candidates: the sketch's own estimate
            # sets most of them aside before the exact (and much slower) comparison
            if by_index[i].jaccard(sketch) < floor:
                continue
            match = compare(sets[i], sets[n], rule, i, n)
            if match is not None:
                found.append(match)
        lsh.insert(str(n), sketch)
    return sorted(found, key=lambda m: (m.i, m.j))


def mean_pairwise(hashvalues: Sequence[np.ndarray]) -> float | None:
    """Mean Jaccard over every pair of a group's texts, estimated from their MinHash sketches' hash
    values (MinHash.hashvalues): how alike the group reads on average. None for fewer than two."""
    m = len(hashvalues)
    if m < 2:
        return None
    table = np.stack(hashvalues)
    same = np.zeros((m, m))
    for column in table.T:  # one permutation at a time keeps memory at m x m
        same += column[:, None] == column[None, :]
    total = (same.sum() - same.trace()) / (m * (m - 1))
    return float(total / table.shape[1])


def ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """The text's runs of n words, in order and with repeats: what distinct-n counts."""
    w = words(text)
    return [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]


def opening(text: str, n: int = 2) -> str:
    """The first n words of a text, lower case: how a message opens."""
    return " ".join(words(text)[:n])


# ---- near-duplicate conversations across a dataset -------------------------------------------
@dataclass(frozen=True)
class Doc:
    """A conversation as the search sees it: its id, when it was made (sortable text or time) and its turns."""

    id: str
    created_at: str
    turns: tuple[str, ...]


@dataclass(frozen=True)
class Link:
    """Why two conversations are near-duplicates: alike as a whole, or sharing half their turns."""

    a: str
    b: str
    jaccard: float  # of the whole conversations' shingles
    shared_turns: int  # turns of the shorter conversation with a near-duplicate in the other


@dataclass(frozen=True)
class Cluster:
    """Conversations linked by near-duplication, oldest first. The oldest is the one to keep; every
    later member repeats an earlier one, and the newest is the one to look at first."""

    members: tuple[str, ...]
    links: tuple[Link, ...]

    @property
    def kept(self) -> str:
        return self.members[0]

    @property
    def newest(self) -> str:
        return self.members[-1]

    @property
    def repeats(self) -> tuple[str, ...]:
        return self.members[1:]

    @property
    def similarity(self) -> float:
        return max(link.jaccard for link in self.links)

    @property
    def shared_turns(self) -> int:
        return max(link.shared_turns for link in self.links)


def _linked_pairs(docs: Sequence[Doc], rule: Rule) -> dict[tuple[int, int], Link]:
    """The linked pairs (a < b, indexes into docs): alike as a whole, or sharing half the turns of the shorter."""
    owner = [n for n, d in enumerate(docs) for _ in d.turns]
    turn_sets = [shingles(t, rule.k) for d in docs for t in d.turns]
    turn_sketches = sketches(turn_sets)
    # a conversation's shingles are its turns' (no shingle spans two turns), so its sketch is theirs merged
    whole: list[Shingles] = [frozenset()] * len(docs)
    whole_sketches: list[MinHash] = []
    start = 0
    for n, d in enumerate(docs):
        end = start + len(d.turns)
        whole[n] = frozenset().union(*turn_sets[start:end])
        whole_sketches.append(merged(turn_sketches[start:end]) if end > start else sketches([whole[n]])[0])
        start = end
    alike = {(m.i, m.j) for m in near_pairs(whole, rule, sketched=whole_sketches)}
    turns_matched: dict[tuple[int, int], tuple[set[int], set[int]]] = {}
    for m in near_pairs(turn_sets, rule, groups=owner, sketched=turn_sketches):
        a, b = owner[m.i], owner[m.j]  # m.i < m.j and turns are in doc order, so a < b
        left, right = turns_matched.setdefault((a, b), (set(), set()))
        left.add(m.i)
        right.add(m.j)
    pairs: dict[tuple[int, int], Link] = {}
    for a, b in alike | set(turns_matched):
        left, right = turns_matched.get((a, b), (set(), set()))
        shared = min(len(left), len(right))
        if (a, b) in alike or shared * 2 >= min(len(docs[a].turns), len(docs[b].turns)):
            pairs[(a, b)] = Link(docs[a].id, docs[b].id, round(jaccard(whole[a], whole[b]), 3), shared)
    return pairs


def clusters(docs: Sequence[Doc], rule: Rule) -> list[Cluster]:
    """The near-duplicate clusters among the conversations (only those with two members or more),
    the cluster with the newest member first."""
    pairs = _linked_pairs(docs, rule)
    parent = list(range(len(docs)))

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for n in range(len(docs)):
        groups.setdefault(root(n), []).append(n)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        ordered = sorted(members, key=lambda n: (docs[n].created_at, docs[n].id))
        inside = set(members)
        links = tuple(link for (a, b), link in sorted(pairs.items()) if a in inside and b in inside)
        out.append(Cluster(tuple(docs[n].id for n in ordered), links))
    by_time = {d.id: d.created_at for d in docs}
    return sorted(out, key=lambda c: (by_time[c.newest], c.newest), reverse=True)


def cluster_of(found: Sequence[Cluster]) -> dict[str, Cluster]:
    """Each clustered conversation's cluster, by conversation id."""
    return {member: c for c in found for member in c.members}
