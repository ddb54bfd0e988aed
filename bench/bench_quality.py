"""Integrity checks benchmark: how many defective conversations each check catches, and how many
clean ones it wrongly fails.

    python bench/bench_quality.py [--per-seed 3] [--rng 0]

Defective conversations: every defect class of tests/fixtures/defects applied to each of the 10
seeds, --per-seed times per variant with a different random choice (turn, sentence, phrasing).
A defect counts as caught when the check it names fails. "also failed" counts the defective
conversations in which some other check failed too (expected for the classes that cannot be made
in isolation, such as cutting a conversation to 4 turns). Classes marked "reach" use phrasings
written beyond the compliance patterns: their rate shows how far pattern rules go.
False positives: the clean seeds, and the conversations the fake Anthropic server returns as
"valid" for every arc x 6 personas and every edge case (tests/fake_anthropic.py), through every check.
Prints tables; asserts nothing.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.core.models import Conversation, DatasetInfo, Provenance, ScenarioDimensions
from lib.core.seeds import load_seeds
from lib.core.taxonomy import Taxonomy, load_taxonomy
from lib.core.validation import CHECKS, CHECKS_BY_NAME, check_conversation
from lib.generation.output_format import GeneratedConversation
from lib.generation.prompting import build_prompt
from tests.fake_anthropic import FakeAnthropic
from tests.fixtures.defects import DEFECTS, make_defective


def defect_table(tax: Taxonomy, seeds: list[Conversation], per_seed: int, base: int) -> tuple[int, float]:
    print(f"{'defect class':<28} {'check':<22} {'kind':<5} {'var':>3} {'made':>5} {'caught':>6} {'rate':>7} "
          f"{'also failed':>11}  note")
    total = caught_all = 0
    elapsed = 0.0
    for d in DEFECTS:
        made = caught = collateral = 0
        missed: Counter[str] = Counter()
        for v in d.variants:
            for conv in seeds:
                for n in range(per_seed):
                    out = make_defective(conv, tax, d, v, random.Random(f"{base}/{d.name}/{v.__name__}/{conv.id}/{n}"))
                    if out is None:
                        continue
                    broken, done = out
                    started = time.perf_counter()
                    report = check_conversation(broken, tax)
                    elapsed += time.perf_counter() - started
                    failed = {c.name for c in report.failures}
                    made += 1
                    if d.check in failed:
                        caught += 1
                    else:
                        missed[done.split(" says ")[-1] if " says " in done else v.__name__] += 1
                    collateral += bool(failed - {d.check})
        total += made
        caught_all += caught
        kind = "hard" if CHECKS_BY_NAME[d.check].hard else "soft"
        rate = f"{caught / made:.1%}" if made else "-"
        note = "reach" if not d.in_tests else ""
        if missed:
            note += (" " if note else "") + "missed: " + "; ".join(f"{k} x{n}" for k, n in missed.most_common(3))
        print(f"{d.name:<28} {d.check:<22} {kind:<5} {len(d.variants):>3} {made:>5} {caught:>6} {rate:>7} "
              f"{collateral:>11}  {note}")
    print(f"{'all classes':<28} {'':<22} {'':<5} {'':>3} {total:>5} {caught_all:>6} "
          f"{caught_all / max(1, total):>7.1%}")
    return total, elapsed


def fake_valid(tax: Taxonomy, seeds: list[Conversation]) -> list[Conversation]:
    """What the fake server answers "valid" for a spread of scenarios, as the engine would store it."""
    fake = FakeAnthropic(tax)
    scenarios = []
    for a in tax.arcs:
        for j, p in enumerate(tax.personas[:6]):
            topic = tax.topics[(7 * len(scenarios) + j) % len(tax.topics)]
            scenarios.append(ScenarioDimensions(tier="template", persona=p.id, emotional_arc=a.id, topic=topic.id,
                                                intent="get_advice", tone="casual",
                                                outcome_type=["resolved", "referral", "action_plan"][j % 3]))
    for e in tax.edge_cases:
        scenarios.append(ScenarioDimensions(tier="edge_case", persona=e.personas[0], emotional_arc=e.arcs[0],
                                            topic=e.topics[0], intent="get_advice", tone="urgent",
                                            outcome_type="referral", context_id=e.id, context=e.context))
    out = []
    for n, sc in enumerate(scenarios):
        plan = build_prompt(sc, tax, seeds)
        g = GeneratedConversation.model_validate(fake.conversation_for({"messages": [{"content": plan.user}]}))
        out.append(Conversation(id=f"fake-{n}", dataset=DatasetInfo(name="bench", version="1", vertical=tax.vertical.id),
                                scenario=sc, system_prompt=plan.training_system_prompt, turns=g.to_turns(),
                                arc=g.arc(), provenance=Provenance(source="generated")))
    return out


def false_positive_table(tax: Taxonomy, sets: dict[str, list[Conversation]]) -> None:
    print(f"{'check':<22} {'kind':<5} " + " ".join(f"{name:>16}" for name in sets))
    fails: dict[str, Counter[str]] = defaultdict(Counter)
    for name, convs in sets.items():
        for conv in convs:
            for c in check_conversation(conv, tax).failures:
                fails[name][c.name] += 1
    for check in CHECKS:
        kind = "hard" if check.hard else "soft"
        cells = " ".join(f"{fails[name][check.name]:>7} of {len(convs):<6}" for name, convs in sets.items())
        print(f"{check.name:<22} {kind:<5} {cells}")
    for name, convs in sets.items():
        clean = sum(1 for c in convs if check_conversation(c, tax).passed)
        print(f"{name}: {clean} of {len(convs)} pass every check")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-seed", type=int, default=3, help="variants of each defect per seed (default 3)")
    parser.add_argument("--rng", type=int, default=0, help="random seed of the defect choices")
    args = parser.parse_args()
    tax = load_taxonomy()
    seeds = load_seeds().conversations
    print(f"Integrity checks: {len(CHECKS)} checks ({sum(c.hard for c in CHECKS)} hard), {len(DEFECTS)} defect "
          f"classes, {len(seeds)} seeds, {args.per_seed} per variant and seed\n")
    made, elapsed = defect_table(tax, seeds, args.per_seed, args.rng)
    print(f"\n{made} defective conversations checked in {elapsed:.2f} s "
          f"({elapsed / max(1, made) * 1000:.1f} ms each)\n")
    print("False positives (conversations failing each check):")
    false_positive_table(tax, {"clean seeds": seeds, "fake 'valid'": fake_valid(tax, seeds)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
