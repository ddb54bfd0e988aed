"""Agreement benchmark: how long the Quality page's figures take for many conversations reviewed twice.

    python bench/bench_agreement.py [--conversations 1000] [--turns 10] [--runs 5]

Builds what public.agreement_decisions and agreement_labels return for --conversations conversations,
each decided by two of three reviewers (random decisions and labels, a fixed seed), then times
lib/review/agreement: the ratings table, the figures per field and per pair, over time by week, and
the disagreements. No database: the SQL reads are timed by the Review benchmark's kind of fill, not here.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._timing import median_ms  # noqa: E402
from lib.core.taxonomy import Taxonomy, load_taxonomy  # noqa: E402
from lib.review import agreement as ag  # noqa: E402

REVIEWERS = ("Ana", "Ben", "Cleo")
DECISIONS = ("approved", "needs_edit", "rejected")


def reads(tax: Taxonomy, conversations: int, turns: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(1)
    emotions, strategies = tax.ids("emotions")[:3], tax.ids("strategies")[:3]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    decisions, labels = [], []
    for c in range(conversations):
        for n, who in enumerate(rng.sample(REVIEWERS, 2)):
            at = start + timedelta(hours=3 * c + n)
            decisions.append({"conversation_id": f"c{c}", "reviewer": who, "decision": rng.choice(DECISIONS),
                              "decided_at": at})  # fmt: skip
            for t in range(turns):
                user = t % 2 == 0
                labels.append({"conversation_id": f"c{c}", "reviewer": who, "turn_idx": t,
                               "role": "user" if user else "assistant",
                               "emotion_primary": rng.choice(emotions) if user else None,
                               "emotion_intensity": rng.random() if user else None,
                               "strategy_primary": None if user else rng.choice(strategies)})  # fmt: skip
    return decisions, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tax = load_taxonomy()
    decisions, labels = reads(tax, args.conversations, args.turns)
    ms, result = median_ms(args.runs, lambda: ag.build_agreement(decisions, labels, tax))
    print(f"{args.conversations:,} conversations reviewed twice, {len(result.ratings):,} ratings")
    print(f"  ratings table        {ms:8.1f} ms")
    for label, fn in (
        ("per field", lambda: ag.by_field(result.ratings)),
        ("per reviewer pair", lambda: ag.by_pair(result.ratings)),
        ("over time (weeks)", lambda: ag.over_time(result.ratings, "W")),
        ("disagreements", lambda: ag.disagreements(result.ratings, tax)),
    ):
        ms, _ = median_ms(args.runs, fn)
        print(f"  {label:<20} {ms:8.1f} ms")


if __name__ == "__main__":
    main()
