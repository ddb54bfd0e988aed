"""`python -m lib contrast`: queue failed responses (contrastive turns) for approved conversations.

    python -m lib contrast seed-01                          every assistant turn, the kinds that suit each
    python -m lib contrast seed-01 --turns 3 5 --kinds minimising lecturing --n 2
    python -m lib contrast seed-01 seed-02 --batch --wait   through Message Batches, run here until done

It queues a contrastive job (task 'contrast') that any worker runs (the app, or `python -m lib worker`); with
--wait a worker here runs it until it is done, a line per conversation, and a summary of tokens and cost goes
to stderr. The job shows on the Generate page like any other, the pairs on Review. Exit status 0 when queued
(and, with --wait, every conversation got its responses), 1 when some did not, 2 when nothing could be queued.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from lib.config import Settings
from lib.core.taxonomy import Taxonomy
from lib.generation.contrast_jobs import ContrastAsk, start_contrast_job
from lib.generation.contrast_prompt import MAX_PER_KIND
from lib.store.protocol import Store


def main(argv: Sequence[str] | None = None, prog: str = "python -m lib contrast") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Queue failed responses of named failure kinds for assistant turns of approved conversations.",
    )
    parser.add_argument("conversations", nargs="+", metavar="CONVERSATION_ID", help="approved conversation ids")
    parser.add_argument(
        "--turns", type=int, nargs="+", default=None, help="assistant turns to replace (default: every one)"
    )
    parser.add_argument(
        "--kinds",
        nargs="+",
        default=None,
        help="failure kind ids from taxonomy/failures.yaml (default: the kinds that suit each turn's emotion)",
    )
    parser.add_argument("--n", type=int, default=1, help=f"responses of each kind per turn, 1 to {MAX_PER_KIND}")
    parser.add_argument("--batch", action="store_true", help="through the Message Batches API, at half the price")
    parser.add_argument("--wait", action="store_true", help="run the job here until it is done")
    args = parser.parse_args(argv)

    from lib.config import ConfigError
    from lib.core.taxonomy import TaxonomyError, load_taxonomy
    from lib.generation.jobs import RunnerError
    from lib.store import open_store
    from lib.store.protocol import StoreError

    try:
        settings = Settings.load()
        tax = load_taxonomy()
        store = open_store(settings)
    except (ConfigError, TaxonomyError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mode = "batch" if args.batch else "realtime"
    try:
        ask = ContrastAsk(
            turns=tuple(args.turns) if args.turns else None, kinds=tuple(args.kinds) if args.kinds else None, n=args.n
        )
        job_id, total = start_contrast_job(
            store,
            args.conversations,
            ask,
            tax,
            mode=mode,
            model=settings.model,
            created_by="python -m lib contrast",
            requested_from="cli",
        )
        print(f"job #{job_id}: contrastive turns for {total} conversation{'s' if total != 1 else ''} ({mode})")
        if not args.wait:
            print("a worker runs it: the app, or python -m lib worker", file=sys.stderr)
            return 0
        return run_here(store, settings, job_id, tax)
    except (RunnerError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def run_here(store: Store, settings: Settings, job_id: int, tax: Taxonomy) -> int:
    """Run the job with a worker of this process until it is done; returns the exit status."""
    from lib.generation.llm import LLMError, LLMSettings
    from lib.generation.worker import Event, Worker
    from lib.generation.worker_config import WorkerConfig, worker_name

    try:
        llm_settings = LLMSettings.from_settings(settings)
    except (LLMError, ValueError) as exc:
        print(f"error: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 2

    def show(ev: Event) -> None:
        what = ev.note if ev.outcome == "ok" else f"{ev.outcome}: {ev.reason}"
        print(f"{what}  ${ev.cost_usd:.4f}", flush=True)

    config = WorkerConfig(name=worker_name("contrast"), job_id=job_id, until_idle=True, exit_on_fatal=True)
    worker = Worker(store, llm_settings, config, tax=tax, seeds=[], on_event=show)
    asyncio.run(worker.run())
    job = store.get_job(job_id) or {}
    done, failed = int(job.get("succeeded_items") or 0), int(job.get("failed_items") or 0)
    print(
        f"{done} written, {failed} failed; {int(job.get('input_tokens') or 0)} input + "
        f"{int(job.get('output_tokens') or 0)} output tokens, ${float(job.get('cost_usd') or 0):.4f} "
        f"({llm_settings.model})",
        file=sys.stderr,
    )
    if worker.fatal:
        print(f"error: {worker.fatal}", file=sys.stderr)
    return 1 if failed or worker.fatal or done < int(job.get("total_items") or 0) else 0


if __name__ == "__main__":
    raise SystemExit(main())
