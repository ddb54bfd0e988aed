"""How varied the prompts of a large plan are, and what the prompt layout leaves the prompt cache.

Plans --n scenarios (1,000 by default) on top of the seeds' own, builds each one's prompt as a job would
(variation seed = the job item's id, here 1..n), and prints:
- the plan: tier mix, crisis rows against the cap, rows that break a plausibility rule, lengths asked for;
- distinct system prompts, few-shot examples and user messages;
- the repeat rate of context facts (a tier-2/3 row's situation text once varied) and of person details
  (name, name and age, the whole writing style), as the share of rows that repeat an earlier row's value;
- the cache-hit share the layout allows: every request but the first of each distinct system prompt reads
  the cached system prompt (a warm cache: requests of one system prompt less than 5 minutes apart), and
  the system prompt's share of a request's input tokens (about 4 characters a token).

    python bench/bench_diversity.py [--n 1000] [--seed 0]
Prints figures only.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from collections.abc import Hashable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.core.models import ScenarioDimensions  # noqa: E402
from lib.core.planner import plan  # noqa: E402
from lib.core.plausibility import row_problems  # noqa: E402
from lib.core.seeds import load_seeds  # noqa: E402
from lib.core.taxonomy import load_taxonomy  # noqa: E402
from lib.generation.prompting import build_prompt, target_turns  # noqa: E402


def repeat_rate(values: Sequence[Hashable]) -> float:
    """The share of values equal to an earlier one."""
    return (len(values) - len(set(values))) / len(values) if values else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    tax = load_taxonomy()
    seeds = load_seeds().conversations
    existing = [s.scenario.model_dump() for s in seeds]
    rows = [s.as_dict() for s in plan(tax, args.n, existing=existing, seed=args.seed).scenarios]
    clusters = {c.id: [t.id for t in c.topics] for c in tax.topic_clusters}
    tiers = Counter(r["tier"] for r in rows)
    crisis = sum(r["emotional_arc"] in tax.plausibility.sensitive_arcs for r in rows + existing)
    lengths = Counter(target_turns(r, tax) // 2 for r in rows)
    print(f"plan of {args.n} new scenarios beside {len(existing)} seeds")
    print("  tiers: " + ", ".join(f"{t} {tiers[t]}" for t in tax.ids("tiers")))
    print(f"  sensitive (crisis) rows: {crisis} of {len(rows) + len(existing)} "
          f"(cap {tax.plausibility.sensitive.cap(len(rows) + len(existing))})")
    print(f"  rows breaking a plausibility rule: {sum(bool(row_problems(tax.plausibility, r, clusters)) for r in rows)}")
    print("  exchanges asked for: " + ", ".join(f"{k}: {lengths[k]}" for k in sorted(lengths)))

    plans = [build_prompt(ScenarioDimensions(**r), tax, seeds, variation_seed=n + 1) for n, r in enumerate(rows)]
    systems = Counter(p.system_sha256 for p in plans)
    examples = Counter(p.seed_example_id for p in plans)
    print("prompts")
    print(f"  distinct system prompts: {len(systems)}; distinct few-shot examples: {len(examples)} "
          f"(most used: {examples.most_common(1)[0][1]} times)")
    print(f"  distinct user messages: {len({p.user for p in plans})} of {len(plans)}")
    heads = {p.system.split("<seed_example>")[0] for p in plans}
    print(f"  distinct system text before the example: {len(heads)}")

    context_rows = [p for p, r in zip(plans, rows, strict=True) if r["context_id"]]
    people = [p.variation["person"] for p in plans if p.variation["person"]]
    style = ("message_length", "capitalisation", "typos", "formality", "opening", "closing")
    print("repeat rates (share of rows repeating an earlier row's value)")
    print(f"  context facts (situation text once varied): {repeat_rate([p.parameters['context'] for p in context_rows]):.1%} "
          f"of {len(context_rows)} tier-2/3 rows "
          f"(unvaried: {repeat_rate([r['context'] for r in rows if r['context_id']]):.1%})")
    print(f"  names: {repeat_rate([p['name'] for p in people]):.1%}; name and age: "
          f"{repeat_rate([(p['name'], p['age']) for p in people]):.1%}; whole writing style: "
          f"{repeat_rate([tuple(p[k] for k in style) for p in people]):.1%}; "
          f"person (name, age and style): {repeat_rate([tuple(p.values()) for p in people]):.1%}")
    trajectories = Counter(p.variation["trajectory"] for p in plans)
    print("  trajectories: " + ", ".join(f"{k} {v}" for k, v in trajectories.most_common()))

    system_tokens = statistics.mean(len(p.system) / 4 for p in plans)
    user_tokens = statistics.mean(len(p.user) / 4 for p in plans)
    hits = len(plans) - len(systems)
    print("prompt cache")
    print(f"  requests reading a cached system prompt: {hits} of {len(plans)} ({hits / len(plans):.1%})")
    print(f"  system prompt {system_tokens:,.0f} tokens, user message {user_tokens:,.0f} tokens: "
          f"{system_tokens / (system_tokens + user_tokens):.0%} of the input is cacheable")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
