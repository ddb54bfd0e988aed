"""Generation throughput against rate limits: the runner (lib.generation.worker) in every regime.

    python bench/bench_runner.py [--n 100] [--scale 5] [--workers 3] [--concurrency 8] [--burst 60]
                                 [--only NAME ...] [--output-tokens 0]

A fake Anthropic server (tests/fake_anthropic.py) answers with a simulated latency (gamma
distributed, 8 s mean) and enforces rate limits the way Anthropic describes its limiter: token
buckets refilled continuously, 50 requests a minute and 40,000 output tokens a minute, a 429 with
retry-after when a request does not fit. Each scenario generates --n conversations of the default
plan into an embedded PostgreSQL through the real engine (prompt, structured output, validation,
store), on a fresh fake (full buckets, empty prompt cache). The scenarios share one database, so
after the first one max_tokens starts from the output sizes measured before, as for a user's
second job:

  charged-at-end   one worker; output tokens charged when the answer is written
  reserved         one worker; the fake charges max_tokens at admission and gives back the unused
                   part with the answer (an API that reserves output room)
  reserved-N       --workers workers on the same database and account, each with its own store
                   connection and event loop, output reserved
  kill-9           output reserved; a worker in a process of its own (`python -m lib worker`) is
                   killed with SIGKILL once it has items in flight, while another worker runs; its
                   orphaned items must be claimed again without waiting for their 120 s lease
  sequential       a plain loop: one agenerate_one after the other, no limiter

--scale divides every time by that factor (latency / scale, limits x scale) so the bench takes
minutes, not an hour; wall times are printed scaled back to real time. The recovery time of
kill-9 is printed as measured (the database sees the connection end at once) and scaled back.

Figures per scenario: delivered (items succeeded of --n), the ratio to the best possible wall time
(spend the full buckets, then the refill, then wait for the last answer; the buckets start full),
the share of requests answered 429, duplicates (a scenario stored twice by the job), prompt cache
writes against the distinct prefixes, and the max_tokens the runner sent. Prints figures; asserts
nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lib.config import Settings  # noqa: E402
from lib.core.planner import plan  # noqa: E402
from lib.core.seeds import load_seeds  # noqa: E402
from lib.core.taxonomy import load_taxonomy  # noqa: E402
from lib.generation.engine import agenerate_one  # noqa: E402
from lib.generation.llm import LLMClient, LLMSettings  # noqa: E402
from lib.generation.worker import Worker  # noqa: E402
from lib.generation.worker_config import WorkerConfig  # noqa: E402
from lib.store.boot import open_store  # noqa: E402
from lib.store.embedded import start_embedded, stop_embedded  # noqa: E402
from lib.store.postgres import PostgresStore  # noqa: E402
from tests.fake_anthropic import FakeAnthropic, FakeLimits  # noqa: E402

RPM, OTPM, LATENCY_S = 50, 40_000, 8.0
SCENARIOS = ("charged-at-end", "reserved", "reserved-N", "kill-9", "sequential")


@dataclass
class Run:
    elapsed: float  # seconds, as measured
    delivered: int
    duplicates: int
    recovery: tuple[float, float] | None = None  # first and last orphan claimed again, seconds after the kill
    orphans: int = 0
    note: str = ""


def fake_server(tax: Any, args: argparse.Namespace, seed: int, *, reserve: bool) -> FakeAnthropic:
    fake = FakeAnthropic(tax).start()
    rng = random.Random(seed)
    fake.latency = lambda: rng.gammavariate(4.0, LATENCY_S / 4.0) / args.scale  # mean 8 s, sd 4 s
    fake.limits = FakeLimits(rpm=RPM * args.scale, otpm=OTPM * args.scale, burst_s=args.burst / args.scale,
                             integer_retry_after=False, reserve_output=reserve)
    return fake


def calibrate(fake: FakeAnthropic, target: int, sample: dict[str, Any]) -> None:
    """Pad the fake's answers to about `target` output tokens."""
    if target <= 0:
        return
    status, _, body = fake.answer({"model": "x", "messages": [{"role": "user", "content": (
        f"<persona>{sample['persona']}</persona><emotional_arc>{sample['emotional_arc']}</emotional_arc>"
        f"<topic>{sample['topic']}</topic><target_turns>12</target_turns>")}]}, "valid")
    fake.extra_output_tokens = max(0, target - int(body["usage"]["output_tokens"]))


def llm_settings(fake: FakeAnthropic, args: argparse.Namespace) -> LLMSettings:
    return LLMSettings(api_key=fake.api_key, base_url=fake.url, retry_after_cap_s=60 / args.scale,
                       backoff_base_s=1 / args.scale, backoff_max_s=30 / args.scale, max_retries=8)


def worker_config(name: str, job: int, args: argparse.Namespace) -> WorkerConfig:
    return WorkerConfig(name=name, concurrency=args.concurrency, poll_s=0.02, lease_s=120, heartbeat_s=2,
                        requeue_every_s=0.5, batch_poll_s=3600, until_idle=True, job_id=job,
                        sizes_every_s=60 / args.scale)


def job_outcome(store: PostgresStore, job: int) -> tuple[int, int]:
    """(items succeeded, scenarios of the job stored more than once by it)."""
    with store.connection("read the job") as conn:
        done = conn.execute("select count(*) as n from public.generation_job_items where job_id = %(j)s "
                            "and status = 'succeeded'", {"j": job}).fetchone()
        twice = conn.execute(
            "select count(*) as n from (select c.scenario_id from public.conversations c "
            "join public.generation_job_items i on i.scenario_id = c.scenario_id and i.job_id = %(j)s "
            "group by c.scenario_id having count(*) > 1) d", {"j": job}).fetchone()
    return int(done["n"] if done else 0), int(twice["n"] if twice else 0)


def run_workers(dsn: str, store: PostgresStore, ids: list[int], fake: FakeAnthropic, tax: Any, seeds: list[Any],
                args: argparse.Namespace, n_workers: int) -> Run:
    job = store.create_job(ids)
    stores = [store] + [PostgresStore(dsn) for _ in range(n_workers - 1)]
    workers = [Worker(s, llm_settings(fake, args), worker_config(f"bench-{k}", job, args), tax=tax, seeds=seeds)
               for k, s in enumerate(stores)]
    threads = [threading.Thread(target=asyncio.run, args=(w.run(),)) for w in workers]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    for s in stores[1:]:
        s.close()
    delivered, duplicates = job_outcome(store, job)
    return Run(elapsed, delivered, duplicates, note=limiter_note(workers))


def limiter_note(workers: list[Worker]) -> str:
    lims = [w.limiter.snapshot() for w in workers]
    sizes = sorted({v for w in workers for v in w.sizer.snapshot().values()})
    return (f"reserves output: {lims[0]['reserves_output']}; max_tokens sized to {sizes}; "
            f"requests that waited for a prefix's first answer: {sum(lim['cache_waits'] for lim in lims)}")


def run_kill(dsn: str, store: PostgresStore, ids: list[int], fake: FakeAnthropic, tax: Any, seeds: list[Any],
             args: argparse.Namespace) -> Run:
    job = store.create_job(ids)
    log = Path(tempfile.mkdtemp(prefix="brightrun-bench-victim-")) / "victim.log"
    env = {**os.environ, "DATABASE_URL": dsn, "ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.url,
           "BRIGHTRUN_CONCURRENCY": str(args.concurrency)}
    victim = subprocess.Popen([sys.executable, "-m", "lib", "worker", "--job", str(job), "--name", "victim",
                               "--until-idle", "--quiet", "--poll", "0.05"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(log, "wb"))
    survivor = Worker(store, llm_settings(fake, args), worker_config("survivor", job, args), tax=tax, seeds=seeds)
    thread = threading.Thread(target=asyncio.run, args=(survivor.run(),))
    started = time.perf_counter()
    thread.start()
    orphans: list[int] = []
    killed_at = 0.0
    try:
        while time.perf_counter() - started < 600 / args.scale:  # until the victim holds a few items
            held = claimed_by(store, job, "victim")
            if len(held) >= min(6, args.concurrency) or victim.poll() is not None:
                break
            time.sleep(0.02)
        if victim.poll() is None:
            orphans = claimed_by(store, job, "victim")
            os.kill(victim.pid, signal.SIGKILL)
            killed_at = time.perf_counter()
        victim.wait()
        restarted: dict[int, float] = {}
        while len(restarted) < len(orphans) and time.perf_counter() - killed_at < 300:
            for item in set(orphans) - set(restarted) - set(claimed_by(store, job, "victim")):
                restarted[item] = time.perf_counter() - killed_at
            time.sleep(0.01)
    finally:
        if victim.poll() is None:
            victim.kill()
        thread.join()
    elapsed = time.perf_counter() - started
    if not orphans:
        print("the worker to kill held no item; its log ends:\n" + log.read_text()[-2000:])
    delivered, duplicates = job_outcome(store, job)
    recovery = (min(restarted.values()), max(restarted.values())) if restarted else None
    return Run(elapsed, delivered, duplicates, recovery=recovery, orphans=len(orphans), note=limiter_note([survivor]))


def claimed_by(store: PostgresStore, job: int, worker: str) -> list[int]:
    with store.connection("read the leases") as conn:
        rows = conn.execute("select id from public.generation_job_items where job_id = %(j)s and status = 'claimed' "
                            "and lease_owner = %(w)s order by id", {"j": job, "w": worker}).fetchall()
    return [int(r["id"]) for r in rows]


async def sequential(store: Any, ids: list[int], settings: LLMSettings, tax: Any, seeds: list[Any]) -> int:
    ok = 0
    async with LLMClient(settings) as llm:
        for sid in ids:
            result = await agenerate_one(store, sid, llm=llm, tax=tax, seeds=seeds, settings=settings)
            ok += int(result.ok)
    return ok


def report(name: str, run: Run, fake: FakeAnthropic, args: argparse.Namespace) -> None:
    wall_min = run.elapsed * args.scale / 60
    messages = fake.message_requests()
    answered = len(messages) - fake.rate_limited
    burst = args.burst / 60.0
    best_min = max((fake.charged_output - OTPM * burst) / OTPM, (answered - RPM * burst) / RPM, 0.0) + LATENCY_S / 60
    prefixes = {str(r.body.get("system")) for r in messages if isinstance(r.body, dict)}
    sent = [int(r.body.get("max_tokens") or 0) for r in messages if isinstance(r.body, dict)]
    print(f"{name}:")
    print(f"  delivered:                 {run.delivered} of {args.n}   duplicates: {run.duplicates}")
    print(f"  wall time:                 {wall_min:6.2f} min; best possible {best_min:.2f} min "
          f"(ratio {best_min / wall_min:.2f})")
    print(f"  requests:                  {len(messages)}, of them 429: {fake.rate_limited} "
          f"({100 * fake.rate_limited / max(len(messages), 1):.1f}%)")
    print(f"  output tokens:             {fake.charged_output / max(run.delivered, 1):,.0f} a conversation; "
          f"max_tokens sent: median {statistics.median(sent) if sent else 0:,.0f}, max {max(sent, default=0):,}")
    print(f"  prompt cache writes:       {fake.cache_writes} for {len(prefixes)} distinct prefixes")
    if run.recovery is not None or run.orphans:
        first, last = run.recovery or (float("nan"), float("nan"))
        print(f"  orphans of the killed one: {run.orphans}; claimed again {first:.2f} s (first) to {last:.2f} s "
              f"(last) after the kill as measured, {first * args.scale:.1f} to {last * args.scale:.1f} s at "
              "real-time rates (the last ones wait for the rate budget like any request)")
    if run.note:
        print(f"  runner:                    {run.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="conversations per scenario (default 100)")
    parser.add_argument("--scale", type=float, default=5.0, help="time compression factor (default 5)")
    parser.add_argument("--workers", type=int, default=3, help="workers of reserved-N (default 3)")
    parser.add_argument("--output-tokens", type=int, default=0,
                        help="pad answers to about this many output tokens (default 0: the fake's own size)")
    parser.add_argument("--concurrency", type=int, default=8, help="each worker's bound (default 8)")
    parser.add_argument("--burst", type=float, default=60.0,
                        help="the rate-limit buckets hold this many seconds of the limit (default 60)")
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, default=None, help="run these scenarios only")
    args = parser.parse_args()
    chosen = args.only or list(SCENARIOS)

    tax = load_taxonomy()
    seeds = load_seeds().conversations
    folder = Path(tempfile.mkdtemp(prefix="brightrun-bench-runner-"))
    server = start_embedded(folder, keep_running=False)
    try:
        store = open_store(Settings(database_url=server.dsn), default_plan_n=0)
        assert isinstance(store, PostgresStore)
        rows = [s.as_dict() for s in plan(tax, args.n * len(chosen), seed=7).scenarios]
        ids = store.add_scenarios(rows, plan_batch="bench")
        print(f"{args.n} conversations a scenario; latency gamma-distributed, mean {LATENCY_S:.0f} s; limits {RPM} "
              f"requests/min and {OTPM:,} output tokens/min (buckets of {args.burst:.0f} s); time scale "
              f"1/{args.scale:g}, wall times in real time\n")
        for k, name in enumerate(chosen):
            batch = ids[k * args.n: (k + 1) * args.n]
            fake = fake_server(tax, args, seed=k + 1, reserve=name != "charged-at-end")
            calibrate(fake, args.output_tokens, rows[0])
            try:
                if name == "sequential":
                    started = time.perf_counter()
                    ok = asyncio.run(sequential(store, batch, llm_settings(fake, args), tax, seeds))
                    run = Run(time.perf_counter() - started, ok, 0)
                elif name == "kill-9":
                    run = run_kill(server.dsn, store, batch, fake, tax, seeds, args)
                else:
                    n_workers = args.workers if name == "reserved-N" else 1
                    run = run_workers(server.dsn, store, batch, fake, tax, seeds, args, n_workers)
                    name = f"reserved, {n_workers} workers" if name == "reserved-N" else name
                report(name, run, fake, args)
            finally:
                fake.stop()
            print()
        store.close()
    finally:
        stop_embedded(server)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
