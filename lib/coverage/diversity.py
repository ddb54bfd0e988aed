"""How varied the dataset is, next to how much of it there is: near-duplicate clusters across every
current conversation, and per taxonomy cell (a tier, persona, arc, topic, or persona x topic) the
diversity figures:
- distinct-2: distinct word pairs over all word pairs of the cell's turns (1 = nothing repeats);
- the most frequent opening of the person's messages (first two words) and its share;
- mean pairwise similarity: the mean shingle Jaccard between the cell's conversations (estimated
  from their MinHash sketches, so a cell of hundreds stays cheap).
Input: Store.conversation_texts() rows. The measures are lib/core/similarity.py's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lib.core import similarity
from lib.core.taxonomy import Taxonomy

# cell id -> (label, the row keys that make a cell, their taxonomy dimensions)
CELLS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "tier": ("Tier", ("tier",), ("tiers",)),
    "persona": ("Persona", ("persona",), ("personas",)),
    "emotional_arc": ("Emotional arc", ("emotional_arc",), ("arcs",)),
    "topic": ("Topic", ("topic",), ("topics",)),
    "persona_topic": ("Persona x topic", ("persona", "topic"), ("personas", "topics")),
}
# the scopes of the Coverage page, as review statuses; "planned" has no text yet, so it reads every generated one
SCOPE_STATUSES: dict[str, tuple[str, ...] | None] = {"approved": ("approved",), "generated": None}


def text_scope(scope: str) -> str:
    """The scope whose conversations' text a Coverage scope reads (planned: every generated one)."""
    return scope if scope in SCOPE_STATUSES else "generated"


OPENING_WORDS = 2


def in_scope(rows: Sequence[Mapping[str, Any]], scope: str) -> list[Mapping[str, Any]]:
    statuses = SCOPE_STATUSES[text_scope(scope)]
    return [r for r in rows if statuses is None or r.get("review_status") in statuses]


def docs(rows: Sequence[Mapping[str, Any]]) -> list[similarity.Doc]:
    return [similarity.Doc(str(r["id"]), str(r["created_at"]), tuple(r.get("texts") or ())) for r in rows]


def find_clusters(rows: Sequence[Mapping[str, Any]], tax: Taxonomy) -> list[similarity.Cluster]:
    """The near-duplicate clusters among the conversations, under the taxonomy's quality rules."""
    return similarity.clusters(docs(rows), similarity.Rule.of(tax.targets.quality))


def cluster_frame(
    clusters: Sequence[similarity.Cluster], rows: Sequence[Mapping[str, Any]], tax: Taxonomy
) -> pd.DataFrame:
    """One row per cluster, newest member first: what the Coverage page lists."""
    by_id = {str(r["id"]): r for r in rows}
    personas = tax.names("personas")
    topics = tax.names("topics")
    out = []
    for c in clusters:
        newest = by_id.get(c.newest, {})
        out.append(
            {
                "newest": c.newest,
                "earlier": ", ".join(c.members[:-1]),
                "size": len(c.members),
                "similarity": c.similarity,
                "shared_turns": c.shared_turns,
                "cell": personas.get(newest.get("persona", ""), newest.get("persona", ""))
                + " · "
                + topics.get(newest.get("topic", ""), newest.get("topic", "")),
            }
        )
    return pd.DataFrame(out, columns=["newest", "earlier", "size", "similarity", "shared_turns", "cell"])


@dataclass(frozen=True)
class Profile:
    """What the diversity figures need of one conversation, worked out once for every kind of cell."""

    cell: tuple[str, ...]  # the values of CELL_KEYS
    bigrams: frozenset[tuple[str, ...]]
    bigram_count: int
    openings: tuple[str, ...]  # of the person's messages
    sketch: np.ndarray  # MinHash hash values of the whole conversation's shingles


CELL_KEYS: tuple[str, ...] = ("tier", "persona", "emotional_arc", "topic")


def profiles(rows: Sequence[Mapping[str, Any]], tax: Taxonomy) -> list[Profile]:
    k = tax.targets.quality.shingle_words
    wholes = []
    out = []
    for r in rows:
        texts = list(r.get("texts") or ())
        roles = list(r.get("roles") or ())
        grams = [g for t in texts for g in similarity.ngrams(t, 2)]
        users = [t for t, role in zip(texts, roles, strict=False) if role == "user"]
        wholes.append(frozenset().union(*(similarity.shingles(t, k) for t in texts)))
        out.append(
            (
                tuple(str(r.get(key) or "") for key in CELL_KEYS),
                frozenset(grams),
                len(grams),
                tuple(o for o in (similarity.opening(t, OPENING_WORDS) for t in users) if o),
            )
        )
    sketched = similarity.sketches(wholes)
    return [
        Profile(cell, grams, count, openings, sketch.hashvalues)
        for (cell, grams, count, openings), sketch in zip(out, sketched, strict=True)
    ]


def _cell_figures(members: Sequence[Profile]) -> dict[str, Any]:
    total = sum(p.bigram_count for p in members)
    openings = Counter(o for p in members for o in p.openings)
    n_openings = sum(openings.values())
    top, top_n = openings.most_common(1)[0] if openings else ("", 0)
    return {
        "conversations": len(members),
        "distinct_2": len(frozenset().union(*(p.bigrams for p in members))) / total if total else None,
        "top_opening": top,
        "opening_share": top_n / n_openings if n_openings else None,
        "mean_similarity": similarity.mean_pairwise([p.sketch for p in members]),
    }


def figures(found: Sequence[Profile], tax: Taxonomy, cell: str) -> pd.DataFrame:
    """The diversity figures per cell of the given kind (CELLS), the biggest cell first."""
    _, keys, dims = CELLS[cell]
    label = {d: tax.names(d) for d in dims}
    at = [CELL_KEYS.index(k) for k in keys]
    groups: dict[tuple[str, ...], list[Profile]] = {}
    for p in found:
        groups.setdefault(tuple(p.cell[i] for i in at), []).append(p)
    out = []
    for key, members in groups.items():
        name = " · ".join(label[d].get(v, v) for d, v in zip(dims, key, strict=True))
        out.append({"cell": name, **_cell_figures(members)})
    frame = pd.DataFrame(
        out, columns=["cell", "conversations", "distinct_2", "top_opening", "opening_share", "mean_similarity"]
    )
    return frame.sort_values(["conversations", "cell"], ascending=[False, True], ignore_index=True)
