"""Tokens and cost per generated conversation, with and without the cached system prompt.

Runs the default plan (90 scenarios: 40 template, 35 scenario, 15 edge case) through the real
generation engine against the fake Anthropic server, and prices what it reports at the real price
table (config/prices.yaml). The fake counts about 4 characters a token for prompts; its answers are
padded, turn by turn, to the size of the seed conversations written in the output format (about 3.6
characters a token of JSON), so the output side matches what a real conversation of that length
costs. The seconds per conversation assume 60 output tokens/s. Thinking tokens are not included
(add them with --thinking-tokens).

    python bench/bench_generation.py [--n 90] [--model claude-sonnet-5-5] [--thinking-tokens 0]
Prints figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._model import model_prices  # noqa: E402
from lib.generation.engine import GenerationResult, generate_conversation  # noqa: E402
from lib.generation.llm import DEFAULT_MODEL, LLMClient, LLMSettings  # noqa: E402
from lib.core.models import ScenarioDimensions, Usage  # noqa: E402
from lib.core.planner import plan  # noqa: E402
from lib.generation.output_format import GeneratedConversation  # noqa: E402
from lib.generation.prompting import build_prompt  # noqa: E402
from lib.core.seeds import load_seeds  # noqa: E402
from lib.core.taxonomy import load_taxonomy  # noqa: E402
from tests.fake_anthropic import FakeAnthropic  # noqa: E402


CHARS_PER_TOKEN = 3.6  # of JSON output, as the fake counts it
OUTPUT_TOKENS_PER_S = 60.0  # a typical output speed, for the seconds per conversation


def _tokens(value: object) -> float:
    return len(json.dumps(value)) / CHARS_PER_TOKEN


def seed_tokens_per_turn(seeds: list) -> dict[str, float]:
    """Output tokens per turn of the seeds written in the output format (sentences numbered), split into
    the turns' text and their labels, and what the same turns cost when every sentence is quoted again."""
    turns = sum(len(s.turns) for s in seeds)
    answer = sum(_tokens(GeneratedConversation.from_conversation(s).model_dump(mode="json")) for s in seeds)
    text = sum(_tokens(t.text) for s in seeds for t in s.turns)
    quoted = sum(_tokens({"turns": [t.model_dump(mode="json") for t in s.current_turns()]}) for s in seeds)
    return {"answer": answer / turns, "text": text / turns, "quoted": quoted / turns}


def total_usage(results: list[GenerationResult]) -> Usage:
    """The tokens of every result's requests, added up."""
    usage = Usage()
    for r in results:
        u = r.usage
        usage.input_tokens += u.input_tokens
        usage.output_tokens += u.output_tokens
        usage.cache_creation_input_tokens += u.cache_creation_input_tokens
        usage.cache_read_input_tokens += u.cache_read_input_tokens
    return usage


async def run(args: argparse.Namespace) -> None:
    tax = load_taxonomy()
    seeds = load_seeds().conversations
    scenarios = [ScenarioDimensions(**p.as_dict()) for p in plan(tax, args.n, seed=0).scenarios]
    prices, price = model_prices(args.model)

    with FakeAnthropic(tax) as fake:
        settings = LLMSettings(api_key=fake.api_key, base_url=fake.url, model=args.model, prices=prices)
        async with LLMClient(settings) as llm:
            # calibrate the fake's answer size to the seeds' per turn (the fake's own turns are short), so
            # each answer costs what a real one of its length does
            probe = await generate_conversation(scenarios[0], llm=llm, tax=tax, seeds=seeds)
            fake_turns = len(probe.conversation.turns) if probe.conversation else 10
            per_turn = seed_tokens_per_turn(seeds)
            fake.extra_output_tokens_per_turn = max(0.0, per_turn["answer"] - probe.usage.output_tokens / fake_turns)
            fake.extra_output_tokens = args.thinking_tokens
            fake.clear_cache()
            t0 = time.perf_counter()
            results: list[GenerationResult] = []
            for sc in scenarios:
                results.append(await generate_conversation(sc, llm=llm, tax=tax, seeds=seeds))
            elapsed = time.perf_counter() - t0

    ok = [r for r in results if r.ok]
    n = len(results)
    usage = total_usage(results)
    # Without caching, the system prompt is plain input on every request.
    uncached = Usage(
        input_tokens=usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens,
        output_tokens=usage.output_tokens,
    )
    cost_cached = prices.cost(usage, args.model) or 0.0
    cost_plain = prices.cost(uncached, args.model) or 0.0
    systems = {build_prompt(sc, tax, seeds).system_sha256 for sc in scenarios}
    sys_tokens = [len(build_prompt(sc, tax, seeds).system) / 4 for sc in scenarios[:10]]

    print(
        f"model {args.model}: input ${price.input}/MTok, output ${price.output}/MTok, "
        f"cache write ${price.cache_write_5m}/MTok, cache read ${price.cache_read}/MTok, "
        f"batch discount {prices.batch_discount:.0%}  ({prices.source})"
    )
    print(
        f"conversations: {n} planned ({', '.join(f'{t}: {sum(s.tier == t for s in scenarios)}' for t in ('template', 'scenario', 'edge_case'))}), "
        f"{len(ok)} valid, {sum(len(r.attempts) for r in results)} requests, {elapsed:.1f} s on the fake server"
    )
    print(
        f"distinct system prompts (cache entries): {len(systems)}; system prompt ~{statistics.mean(sys_tokens):,.0f} tokens"
    )
    turns = statistics.mean(len(r.conversation.turns) for r in ok) if ok else 0.0
    print(
        f"turns per conversation (mean): {turns:.1f}; output tokens per turn of the seeds in the output format: "
        f"{per_turn['answer']:.0f} ({per_turn['text']:.0f} text, {per_turn['answer'] - per_turn['text']:.0f} labels; "
        f"{per_turn['quoted']:.0f} when every sentence is quoted again)"
    )
    print("per conversation (mean):")
    print(f"  input tokens, not cached      {usage.input_tokens / n:10,.0f}")
    print(f"  cache write tokens            {usage.cache_creation_input_tokens / n:10,.0f}")
    print(f"  cache read tokens             {usage.cache_read_input_tokens / n:10,.0f}")
    print(
        f"  output tokens                 {usage.output_tokens / n:10,.0f}"
        + (f"  (incl. {args.thinking_tokens:,} thinking)" if args.thinking_tokens else "")
    )
    print(
        f"  seconds at {OUTPUT_TOKENS_PER_S:.0f} output tokens/s    {usage.output_tokens / n / OUTPUT_TOKENS_PER_S:10.1f}"
    )
    print(f"  cost with cached system       ${cost_cached / n:9.4f}")
    print(f"  cost without caching          ${cost_plain / n:9.4f}")
    print(f"  saving from caching           {1 - cost_cached / cost_plain:10.1%}")
    print(f"  cost with caching, batch API  ${cost_cached * (1 - prices.batch_discount) / n:9.4f}")
    print(
        f"the plan of {n}: ${cost_cached:.2f} with caching, ${cost_plain:.2f} without, "
        f"${cost_cached * (1 - prices.batch_discount):.2f} through the batch API"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=90)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--thinking-tokens", type=int, default=0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
