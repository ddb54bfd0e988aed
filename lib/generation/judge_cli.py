"""`python -m lib judge`: rate conversations with the quality judge.

    python -m lib judge --from seeds/            every *.json conversation file in the folder
    python -m lib judge a.json b.json            these files
    python -m lib judge [--limit 50] [--batch]   the stored conversations not rated yet

With files: one line per file, its ratings, then ok or FLAGGED with the reasons. Without: a rating job
for the stored conversations no judge has rated under the rubric's version (at most --limit), run by
a worker here until it is done (--batch: through the Message Batches API at half the price), with a
line per conversation as it is rated and saved; the job shows on the Generate page like any other. A
summary of requests, tokens and cost goes to stderr. Exit status 0 when every conversation got a
verdict (flagged or not), 1 when some did not, 2 when nothing could run (no key, bad settings).
The API key and endpoint are the generator's: ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, BRIGHTRUN_MODEL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from lib.config import Settings
from lib.core.models import Conversation
from lib.core.rubric import Rubric, RubricError, default_rubric, load_rubric
from lib.core.seeds import conversation_files, read_conversation
from lib.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from lib.generation.judge import JudgeResult, ajudge_many
from lib.generation.llm import LLMClient, LLMError, LLMSettings


def totals_line(results: Sequence[JudgeResult], model: str) -> str:
    judged = [r for r in results if r.ok]
    usage = [r.usage for r in results]
    return (
        f"{len(judged)} judged, {sum(r.flagged for r in judged)} flagged, {len(results) - len(judged)} without a "
        f"verdict; {sum(len(r.attempts) for r in results)} requests, "
        f"{sum(u.input_tokens for u in usage)} input + {sum(u.cache_creation_input_tokens for u in usage)} "
        f"cache-write + {sum(u.cache_read_input_tokens for u in usage)} cache-read + "
        f"{sum(u.output_tokens for u in usage)} output tokens, ${sum(r.cost_usd for r in results):.4f} ({model})"
    )


async def judge_files(
    paths: Sequence[str | Path],
    *,
    llm: LLMClient,
    tax: Taxonomy,
    rubric: Rubric,
    concurrency: int = 4,
    out: TextIO | None = None,
) -> tuple[int, list[JudgeResult]]:
    """Judge conversation files; print one line per file in the order given. Returns (files that got
    no verdict, the results)."""
    out = out or sys.stdout
    files = conversation_files(paths)
    loaded: list[tuple[Path, Conversation | str]] = []
    for f in files:
        try:
            loaded.append((f, read_conversation(f)))
        except ValueError as exc:
            loaded.append((f, str(exc)))
    convs = [c for _, c in loaded if isinstance(c, Conversation)]
    results = iter(await ajudge_many(convs, llm=llm, tax=tax, rubric=rubric, concurrency=concurrency))
    done: list[JudgeResult] = []
    failed = 0
    for path, conv in loaded:
        if isinstance(conv, str):
            print(f"{path}  error: {conv}", file=out, flush=True)
            failed += 1
            continue
        result = next(results)
        done.append(result)
        failed += not result.ok
        print(f"{path}  {result.summary()}  ${result.cost_usd:.4f}", file=out, flush=True)
    if not files:
        print("no conversation files found in " + ", ".join(map(str, paths)), file=sys.stderr)
    return failed, done


def run_on_database(
    settings: Settings,
    *,
    llm_settings: LLMSettings,
    tax: Taxonomy,
    rubric: Rubric,
    limit: int,
    concurrency: int,
    batch: bool,
    batch_poll_s: float = 30.0,
    out: TextIO | None = None,
) -> int:
    """A rating job for the conversations not rated yet, run here until it is done. Returns the exit status."""
    from lib.generation.jobs import RunnerError, start_judge_job
    from lib.generation.rating import policy_in_force
    from lib.generation.worker import Event, Worker
    from lib.generation.worker_config import WorkerConfig, worker_name
    from lib.store import open_store
    from lib.store.protocol import StoreError

    out = out or sys.stdout
    try:
        store = open_store(settings)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        quality = policy_in_force(settings)
        mode = "batch" if batch else "realtime"
        try:
            job_id, total = start_judge_job(
                store,
                mode=mode,
                limit=limit,
                rubric_version=rubric.version,
                model=llm_settings.model,
                created_by="python -m lib judge",
                requested_from="cli",
                concurrency=concurrency,
                quality=quality,
            )
        except RunnerError:
            print(
                f"every current conversation has a judge rating under rubric {rubric.id} {rubric.version}, or is "
                "queued in a rating job",
                file=sys.stderr,
            )
            return 0
        print(f"job #{job_id}: rating {total} conversation{'s' if total != 1 else ''} ({mode})", file=out, flush=True)
        finished: list[Event] = []

        def show(ev: Event) -> None:
            if ev.outcome in ("ok", "failed"):
                finished.append(ev)
            where = f"[{len(finished)}/{total}]" if ev.outcome in ("ok", "failed") else "[retry]"
            what = ev.note if ev.outcome == "ok" else f"scenario #{ev.scenario_id}  {ev.outcome}: {ev.reason}"
            print(f"{where} {what}  ${ev.cost_usd:.4f}", file=out, flush=True)

        config = WorkerConfig(
            name=worker_name("judge"),
            concurrency=concurrency,
            job_id=job_id,
            until_idle=True,
            exit_on_fatal=True,
            quality=quality,
            batch_poll_s=max(batch_poll_s, 0.05),
        )
        worker = Worker(store, llm_settings, config, tax=tax, seeds=[], rubric=rubric, on_event=show)
        asyncio.run(worker.run())
        job = store.get_job(job_id) or {}
        rated, failed = int(job.get("succeeded_items") or 0), int(job.get("failed_items") or 0)
        left = total - rated - failed
        flagged = sum(1 for ev in finished if ev.note and "FLAGGED" in ev.note)
        again = sum(1 for ev in finished if ev.note and "generated once more" in ev.note)
        print(
            f"{rated} rated, {flagged} flagged, {failed} without a verdict"
            + (f", {left} not done" if left else "")
            + f"; {int(job.get('judge_calls') or 0)} requests, "
            f"{int(job.get('judge_input_tokens') or 0)} input + {int(job.get('judge_output_tokens') or 0)} output "
            f"tokens, ${float(job.get('judge_cost_usd') or 0):.4f} ({llm_settings.model})",
            file=sys.stderr,
        )
        if again:
            print(
                f"{again} rated low are queued to be generated once more; a worker runs them "
                "(the app, or python -m lib worker)",
                file=sys.stderr,
            )
        if worker.fatal:
            print(f"error: {worker.fatal}", file=sys.stderr)
        return 1 if failed or left or worker.fatal else 0
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def main(argv: Sequence[str] | None = None, prog: str = "python -m lib judge") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Rate conversations against the quality rubric (taxonomy/rubric.yaml) with Claude, and check their "
            "labels. With files: print the ratings. Without: rate the stored conversations not rated yet in a rating "
            "job, and save the ratings."
        ),
    )
    parser.add_argument("paths", nargs="*", help="conversation JSON files or folders of them")
    parser.add_argument(
        "--from",
        dest="folders",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of conversation files (e.g. seeds/); may be repeated",
    )
    parser.add_argument("--limit", type=int, default=50, help="stored conversations to rate at most (default 50)")
    parser.add_argument(
        "--batch",
        action="store_true",
        help="stored conversations: through the Message Batches API, at half the price (results "
        "within 24 h, usually far sooner)",
    )
    parser.add_argument(
        "--batch-poll",
        type=float,
        default=30.0,
        help="seconds between polls of a Message Batch in progress (default 30)",
    )
    parser.add_argument("--model", default=None, help="the judge's model (default: BRIGHTRUN_MODEL or the generator's)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests at once (default 4)")
    parser.add_argument("--taxonomy", default=None, metavar="DIR", help="taxonomy folder (default taxonomy/)")
    parser.add_argument(
        "--rubric", default=None, metavar="FILE", help="rubric file (default: the taxonomy's rubric.yaml)"
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.limit < 1:
        parser.error("--concurrency and --limit must be at least 1")

    from lib.config import ConfigError, Settings

    try:
        settings = Settings.load()
        tax = load_taxonomy(args.taxonomy) if args.taxonomy else load_taxonomy()
        rubric = load_rubric(args.rubric) if args.rubric else default_rubric(tax.path)
        llm_settings = LLMSettings.from_settings(settings, **({"model": args.model} if args.model else {}))
        llm = LLMClient(llm_settings)  # says what is wrong with the key before anything runs
    except (ConfigError, TaxonomyError, RubricError, LLMError, ValueError) as exc:
        print(f"error: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 2
    paths = [*args.folders, *args.paths]
    if not paths:
        asyncio.run(llm.aclose())
        return run_on_database(
            settings,
            llm_settings=llm_settings,
            tax=tax,
            rubric=rubric,
            limit=args.limit,
            concurrency=args.concurrency,
            batch=args.batch,
            batch_poll_s=args.batch_poll,
        )

    async def run() -> tuple[int, list[JudgeResult]]:
        async with llm:
            return await judge_files(paths, llm=llm, tax=tax, rubric=rubric, concurrency=args.concurrency)

    failed, results = asyncio.run(run())
    print(totals_line(results, llm_settings.model), file=sys.stderr)
    fatal = next((r.reason for r in results if r.fatal), None)
    if fatal:
        print(f"error: {fatal}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
