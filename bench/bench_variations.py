"""Tokens and cost per variation (lib/core/variation_sets.py), against the same scenarios generated without
their source.

Plans --n variations of each approved seed for each kind of request (topic, persona, intensity band, tone,
outcome, topic + persona) where the rules allow one, generates them through the real engine against the
fake Anthropic server, and prices what it reports at the real price table (config/prices.yaml). The fake's
answers are padded to the size of the seed conversations in the output format, as bench_generation.py
does, so the output side costs what a real conversation of that length does. The same scenarios are then
generated without their source: the difference is what showing the source conversation costs.

    python bench/bench_variations.py [--n 3] [--model claude-sonnet-5-5]
Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._model import model_prices  # noqa: E402
from bench.bench_generation import seed_tokens_per_turn, total_usage  # noqa: E402
from lib.core.models import ScenarioDimensions  # noqa: E402
from lib.core.seeds import load_seeds  # noqa: E402
from lib.core.taxonomy import load_taxonomy  # noqa: E402
from lib.core.variation_sets import VariationSetError, plan_variations  # noqa: E402
from lib.generation.engine import GenerationResult, generate_conversation  # noqa: E402
from lib.generation.llm import DEFAULT_MODEL, LLMClient, LLMSettings  # noqa: E402
from lib.generation.pricing import PriceTable  # noqa: E402
from lib.generation.variation_prompt import VariationSource  # noqa: E402
from tests.fake_anthropic import FakeAnthropic  # noqa: E402

REQUESTS: tuple[tuple[str, ...], ...] = (
    ("topic",), ("persona",), ("intensity",), ("tone",), ("outcome",), ("topic", "persona"))


def line(label: str, results: list[GenerationResult], prices: PriceTable, model: str) -> float:
    n = max(1, len(results))
    u = total_usage(results)
    cost = (prices.cost(u, model) or 0.0) / n
    ok = sum(r.ok for r in results)
    print(
        f"  {label:<22} {len(results):4d} {ok:4d} {u.input_tokens / n:9,.0f} {u.cache_creation_input_tokens / n:9,.0f} "
        f"{u.cache_read_input_tokens / n:9,.0f} {u.output_tokens / n:9,.0f}  ${cost:8.4f}"
    )
    return cost


async def run(args: argparse.Namespace) -> None:
    tax = load_taxonomy()
    seeds = load_seeds().conversations
    prices, price = model_prices(args.model)
    work: dict[str, list[tuple[ScenarioDimensions, VariationSource]]] = defaultdict(list)
    refused: dict[str, int] = defaultdict(int)
    for conv in seeds:
        for vary in REQUESTS:
            key = " + ".join(vary)
            try:
                rows = plan_variations(conv, vary, args.n, tax, seed=0).rows
            except VariationSetError:
                refused[key] += 1
                continue
            for row in rows:
                dims = ScenarioDimensions(**{k: row[k] for k in ScenarioDimensions.model_fields})
                work[key].append((dims, VariationSource(conv, row["variation"])))

    varied: dict[str, list[GenerationResult]] = defaultdict(list)
    plain: list[GenerationResult] = []
    with FakeAnthropic(tax) as fake:
        settings = LLMSettings(api_key=fake.api_key, base_url=fake.url, model=args.model, prices=prices)
        async with LLMClient(settings) as llm:
            first, source = work["topic"][0]
            probe = await generate_conversation(first, llm=llm, tax=tax, seeds=seeds, source=source)
            turns = len(probe.conversation.turns) if probe.conversation else 10
            fake.extra_output_tokens_per_turn = max(
                0.0, seed_tokens_per_turn(seeds)["answer"] - probe.usage.output_tokens / turns
            )
            fake.clear_cache()
            for key, items in work.items():
                for i, (dims, source) in enumerate(items):
                    varied[key].append(
                        await generate_conversation(dims, llm=llm, tax=tax, seeds=seeds, source=source, variation_seed=i)
                    )
            for items in work.values():
                for i, (dims, _) in enumerate(items):
                    plain.append(await generate_conversation(dims, llm=llm, tax=tax, seeds=seeds, variation_seed=i))

    print(f"model {args.model}: input ${price.input}/MTok, output ${price.output}/MTok ({prices.source})")
    print(f"{args.n} variations per approved seed ({len(seeds)} seeds) for each request the rules can fill")
    print(f"  {'per conversation':<22} {'n':>4} {'ok':>4} {'input':>9} {'c.write':>9} {'c.read':>9} {'output':>9}  cost")
    for key in work:
        line("vary " + key, varied[key], prices, args.model)
    all_varied = [r for rs in varied.values() for r in rs]
    cost_varied = line("every variation", all_varied, prices, args.model)
    cost_plain = line("same, without source", plain, prices, args.model)
    print(
        f"showing the source costs ${cost_varied - cost_plain:.4f} per variation "
        f"({cost_varied / cost_plain - 1:+.1%}); a set of 20: ${20 * cost_varied:.2f}, "
        f"${20 * cost_varied * (1 - prices.batch_discount):.2f} through the batch API"
    )
    if refused:
        print("requests the rules refused (seeds): " + ", ".join(f"{k} {n}" for k, n in refused.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
