"""The train/eval split: whole scenarios go to train or eval (every version of a scenario lands in
one split), in proportion `eval_ratio` of the scenarios, stratified by (arc, persona): each stratum
gives floor(ratio x its size) scenarios to eval, and the remainder goes to the strata (and arcs and
personas) furthest below their share. Within a stratum scenarios are taken in the order of
sha256(seed, scenario), so the same data and seed give the same split, whatever the input order.
A conversation whose training.split is set keeps it (the way to freeze an eval set across exports)."""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from lib.export.items import Item

SPLITS: tuple[str, str] = ("train", "eval")
# The split as files and the card's configs name it: `datasets` and TRL call the held-out split
# "test" (a file named eval is renamed test when loaded without the card, and `trl sft` reads test).
SPLIT_NAMES: dict[str, str] = {"train": "train", "eval": "test"}


def _h(seed: int, key: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{key}".encode()).digest()[:8], "big")


def split_groups(
    strata: Mapping[str, tuple[str, str]], eval_ratio: float, seed: int, pinned: Mapping[str, str] | None = None
) -> dict[str, str]:
    """group -> 'train' | 'eval'. strata: group -> (arc, persona). round(ratio x groups) groups go
    to eval (at least one and not all, when the ratio is above 0 and there are two groups or more).
    pinned: groups whose split is decided already (a conversation's training.split)."""
    if not 0 <= eval_ratio < 1:
        raise ValueError(f"eval_ratio {eval_ratio} is outside [0, 1)")
    pinned = {g: s for g, s in (pinned or {}).items() if g in strata and s in SPLITS}
    n = len(strata)
    target = round(eval_ratio * n)
    if eval_ratio > 0 and n >= 2:
        target = min(max(target, 1), n - 1)
    out: dict[str, str] = dict(pinned)
    members: dict[tuple[str, str], list[str]] = defaultdict(list)
    for g in sorted(strata):
        members[strata[g]].append(g)
    n_arc = Counter(a for a, _ in strata.values())
    n_persona = Counter(p for _, p in strata.values())
    e_arc: Counter[str] = Counter()
    e_persona: Counter[str] = Counter()
    e_stratum: Counter[tuple[str, str]] = Counter()
    for g, s in pinned.items():
        if s == "eval":
            a, p = strata[g]
            e_arc[a] += 1
            e_persona[p] += 1
            e_stratum[(a, p)] += 1
    total = sum(e_stratum.values())
    free = {
        s: sorted((g for g in gs if g not in pinned), key=lambda g: (_h(seed, g), g), reverse=True)
        for s, gs in members.items()
    }  # reversed: pop() takes the next one

    def take(s: tuple[str, str]) -> None:
        nonlocal total
        out[free[s].pop()] = "eval"
        e_stratum[s] += 1
        e_arc[s[0]] += 1
        e_persona[s[1]] += 1
        total += 1

    for stratum in sorted(members):  # each stratum's whole share
        want = math.floor(eval_ratio * len(members[stratum]) + 1e-9) - e_stratum[stratum]
        while want > 0 and free[stratum] and total < target:
            take(stratum)
            want -= 1
    tiebreak = {s: _h(seed, "stratum\x00" + "\x00".join(s)) for s in members}

    def need(s: tuple[str, str]) -> tuple[float, int]:
        a, p = s
        joint = eval_ratio * len(members[s]) - e_stratum[s]
        margins = (eval_ratio * n_arc[a] - e_arc[a]) + (eval_ratio * n_persona[p] - e_persona[p])
        return round(joint + 0.5 * margins, 9), tiebreak[s]

    while total < target:  # the remainder, to whoever is furthest below their share
        open_strata = [s for s in members if free[s]]
        if not open_strata:
            break
        take(max(open_strata, key=need))
    for gs in free.values():
        for g in gs:
            out[g] = "train"
    return out


def assign_splits(items: Sequence[Item], eval_ratio: float, seed: int) -> Counter[str]:
    """Set item.split for every item (grouped by scenario); returns groups per split."""
    strata: dict[str, tuple[str, str]] = {}
    pinned: dict[str, str] = {}
    for item in items:
        s = item.scenario
        strata.setdefault(item.group, (str(s.get("emotional_arc")), str(s.get("persona"))))
        pin = item.training.get("split")
        if pin in SPLITS and (pinned.get(item.group) != "eval"):  # a group pinned both ways goes to eval
            pinned[item.group] = pin
    groups = split_groups(strata, eval_ratio, seed, pinned)
    for item in items:
        item.split = groups[item.group]
    return Counter(groups.values())
