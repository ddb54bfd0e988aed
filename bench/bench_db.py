"""Database benchmark: fill a fresh embedded database and time the main reads.

    python bench/bench_db.py [--scenarios 10000] [--conversations 2000] [--runs 7]

Fills 10,000 scenarios and 2,000 conversations (about 25,000 turns, with reviews and label
revisions) through the Store, as the app and the worker write them, then times the reads the
pages make: the scenario list (unfiltered and filtered), one scenario's conversation, and
coverage-style counts. Prints figures (median of --runs); asserts nothing. The database lives
in a temporary folder and is deleted at the end.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._database import fresh_store, print_rows
from bench._timing import median_ms
from lib.core.models import Conversation
from lib.core.taxonomy import Taxonomy, load_taxonomy
from lib.store.postgres import PostgresStore

COVERAGE_QUERIES: dict[str, str] = {
    "emotions per user turn (labels in force)":
        "select t.emotion_primary, count(*) from public.conversation_turns t "
        "join public.conversations c on c.id = t.conversation_id and c.is_current "
        "where t.role = 'user' group by 1",
    "emotion x strategy (user turn -> reply)":
        "select u.emotion_primary, a.strategy_primary, count(*) from public.conversation_turns u "
        "join public.conversation_turns a on a.conversation_id = u.conversation_id and a.idx = u.idx + 1 "
        "join public.conversations c on c.id = u.conversation_id and c.is_current "
        "where u.role = 'user' group by 1, 2",
    "persona x topic (scenarios)":
        "select persona, topic, count(*) from public.scenarios group by 1, 2",
    "arcs and tiers (generated or better)":
        "select emotional_arc, tier, count(*) from public.v_scenarios "
        "where conversation_id is not null group by 1, 2",
    "conversation lengths":
        "select turn_count, count(*) from public.conversations where is_current group by 1",
    "scenarios by status":
        "select status, count(*) from public.scenarios group by 1",
}


def random_rows(tax: Taxonomy, n: int, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    contexts = {"scenario": tax.scenario_contexts, "edge_case": tax.edge_cases}
    for _ in range(n):
        tier = rng.choices(["template", "scenario", "edge_case"], weights=[40, 35, 15])[0]
        ctx = rng.choice(contexts[tier]) if tier != "template" else None
        rows.append({"tier": tier, "persona": rng.choice(tax.ids("personas")),
                     "emotional_arc": rng.choice(tax.ids("arcs")), "topic": rng.choice(tax.ids("topics")),
                     "intent": rng.choice(tax.ids("intents")), "tone": rng.choice(tax.ids("tones")),
                     "outcome_type": rng.choice(tax.ids("outcomes")),
                     "context_id": ctx.id if ctx else None, "context": ctx.context if ctx else None})
    return rows


def conversation_for(row: dict[str, Any], conv_id: str, tax: Taxonomy, rng: random.Random) -> Conversation:
    n_turns = rng.choice([8, 10, 12, 12, 14, 14, 16])
    emotions, strategies = tax.ids("emotions"), tax.ids("strategies")
    turns: list[dict[str, Any]] = []
    for u in range(n_turns // 2):
        first, last = u == 0, u == n_turns // 2 - 1
        emotion = row["start_emotion"] if first else row["end_emotion"] if last else rng.choice(emotions)
        words = " ".join(rng.choice(["money", "worried", "plan", "savings", "retire", "debt", "help"]) for _ in range(40))
        turns.append({"role": "user", "text": words,
                      "emotion": {"primary": emotion, "intensity": round(rng.random(), 2),
                                  "valence": round(rng.uniform(-1, 1), 2), "arousal": round(rng.random(), 2),
                                  "cues": ["worried"]}})
        turns.append({"role": "assistant", "text": words + " " + words,
                      "strategies": {"primary": rng.choice(strategies), "supporting": rng.sample(strategies, 2)},
                      "intended_effect": "steadier", "learning_objective": "validate, then inform"})
    return Conversation.model_validate({
        "id": conv_id,
        "dataset": {"name": "bench", "version": "0", "vertical": "financial_planning"},
        "scenario": {k: row[k] for k in ("tier", "persona", "emotional_arc", "topic", "intent", "tone",
                                         "outcome_type", "context_id", "context")},
        "system_prompt": "You are Elena Morales, CFP.",
        "turns": turns,
        "arc": {"start": {"emotion": row["start_emotion"], "intensity": 0.8},
                "end": {"emotion": row["end_emotion"], "intensity": 0.3}},
        "quality": {"score": rng.randint(5, 10)},
        "provenance": {"source": "generated", "model": "bench", "usage": {"input_tokens": 3000, "output_tokens": 2500},
                       "cost_usd": 0.05},
    })


def add_random_scenarios(store: PostgresStore, tax: Taxonomy, want: int, rng: random.Random) -> None:
    """Random scenarios until the table holds `want`, a thousand per call as the planner adds them."""
    have = store.counts()["scenarios"]
    started = time.perf_counter()
    for start in range(0, max(want - have, 0), 1000):
        store.add_scenarios(random_rows(tax, min(1000, want - have - start), rng), plan_batch="bench")
    print(f"  added {want - have} scenarios in {time.perf_counter() - started:.1f} s")


def fill(store: PostgresStore, tax: Taxonomy, n_scenarios: int, n_conversations: int, seed: int) -> None:
    rng = random.Random(seed)
    add_random_scenarios(store, tax, n_scenarios, rng)

    rows = [r for r in store.list_scenarios() if r["conversation_id"] is None]
    chosen = rng.sample(rows, min(n_conversations, len(rows)))
    docs = [conversation_for(r, f"bench-{r['id']}", tax, random.Random(r["id"])) for r in chosen]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:  # as several worker threads save results
        list(pool.map(lambda d_r: store.save_generated(d_r[0], scenario_id=d_r[1]["id"]), zip(docs, chosen)))
    elapsed = time.perf_counter() - started
    print(f"  saved {len(docs)} conversations in {elapsed:.1f} s ({len(docs) / elapsed:.0f}/s, 4 threads)")

    started = time.perf_counter()
    for doc in docs[: len(docs) // 4]:
        store.record_review(doc.id, rng.choice(["approved", "approved", "needs_edit", "rejected"]), reviewer="bench",
                            reason_code="other", notes="bench")
    for doc in docs[: len(docs) // 10]:
        store.revise_label(doc.id, 0, "emotion.intensity", round(rng.random(), 2), author="bench", reason="bench")
    print(f"  recorded {len(docs) // 4} reviews and {len(docs) // 10} label revisions in "
          f"{time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    tax = load_taxonomy()
    store, _, _ = fresh_store("brightrun-bench-")
    try:
        fill(store, tax, args.scenarios, args.conversations, args.seed)
        print_rows(store)
        report(store, tax, args.runs)
    finally:
        store.close()
    return 0


def report(store: PostgresStore, tax: Taxonomy, runs: int) -> None:
    some = store.list_scenarios(limit=1)[0]
    with_conv = next(r for r in store.list_scenarios({"status": ["approved"]}, limit=1))
    persona, emotion = tax.personas[0].id, tax.emotions[0].id
    cluster = tax.topic_clusters[0].id
    reads: list[tuple[str, Callable[[], Any]]] = [
        ("list_scenarios() unfiltered", lambda: store.list_scenarios()),
        ("list_scenarios(persona)", lambda: store.list_scenarios({"persona": [persona]})),
        ("list_scenarios(start_emotion, topic_cluster)",
         lambda: store.list_scenarios({"start_emotion": [emotion], "topic_cluster": [cluster]})),
        ("list_scenarios(tier x2, status x3, intent x2)",
         lambda: store.list_scenarios({"tier": ["template", "scenario"], "status": ["generated", "approved", "rejected"],
                                       "intent": tax.ids("intents")[:2]})),
        ("list_scenarios(ids: 500)", lambda: store.list_scenarios({"ids": list(range(1, 1001, 2))})),
        ("get_scenario", lambda: store.get_scenario(some["id"])),
        ("get_conversation (full document)", lambda: store.get_conversation(with_conv["conversation_id"])),
        ("conversation_versions", lambda: store.conversation_versions(with_conv["id"])),
        ("conversation_turn_rows", lambda: store.conversation_turn_rows(with_conv["conversation_id"])),
        ("reviews_for + label_revisions_for",
         lambda: (store.reviews_for(with_conv["conversation_id"]),
                  store.label_revisions_for(with_conv["conversation_id"]))),
        ("counts()", store.counts),
        ("describe()", store.describe),
    ]
    print(f"\nreads (median of {runs} runs after a warm-up)")
    print(f"  {'read':<50}{'ms':>9}{'rows':>8}")
    for name, fn in reads:
        ms, result = median_ms(runs, fn)
        n = len(result) if isinstance(result, list) else 1
        print(f"  {name:<50}{ms:>9.1f}{n:>8}")

    print("\ncoverage-style counts (SQL, as a coverage view would run them)")
    for name, query in COVERAGE_QUERIES.items():
        def run(q: str = query) -> list[Any]:
            with store.connection(name) as conn:
                return conn.execute(q).fetchall()
        ms, result = median_ms(runs, run)
        print(f"  {name:<50}{ms:>9.1f}{len(result):>8}")


if __name__ == "__main__":
    raise SystemExit(main())
