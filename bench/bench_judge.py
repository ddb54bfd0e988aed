"""Requests, tokens and cost per conversation for the quality judge, live and through Message Batches.

Judges the seed conversations (seeds/*.json) with the real judge code against the fake Anthropic
server and prices what it reports at the real price table (config/prices.yaml) for the default model.
The fake counts about 4 characters a token for prompts, so the input side (the cached system prompt
with the rubric and every label definition, and the conversation with its labels) is realistic. Its
verdicts are terse (one sentence per reason); a real judge writes more, so --extra-output-tokens adds
output tokens to every answer (1000 is about seven reasons of 80 words and a few label findings).

    python bench/bench_judge.py [--model claude-sonnet-5-5] [--extra-output-tokens 0] [--rounds 1]
Prints figures only.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._model import batch_entries, model_prices, price_line  # noqa: E402
from lib.core.models import Usage  # noqa: E402
from lib.core.rubric import default_rubric  # noqa: E402
from lib.core.seeds import load_seeds  # noqa: E402
from lib.core.taxonomy import load_taxonomy  # noqa: E402
from lib.generation.judge import (  # noqa: E402
    JudgeResult,
    ajudge_conversation,
    ajudge_many,
    judge_batch_request,
    judge_batch_response,
)
from lib.generation.llm import DEFAULT_MODEL, LLMClient, LLMSettings  # noqa: E402
from tests.fake_anthropic import FakeAnthropic  # noqa: E402


def report(label: str, results: list[JudgeResult], seconds: float) -> None:
    n = len(results)
    usage = [r.usage for r in results]
    total = Usage(input_tokens=sum(u.input_tokens for u in usage), output_tokens=sum(u.output_tokens for u in usage),
                  cache_creation_input_tokens=sum(u.cache_creation_input_tokens for u in usage),
                  cache_read_input_tokens=sum(u.cache_read_input_tokens for u in usage))
    cost = sum(r.cost_usd for r in results)
    print(f"{label}: {n} conversations, {sum(len(r.attempts) for r in results)} requests, "
          f"{sum(r.ok for r in results)} verdicts, {sum(r.flagged for r in results)} flagged, {seconds:.2f} s")
    print(f"  per conversation: input {total.input_tokens / n:,.0f}, cache write {total.cache_creation_input_tokens / n:,.0f}, "
          f"cache read {total.cache_read_input_tokens / n:,.0f}, output {total.output_tokens / n:,.0f} tokens; "
          f"${cost / n:.4f} (first ${results[0].cost_usd:.4f}, "
          f"then median ${statistics.median(r.cost_usd for r in results[1:]):.4f})")
    # one cache write, then cache reads (while the cache is kept warm)
    print(f"  total ${cost:.4f}; 1,000 conversations ~ "
          f"${results[0].cost_usd + 999 * statistics.median(r.cost_usd for r in results[1:]):,.2f}")


async def run(args: argparse.Namespace) -> None:
    tax = load_taxonomy()
    rubric = default_rubric()
    seeds = load_seeds().conversations * args.rounds
    prices, price = model_prices(args.model)
    print(f"{price_line(args.model, prices, price)}; extra output tokens per answer {args.extra_output_tokens}")
    with FakeAnthropic(tax, extra_output_tokens=args.extra_output_tokens) as fake:
        settings = LLMSettings(api_key=fake.api_key, base_url=fake.url, model=args.model, prices=prices)
        async with LLMClient(settings) as llm:
            t0 = time.perf_counter()
            live = await ajudge_many(seeds, llm=llm, tax=tax, rubric=rubric, concurrency=1)
            report("live, one at a time (the first writes the cache)", live, time.perf_counter() - t0)

            fake.clear_cache()
            t0 = time.perf_counter()
            requests = [judge_batch_request(c, llm=llm, tax=tax, rubric=rubric) for c in seeds]
            by_id = {r["custom_id"]: c for r, c in zip(requests, seeds)}
            batched = []
            for entry in await batch_entries(fake, requests[: len(set(by_id))]):
                initial = judge_batch_response(entry.result.message.to_dict(), llm=llm, rubric=rubric)
                batched.append(await ajudge_conversation(by_id[entry.custom_id], llm=llm, tax=tax, rubric=rubric,
                                                         initial=initial))
            report("Message Batches (half price)", batched, time.perf_counter() - t0)
            system_tokens = live[0].usage.cache_creation_input_tokens
            print(f"  the cached system prompt: {system_tokens:,} tokens; the request: "
                  f"{statistics.mean(r.usage.input_tokens for r in live):,.0f} tokens on average")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--extra-output-tokens", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1, help="judge the seeds this many times (live only)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
