"""The near-duplicate search and the diversity figures on a synthetic dataset: seconds, and how many
planted near-copies the search finds.

Conversations are made of the seeds' sentences drawn at random (so they read alike in vocabulary
but are not copies); a share of them is planted as reworded copies of an earlier one (every 12th
word changed, which keeps a Jaccard of about 0.6) or as a conversation that reuses half the turns of
another. The search must find every planted pair and nothing else.

    python bench/bench_near_duplicates.py [--n 1000 5000] [--planted 0.02]
Prints figures only.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.core import similarity  # noqa: E402
from lib.core.checks.sentences import split_sentences  # noqa: E402
from lib.core.seeds import load_seeds  # noqa: E402
from lib.core.taxonomy import load_taxonomy  # noqa: E402
from lib.coverage import diversity  # noqa: E402


def dataset(n: int, planted: float, rng: random.Random) -> tuple[list[dict], set[tuple[str, str]]]:
    sentences = [s.text for c in load_seeds().conversations for t in c.turns for s in split_sentences(t.text)]
    rows: list[dict] = []
    pairs: set[tuple[str, str]] = set()
    for i in range(n):
        cid = f"c{i:05d}"
        if i > 10 and rng.random() < planted:
            source = rows[rng.randrange(i)]
            if rng.random() < 0.5:
                texts = [" ".join(w + "s" if k % 12 == 0 else w for k, w in enumerate(t.split())) for t in source["texts"]]
            else:
                half = len(source["texts"]) // 2
                texts = source["texts"][:half] + [" ".join(rng.choices(sentences, k=5)) for _ in source["texts"][half:]]
            pairs.add((source["id"], cid))
        else:
            texts = [" ".join(rng.choices(sentences, k=rng.randint(2, 7))) for _ in range(rng.choice([8, 10, 12, 14, 16]))]
        rows.append({"id": cid, "created_at": cid, "review_status": "approved", "tier": "template",
                     "persona": f"p{i % 12}", "emotional_arc": "a", "topic": f"t{i % 20}",
                     "roles": ["user", "assistant"] * (len(texts) // 2), "texts": texts})
    return rows, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--planted", type=float, default=0.02)
    args = parser.parse_args()
    tax = load_taxonomy()
    for n in args.n:
        rows, planted = dataset(n, args.planted, random.Random(n))
        turns = sum(len(r["texts"]) for r in rows)
        t0 = time.perf_counter()
        found = diversity.find_clusters(rows, tax)
        search_s = time.perf_counter() - t0
        linked = {(link.a, link.b) for c in found for link in c.links}
        t0 = time.perf_counter()
        found_profiles = diversity.profiles(rows, tax)
        for cell in diversity.CELLS:
            diversity.figures(found_profiles, tax, cell)
        figures_s = time.perf_counter() - t0
        print(f"{n:,} conversations, {turns:,} turns: near-duplicate search {search_s:.1f} s "
              f"({len(found)} clusters; {len(planted & linked)} of {len(planted)} planted pairs found, "
              f"{len(linked - planted)} other pairs); diversity figures for {len(diversity.CELLS)} kinds of cell "
              f"{figures_s:.1f} s")
    print(f"MinHash: {similarity.NUM_PERM} permutations, LSH threshold {tax.targets.quality.near_duplicate_jaccard * similarity.LSH_MARGIN:.2f} "
          f"for a rule of Jaccard {tax.targets.quality.near_duplicate_jaccard:g}")


if __name__ == "__main__":
    main()
