"""Generation throughput against rate limits: the runner (lib.generation.worker) versus a plain sequential loop.

    python bench/bench_runner.py [--n 100] [--scale 5] [--output-tokens 0] [--concurrency 8] [--burst 60]

A fake Anthropic server (tests/fake_anthropic.py) answers with a simulated latency (gamma
distributed, 8 s mean) and enforces rate limits the way Anthropic describes its limiter: token
buckets refilled continuously, 50 requests a minute and 40,000 output tokens a minute, a 429 with
retry-after when a request does not fit. Both runs generate --n conversations of the default plan
into an embedded PostgreSQL through the real engine (prompt, structured output, validation, store):
1. the runner: a generation job run by lib.generation.worker.Worker (concurrency --concurrency, adaptive);
2. a plain sequential loop: one agenerate_one after the other, no limiter.

--scale divides every time by that factor (latency / scale, limits x scale) so the bench takes
minutes, not an hour; the figures printed are scaled back to real time. Fixed per-conversation
costs (validation, the database) are not scaled, so a large --scale flatters nothing but slightly
penalizes the sequential loop. --output-tokens pads every answer to about that many output tokens
(0: the fake's own answers, ~3,300 tokens; the seed conversations are ~5,000).

The maximum the limits allow is min(RPM / requests per conversation, OTPM / output tokens per
conversation) conversations a minute, with the requests and tokens measured in the run. The
buckets start full, so a client may beat that rate at first; the best possible wall time (spend
the full buckets, then the refill, then wait for the last answer) is printed too. Prints figures;
asserts nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.config import Settings  # noqa: E402
from lib.generation.engine import agenerate_one  # noqa: E402
from lib.generation.llm import LLMClient, LLMSettings  # noqa: E402
from lib.core.planner import plan  # noqa: E402
from lib.core.seeds import load_seeds  # noqa: E402
from lib.store.boot import open_store  # noqa: E402
from lib.store.embedded import start_embedded, stop_embedded  # noqa: E402
from lib.core.taxonomy import load_taxonomy  # noqa: E402
from lib.generation.worker import Worker, WorkerConfig  # noqa: E402
from tests.fake_anthropic import FakeAnthropic, FakeLimits  # noqa: E402

RPM, OTPM, LATENCY_S = 50, 40_000, 8.0


def fake_server(tax: Any, args: argparse.Namespace, seed: int) -> FakeAnthropic:
    fake = FakeAnthropic(tax).start()
    rng = random.Random(seed)
    fake.latency = lambda: rng.gammavariate(4.0, LATENCY_S / 4.0) / args.scale  # mean 8 s, sd 4 s
    fake.limits = FakeLimits(rpm=RPM * args.scale, otpm=OTPM * args.scale, burst_s=args.burst / args.scale,
                             integer_retry_after=False)
    return fake


def calibrate(fake: FakeAnthropic, target: int, sample: dict[str, Any]) -> None:
    """Pad the fake's answers to about `target` output tokens."""
    if target <= 0:
        return
    status, _, body = fake.answer({"model": "x", "messages": [{"role": "user", "content": (
        f"<persona>{sample['persona']}</persona><emotional_arc>{sample['emotional_arc']}</emotional_arc>"
        f"<topic>{sample['topic']}</topic><target_turns>12</target_turns>")}]}, "valid")
    fake.extra_output_tokens = max(0, target - int(body["usage"]["output_tokens"]))


def measure(fake: FakeAnthropic, started: float, n_ok: int, args: argparse.Namespace) -> dict[str, float]:
    wall = (time.perf_counter() - started) * args.scale
    messages = [r for r in fake.message_requests()]
    return {"wall_s": wall, "ok": n_ok, "requests": len(messages), "throttled": fake.rate_limited}


async def run_worker(store: Any, ids: list[int], llm_settings: LLMSettings, tax: Any, seeds: list[Any],
                     args: argparse.Namespace) -> dict[str, float]:
    job = store.create_job(ids)
    cfg = WorkerConfig(name="bench-runner", concurrency=args.concurrency, poll_s=0.02, lease_s=600, heartbeat_s=30,
                       requeue_every_s=60, batch_poll_s=3600, until_idle=True, job_id=job)
    worker = Worker(store, llm_settings, cfg, tax=tax, seeds=seeds)
    started = time.perf_counter()
    await worker.run()
    elapsed = time.perf_counter() - started
    done = store.get_job(job) or {}
    return {"elapsed": elapsed, "ok": float(done.get("succeeded_items") or 0),
            "output_tokens": float(done.get("output_tokens") or 0), "limiter": worker.limiter.snapshot()}


async def run_sequential(store: Any, ids: list[int], llm_settings: LLMSettings, tax: Any,
                         seeds: list[Any]) -> dict[str, float]:
    ok = out = 0
    started = time.perf_counter()
    async with LLMClient(llm_settings) as llm:
        for sid in ids:
            result = await agenerate_one(store, sid, llm=llm, tax=tax, seeds=seeds, settings=llm_settings)
            ok += int(result.ok)
            out += result.usage.output_tokens
    return {"elapsed": time.perf_counter() - started, "ok": float(ok), "output_tokens": float(out)}


def report(name: str, res: dict[str, Any], fake: FakeAnthropic, args: argparse.Namespace) -> dict[str, float]:
    wall_min = res["elapsed"] * args.scale / 60
    requests = len(fake.message_requests()) - fake.rate_limited
    per_conv_req = requests / max(res["ok"], 1)
    per_conv_out = res["output_tokens"] / max(res["ok"], 1)
    allowed = min(RPM / per_conv_req, OTPM / per_conv_out)
    binding = "requests" if RPM / per_conv_req < OTPM / per_conv_out else "output tokens"
    rate = res["ok"] / wall_min
    print(f"{name}:")
    print(f"  conversations stored:      {res['ok']:.0f} of {args.n}")
    print(f"  wall time:                 {wall_min:6.1f} min  ({res['elapsed']:.1f} s scaled)")
    print(f"  conversations per minute:  {rate:6.2f}")
    print(f"  limits allow:              {allowed:6.2f} a minute ({binding} bind: {per_conv_req:.2f} requests and "
          f"{per_conv_out:,.0f} output tokens a conversation)")
    print(f"  ratio to that maximum:     {rate / allowed:6.2f}")
    # the buckets start full: the best any client can do is spend that, then the refill, then
    # wait for the last answer
    burst = args.burst / 60.0
    best_min = max((res["output_tokens"] - OTPM * burst) / OTPM, (requests - RPM * burst) / RPM, 0.0) + LATENCY_S / 60
    print(f"  best possible wall time:   {best_min:6.1f} min with the buckets full at the start "
          f"(ratio {best_min / wall_min:.2f})")
    print(f"  429 answers:               {fake.rate_limited}")
    if "limiter" in res:
        lim = res["limiter"]
        print(f"  limiter at the end:        window {lim['window']} of {lim['max_concurrency']}, gap "
              f"{lim['gap_s'] * args.scale:.2f} s between requests, utilization {lim['utilization']}")
    return {"rate": rate, "ratio": rate / allowed, "wall_min": wall_min}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="conversations per run (default 100)")
    parser.add_argument("--scale", type=float, default=5.0, help="time compression factor (default 5)")
    parser.add_argument("--output-tokens", type=int, default=0,
                        help="pad answers to about this many output tokens (default 0: the fake's own size)")
    parser.add_argument("--concurrency", type=int, default=8, help="the runner's bound (default 8)")
    parser.add_argument("--burst", type=float, default=60.0,
                        help="the rate-limit buckets hold this many seconds of the limit (default 60)")
    parser.add_argument("--skip-sequential", action="store_true")
    args = parser.parse_args()

    tax = load_taxonomy()
    seeds = load_seeds().conversations
    folder = Path(tempfile.mkdtemp(prefix="brightrun-bench-runner-"))
    server = start_embedded(folder, keep_running=False)
    try:
        store = open_store(Settings(database_url=server.dsn), default_plan_n=0)
        rows = [s.as_dict() for s in plan(tax, args.n * 2, seed=7).scenarios]
        ids = store.add_scenarios(rows, plan_batch="bench")
        print(f"{args.n} conversations a run; latency gamma-distributed, mean {LATENCY_S:.0f} s; limits {RPM} "
              f"requests/min and {OTPM:,} output tokens/min (buckets of {args.burst:.0f} s); time scale 1/{args.scale:g}, "
              "figures in real time\n")

        fake = fake_server(tax, args, seed=1)
        calibrate(fake, args.output_tokens, rows[0])
        try:
            s = LLMSettings(api_key=fake.api_key, base_url=fake.url, retry_after_cap_s=60 / args.scale,
                            backoff_base_s=1 / args.scale, backoff_max_s=30 / args.scale, max_retries=8)
            res = asyncio.run(run_worker(store, ids[: args.n], s, tax, seeds, args))
            runner_fig = report(f"runner (lib.generation.worker, concurrency {args.concurrency}, adaptive)", res, fake, args)
        finally:
            fake.stop()

        if not args.skip_sequential:
            fake = fake_server(tax, args, seed=2)
            calibrate(fake, args.output_tokens, rows[0])
            try:
                s = LLMSettings(api_key=fake.api_key, base_url=fake.url, retry_after_cap_s=60 / args.scale,
                                backoff_base_s=1 / args.scale, backoff_max_s=30 / args.scale, max_retries=8)
                res = asyncio.run(run_sequential(store, ids[args.n: 2 * args.n], s, tax, seeds))
                seq_fig = report("plain sequential loop", res, fake, args)
            finally:
                fake.stop()
            print(f"\nrunner / sequential: {runner_fig['rate'] / seq_fig['rate']:.2f}x the conversations per minute")
        store.close()
    finally:
        stop_embedded(server)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
