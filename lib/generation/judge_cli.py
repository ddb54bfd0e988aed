"""`python -m lib judge`: rate conversations with the quality judge.

    python -m lib judge --from seeds/            every *.json conversation file in the folder
    python -m lib judge a.json b.json            these files
    python -m lib judge [--limit 50]             stored conversations no judge has rated yet, saved back

One line per file (or stored conversation): its ratings, then ok or FLAGGED with the reasons. A summary
of requests, tokens and cost goes to stderr. Exit status 0 when every conversation got a verdict
(flagged or not), 1 when some did not, 2 when nothing could run (no key, bad settings).
The API key and endpoint are the generator's: ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, BRIGHTRUN_MODEL.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO, runtime_checkable

from pydantic import ValidationError

from lib.core.models import Conversation
from lib.core.rubric import Rubric, RubricError, default_rubric, load_rubric
from lib.core.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from lib.generation.judge import (
    JudgeResult,
    ajudge_conversation,
    ajudge_many,
    judge_templates,
)
from lib.generation.llm import LLMClient, LLMError, LLMSettings


@runtime_checkable
class RatingStore(Protocol):
    """The store methods the judge needs (each one SQL function of supabase/migrations/)."""

    def conversations_to_judge(self, limit: int = 100, *, rubric_version: str | None = None) -> list[str]: ...

    def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    def save_judge_result(self, record: Mapping[str, Any]) -> dict[str, Any]: ...

    def register_prompt_template(self, name: str, version: str, sha256: str, body: str,
                                 tier: str | None = None) -> int: ...


def conversation_files(paths: Sequence[str | Path]) -> list[Path]:
    """The files named, and every *.json in the folders named, in name order per folder."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    return out


def read_conversation(path: Path) -> Conversation:
    """One conversation file, or ValueError with one line saying what is wrong with it."""
    try:
        return Conversation.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ValueError(f"cannot read it ({exc.strerror})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(".".join(map(str, err["loc"])) + ": " + err["msg"] + "; not a conversation file") from None
    except ValueError as exc:
        raise ValueError("not valid JSON (" + str(exc).splitlines()[0] + ")") from None


def totals_line(results: Sequence[JudgeResult], model: str) -> str:
    judged = [r for r in results if r.ok]
    usage = [r.usage for r in results]
    return (f"{len(judged)} judged, {sum(r.flagged for r in judged)} flagged, {len(results) - len(judged)} without a "
            f"verdict; {sum(len(r.attempts) for r in results)} requests, "
            f"{sum(u.input_tokens for u in usage)} input + {sum(u.cache_creation_input_tokens for u in usage)} "
            f"cache-write + {sum(u.cache_read_input_tokens for u in usage)} cache-read + "
            f"{sum(u.output_tokens for u in usage)} output tokens, ${sum(r.cost_usd for r in results):.4f} ({model})")


async def judge_files(paths: Sequence[str | Path], *, llm: LLMClient, tax: Taxonomy, rubric: Rubric,
                      concurrency: int = 4, out: TextIO | None = None) -> tuple[int, list[JudgeResult]]:
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


async def judge_stored(store: RatingStore, *, llm: LLMClient, tax: Taxonomy, rubric: Rubric, limit: int = 50,
                       concurrency: int = 4, out: TextIO | None = None) -> tuple[int, list[JudgeResult]]:
    """Judge stored conversations no judge has rated under this rubric version, save each result as it
    comes (a crash loses only what was in flight), print one line each. Returns (failures, results)."""
    out = out or sys.stdout
    for t in judge_templates():
        await asyncio.to_thread(store.register_prompt_template, t.name, t.version, t.sha256,
                                t.path.read_text(encoding="utf-8"), None)
    ids = await asyncio.to_thread(store.conversations_to_judge, limit, rubric_version=rubric.version)
    gate = asyncio.Semaphore(max(1, concurrency))
    secrets = [llm.settings.api_key or ""]
    fatal: list[str] = []

    async def one(cid: str) -> JudgeResult | None:
        async with gate:
            if fatal:
                return None
            conv = await asyncio.to_thread(store.get_conversation, cid)
            if conv is None:
                print(f"{cid}  error: the conversation is gone", file=out, flush=True)
                return None
            result = await ajudge_conversation(conv, llm=llm, tax=tax, rubric=rubric)
            if result.fatal:
                fatal.append(result.reason or "stopped")
            if result.attempts:
                await asyncio.to_thread(store.save_judge_result, result.to_record(secrets))
            print(f"{cid}  {result.summary()}  ${result.cost_usd:.4f}", file=out, flush=True)
            return result

    results = [r for r in await asyncio.gather(*(one(i) for i in ids)) if r is not None]
    if not ids:
        print(f"every current conversation has a judge rating under rubric {rubric.id} {rubric.version}",
              file=sys.stderr)
    return len(ids) - sum(r.ok for r in results), results


def main(argv: Sequence[str] | None = None, prog: str = "python -m lib judge") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=(
        "Rate conversations against the quality rubric (taxonomy/rubric.yaml) with Claude, and check their "
        "labels. With files: print the ratings. Without: rate the stored conversations not rated yet, and save."))
    parser.add_argument("paths", nargs="*", help="conversation JSON files or folders of them")
    parser.add_argument("--from", dest="folders", action="append", default=[], metavar="DIR",
                        help="a folder of conversation files (e.g. seeds/); may be repeated")
    parser.add_argument("--limit", type=int, default=50, help="stored conversations to judge at most (default 50)")
    parser.add_argument("--model", default=None, help="the judge's model (default: BRIGHTRUN_MODEL or the generator's)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests at once (default 4)")
    parser.add_argument("--taxonomy", default=None, metavar="DIR", help="taxonomy folder (default taxonomy/)")
    parser.add_argument("--rubric", default=None, metavar="FILE",
                        help="rubric file (default: the taxonomy's rubric.yaml)")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.limit < 1:
        parser.error("--concurrency and --limit must be at least 1")

    from lib.config import ConfigError, Settings

    try:
        settings = Settings.load()
        tax = load_taxonomy(args.taxonomy) if args.taxonomy else load_taxonomy()
        rubric = load_rubric(args.rubric) if args.rubric else default_rubric(tax.path)
        llm_settings = LLMSettings.from_settings(settings, **({"model": args.model} if args.model else {}))
        llm = LLMClient(llm_settings)
    except (ConfigError, TaxonomyError, RubricError, LLMError, ValueError) as exc:
        print(f"error: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 2
    paths = [*args.folders, *args.paths]

    async def run() -> tuple[int, list[JudgeResult]]:
        async with llm:
            if paths:
                return await judge_files(paths, llm=llm, tax=tax, rubric=rubric, concurrency=args.concurrency)
            return await run_on_database(settings, llm=llm, tax=tax, rubric=rubric, limit=args.limit,
                                         concurrency=args.concurrency)

    failed, results = asyncio.run(run())
    if failed < 0:
        return 2
    print(totals_line(results, llm_settings.model), file=sys.stderr)
    fatal = next((r.reason for r in results if r.fatal), None)
    if fatal:
        print(f"error: {fatal}", file=sys.stderr)
    return 1 if failed else 0


async def run_on_database(settings: Any, **kwargs: Any) -> tuple[int, list[JudgeResult]]:
    """judge_stored on the app's database; (-1, []) after printing why when it cannot be used."""
    from lib.store import open_store
    from lib.store.protocol import StoreError

    try:
        store = open_store(settings)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return -1, []
    try:
        if not isinstance(store, RatingStore):
            missing = [m for m in ("conversations_to_judge", "save_judge_result") if not hasattr(store, m)]
            print(f"error: this {type(store).__name__} cannot store ratings (no {', '.join(missing)}); judge files "
                  "with --from seeds/ or PATH, or update the app", file=sys.stderr)
            return -1, []
        return await judge_stored(store, **kwargs)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return -1, []
    finally:
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
