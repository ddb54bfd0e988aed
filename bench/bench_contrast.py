"""Requests, tokens and cost per contrastive turn (a failed response written in place of an assistant turn), live
and through Message Batches.

Writes failed responses for the seed conversations (seeds/*.json) with the real contrastive code against the
fake Anthropic server, and prices what it reports at the real price table (config/prices.yaml) for the model.
The fake counts about 4 characters a token for prompts, so the input side (the cached system prompt with the
voice and every failure kind, and the conversation up to the last turn replaced) is realistic. Its failed
replies are short (two or three sentences); --extra-output-tokens adds output tokens to every answer.

Three ways of asking: every assistant turn of a conversation in one request with the kinds that suit each
(what Review's "Every assistant turn" and `python -m lib contrast <id>` do), one turn per request, and the
first through the Message Batches API.

    python bench/bench_contrast.py [--model claude-sonnet-5-5] [--extra-output-tokens 0] [--n 1]
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
from lib.core.models import Conversation  # noqa: E402
from lib.core.seeds import load_seeds  # noqa: E402
from lib.core.taxonomy import Taxonomy, load_taxonomy  # noqa: E402
from lib.generation.contrast import (  # noqa: E402
    ContrastResult,
    acontrast_conversation,
    contrast_batch_params,
    contrast_batch_response,
)
from lib.generation.contrast_prompt import Asks, plan_asks  # noqa: E402
from lib.generation.llm import DEFAULT_MODEL, LLMClient, LLMSettings  # noqa: E402
from tests.fake_anthropic import FakeAnthropic  # noqa: E402


def report(label: str, results: list[ContrastResult], seconds: float) -> None:
    written = [r for r in results if r.ok]
    responses = sum(len(r.responses) for r in written)
    turns = sum(len({x.turn for x in r.responses}) for r in written)
    usage = [r.usage for r in results]
    cost = sum(r.cost_usd for r in results)
    inp = sum(u.input_tokens for u in usage)
    write = sum(u.cache_creation_input_tokens for u in usage)
    read = sum(u.cache_read_input_tokens for u in usage)
    out = sum(u.output_tokens for u in usage)
    print(f"{label}: {len(results)} runs, {sum(len(r.attempts) for r in results)} requests, "
          f"{len(written)} kept, {responses} failed responses for {turns} assistant turns, {seconds:.2f} s")
    print(f"  per failed response: input {inp / responses:,.0f}, cache write {write / responses:,.0f}, "
          f"cache read {read / responses:,.0f}, output {out / responses:,.0f} tokens; ${cost / responses:.5f}")
    print(f"  per assistant turn contrasted: ${cost / turns:.5f}; per run: median "
          f"${statistics.median(r.cost_usd for r in results):.4f}; total ${cost:.4f}; "
          f"1,000 failed responses ~ ${1000 * cost / responses:,.2f}")


async def live(convs: list[Conversation], asks: list[Asks], *, llm: LLMClient, tax: Taxonomy, n: int) -> list[ContrastResult]:
    return [await acontrast_conversation(c, a, llm=llm, tax=tax, n=n) for c, a in zip(convs, asks, strict=True)]


async def run(args: argparse.Namespace) -> None:
    tax = load_taxonomy()
    seeds = load_seeds().conversations
    prices, price = model_prices(args.model)
    print(f"{price_line(args.model, prices, price)}; {args.n} response(s) per kind; "
          f"extra output tokens per answer {args.extra_output_tokens}")
    whole = [plan_asks(c, tax) for c in seeds]
    kinds = [sum(len(k) for k in a.values()) for a in whole]
    print(f"{len(seeds)} seed conversations, {sum(len(a) for a in whole)} assistant turns, "
          f"{statistics.mean(kinds):.1f} suited kinds per conversation on average")
    with FakeAnthropic(tax, extra_output_tokens=args.extra_output_tokens) as fake:
        settings = LLMSettings(api_key=fake.api_key, base_url=fake.url, model=args.model, prices=prices)
        async with LLMClient(settings) as llm:
            t0 = time.perf_counter()
            results = await live(seeds, whole, llm=llm, tax=tax, n=args.n)
            report("live, every assistant turn of a conversation in one request", results, time.perf_counter() - t0)
            print(f"  the cached system prompt: {results[0].usage.cache_creation_input_tokens:,} tokens")

            singles = [(c, {t: k}) for c, a in zip(seeds, whole, strict=True) for t, k in a.items()]
            t0 = time.perf_counter()
            results = await live([c for c, _ in singles], [a for _, a in singles], llm=llm, tax=tax, n=args.n)
            report("live, one assistant turn per request", results, time.perf_counter() - t0)

            fake.clear_cache()
            t0 = time.perf_counter()
            requests = [
                {"custom_id": f"c-{i}", "params": contrast_batch_params(c, a, llm=llm, tax=tax, n=args.n)}
                for i, (c, a) in enumerate(zip(seeds, whole, strict=True))
            ]
            batched = []
            for entry in await batch_entries(fake, requests):
                i = int(entry.custom_id.removeprefix("c-"))
                initial = contrast_batch_response(entry.result.message.to_dict(), llm=llm)
                batched.append(await acontrast_conversation(seeds[i], whole[i], llm=llm, tax=tax, n=args.n, initial=initial))
            report("Message Batches (half price), every assistant turn per request", batched, time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--extra-output-tokens", type=int, default=0)
    parser.add_argument("--n", type=int, default=1, help="failed responses of each kind per turn")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
