"""The command line of the generation worker (lib.generation.worker):

    python -m lib worker [--concurrency 8] [--job ID] [--until-idle] [--name NAME]

It runs a worker against the app's database until Ctrl-C / SIGTERM (the first lets the items in
flight finish for --drain seconds, the second cancels them), or with --until-idle until no job has
work left. It prints one line per item finished, and exits 1 when an error every item would hit
(an invalid key, an unknown model) stopped it, 2 when it could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from lib.generation.llm import LLMSettings
from lib.generation.rating import QualityPolicy
from lib.generation.worker import Event, Worker
from lib.generation.worker_config import WorkerConfig, worker_name
from lib.store.protocol import StoreError


def _print_event(ev: Event) -> None:
    reason = f": {ev.reason}" if ev.reason else (f": {ev.note}" if ev.note else "")
    cost = f" ${ev.cost_usd:.4f}" if ev.cost_usd else ""
    print(
        f"job {ev.job_id} item {ev.item_id} scenario #{ev.scenario_id}: {ev.outcome} in {ev.seconds:.1f} s"
        f"{cost}{reason}",
        flush=True,
    )


def main(argv: Sequence[str] | None = None, prog: str = "python -m lib worker") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Run a generation worker against the app's database (DATABASE_URL, else the embedded one): it claims "
            "queued job items and generates them with Claude. Several may run at once, on any machines."
        ),
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, help="items at once (default: BRIGHTRUN_CONCURRENCY or 8)"
    )
    parser.add_argument("--job", type=int, default=None, help="work on this job only")
    parser.add_argument("--until-idle", action="store_true", help="exit when no job has work left")
    parser.add_argument("--name", default=None, help="the worker's name in the leases (default: host, pid, tag)")
    parser.add_argument("--lease", type=int, default=120, help="lease seconds of a claimed item (default 120)")
    parser.add_argument("--heartbeat", type=float, default=None, help="seconds between heartbeats (default lease/6)")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between looks for new work (default 1)")
    parser.add_argument(
        "--batch-poll",
        type=float,
        default=30.0,
        help="seconds between polls of a Message Batch in progress (default 30)",
    )
    parser.add_argument(
        "--batch-lease",
        type=int,
        default=90,
        help="lease seconds of a batch job; another worker takes it over after that (default 90)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=30.0,
        help="on Ctrl-C / SIGTERM, let items in flight finish for this many seconds (default 30)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only errors")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from lib.config import ConfigError, Settings
    from lib.store import open_store

    try:
        settings = Settings.load()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not settings.has_api_key:
        print(
            "error: no Anthropic API key: set ANTHROPIC_API_KEY (or put it in .streamlit/secrets.toml)", file=sys.stderr
        )
        return 2
    try:
        store = open_store(settings)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    concurrency = args.concurrency or settings.concurrency
    if concurrency < 1:
        print("error: --concurrency must be at least 1", file=sys.stderr)
        return 2
    cfg = WorkerConfig(
        name=args.name or worker_name(),
        concurrency=concurrency,
        lease_s=max(args.lease, 2),
        heartbeat_s=args.heartbeat or max(args.lease / 6, 0.5),
        poll_s=args.poll,
        batch_poll_s=args.batch_poll,
        batch_lease_s=max(args.batch_lease, 2),
        job_id=args.job,
        until_idle=args.until_idle,
        drain_s=args.drain,
        requeue_every_s=max(args.lease / 4, 1.0),
        exit_on_fatal=True,
        quality=QualityPolicy.from_settings(settings),
    )
    try:
        llm_settings = LLMSettings.from_settings(settings)
    except ValueError as exc:  # the price table (PriceError)
        store.close()
        print(f"error: the worker did not start: {exc}", file=sys.stderr)
        return 2
    worker = Worker(store, llm_settings, cfg, on_event=None if args.quiet else _print_event)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals == 1:
                print(
                    f"stopping: items in flight get {cfg.drain_s:.0f} s to finish (again to cancel them now)",
                    file=sys.stderr,
                    flush=True,
                )
                worker.stop()
            else:
                worker.stop(drain_s=0)
                for task in asyncio.all_tasks(loop):
                    if task.get_name().startswith("item-"):
                        task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await worker.run()

    print(
        f"worker {cfg.name}: concurrency {cfg.concurrency}, model {llm_settings.model}"
        + (", rating what it generates" if cfg.quality.judge else "")
        + (f", job {cfg.job_id} only" if cfg.job_id else "")
        + (", until idle" if cfg.until_idle else ""),
        flush=True,
    )
    try:
        asyncio.run(run())
    finally:
        store.close()
    if worker.fatal:
        print(f"error: {worker.fatal}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
