"""Export benchmark: 10,000 and 100,000 conversations to every format and the zip, with the peak memory.

    python bench/bench_export.py [--n 10000 --n 100000] [--eval-ratio 0.1] [--weights] [--db [--pairs K]]

The conversations are the 10 seeds (real size: ~20 KB each, sentence functions included) copied with
new ids, scenarios, personas and arcs, 1 in 10 with a label revision. They are made a batch at a time
as the export reads them (as the store's pages come), so the figures are the export's own. With --db
they are first saved into a fresh embedded database (which takes a while; 10,000 at most is sensible)
and the export reads them back in pages through Store.export_conversations; --pairs K gives each
conversation K accepted contrastive responses (its first K assistant turns), read per batch for the
preference set.

Each size runs in a child process, so its peak RSS (ru_maxrss) is its own. Prints the seconds of the
export including the zip (target: under 10 s for 10,000) and the peak RSS (target: under 400 MB, the
same for 100,000); asserts nothing. Files go to a temporary folder, deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lib.export as ex  # noqa: E402
from lib.core.models import Conversation  # noqa: E402
from lib.core.seeds import load_seeds  # noqa: E402
from lib.core.taxonomy import Taxonomy, load_taxonomy  # noqa: E402
from lib.store.embedded import stop_embedded  # noqa: E402
from lib.store.protocol import ExportRow  # noqa: E402


def _bases() -> list[tuple[dict, dict]]:
    """Per seed: its document as stored, and the same with a label revision."""
    out = []
    for conv in load_seeds().conversations:
        revised = conv.model_copy(deep=True)
        revised.revise(0, "emotion.intensity", 0.5, source="human_review", author="bench", reason="bench")
        docs = []
        for c in (conv, revised):
            doc = c.model_dump(mode="json", exclude={"training"})
            doc["provenance"] = {**doc["provenance"], "source": "generated", "model": "claude-bench"}
            doc["review"] = {"status": "unreviewed"}
            docs.append(doc)
        out.append((docs[0], docs[1]))
    return out


def synthetic(n: int, tax: Taxonomy, batch: int = ex.select.BATCH, seed: int = 1) -> Iterator[list[ExportRow]]:
    """n conversations as ExportRows, a batch at a time: seeds with new ids and dimensions."""
    rng = random.Random(seed)
    bases = _bases()
    personas, arcs = tax.ids("personas"), tax.ids("arcs")
    training = {"use_as_seed_example": False, "split": None}
    rows: list[ExportRow] = []
    for i in range(n):
        plain, revised = bases[i % len(bases)]
        doc = dict(revised if i % 10 == 0 else plain)
        doc["id"] = f"bench-{i:06d}"
        doc["scenario"] = {**doc["scenario"], "persona": rng.choice(personas), "emotional_arc": rng.choice(arcs)}
        rows.append(ExportRow(i + 1, 1, orjson.dumps(doc).decode("utf-8"), training))
        if len(rows) == batch:
            yield rows
            rows = []
    if rows:
        yield rows


def one(n: int, eval_ratio: float, weights: bool, db: bool, pairs: int = 0) -> dict:
    """One export of n conversations in this process: its figures."""
    tax = load_taxonomy()
    tmp = Path(tempfile.mkdtemp(prefix="brightrun-bench-export-"))
    options = ex.ExportOptions(selection="all", eval_ratio=eval_ratio, weights=weights)
    try:
        if db:
            store, server = fill_db(n, tax, tmp)
            if pairs:
                add_pairs(store, pairs)
            started, cpu = time.perf_counter(), time.process_time()
            try:
                result = ex.run(store, options, tax, tmp / "out" / "bench")
            finally:
                store.close()
                stop_embedded(server)  # before its folder goes: a server whose files are gone keeps running
        else:
            started, cpu = time.perf_counter(), time.process_time()
            result = ex.export(synthetic(n, tax), options, tax, tmp / "out" / "bench")
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        zip_mb = result.zip_path.stat().st_size / 1e6 if result.zip_path else 0.0
        return {
            "n": result.counts["conversations"],
            "pairs": result.counts["preference_pairs"],
            "turns": result.counts["turns"],
            "seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
            "zip_mb": round(zip_mb, 0),
            "files_mb": round(sum(f["bytes"] for f in result.manifest["files"]) / 1e6, 0),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fill_db(n: int, tax: Taxonomy, tmp: Path):  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    from lib.config import Settings
    from lib.store.boot import open_store
    from lib.store.embedded import start_embedded

    server = start_embedded(tmp / "db", keep_running=False)
    store = open_store(Settings(data_dir=tmp / "db"), default_plan_n=0)
    started = time.perf_counter()
    for rows in synthetic(n, tax, batch=1000):
        convs = [Conversation.model_validate_json(r.document) for r in rows]
        ids = store.add_scenarios([c.scenario.model_dump() for c in convs], plan_batch="bench")
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda p: store.save_generated(p[1], scenario_id=p[0]), zip(ids, convs, strict=True)))
    print(f"  (saved {n} conversations into a fresh database in {time.perf_counter() - started:.0f} s, not timed)")
    return store, server


def add_pairs(store, per_conversation: int) -> None:  # type: ignore[no-untyped-def]
    """An accepted contrastive response on each conversation's first assistant turns, as a reviewer leaves it."""
    with store.connection("add the bench's contrastive responses") as conn:
        conn.execute(
            "insert into public.contrastive_responses (conversation_id, turn_idx, failure_kind, text, why, status, "
            "reviewed_by, reviewed_at) select t.conversation_id, t.idx, 'minimising', "
            "'It is not a big deal, lots of people have it worse (' || t.conversation_id || ' turn ' || t.idx || ').', "
            "'It shrinks the feeling.', 'accepted', 'bench', now() from public.conversation_turns t "
            "where t.role = 'assistant' and t.idx < 2 * %(k)s",
            {"k": per_conversation},
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, action="append", help="conversations (repeatable; default 10000 and 100000)")
    parser.add_argument("--eval-ratio", type=float, default=0.1)
    parser.add_argument("--weights", action="store_true")
    parser.add_argument("--db", action="store_true", help="save into a fresh embedded database and read back")
    parser.add_argument("--pairs", type=int, default=0, help="with --db: accepted contrastive pairs per conversation")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = args.n or [10_000, 100_000]
    if args.child:
        print(json.dumps(one(sizes[0], args.eval_ratio, args.weights, args.db, args.pairs)))
        return 0
    print(f"export, every format + the zip (batches of {ex.select.BATCH}); targets: 10,000 under 10 s, peak RSS under 400 MB")
    print(f"  {'conversations':>13}{'turns':>10}{'pairs':>8}{'seconds':>9}{'cpu s':>8}{'peak RSS MB':>13}{'files MB':>10}{'zip MB':>8}")
    for n in sizes:
        cmd = [sys.executable, __file__, "--child", "--n", str(n), "--eval-ratio", str(args.eval_ratio)]
        cmd += ["--weights"] * args.weights + ["--db"] * args.db + ["--pairs", str(args.pairs)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"  {n:>13,} failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
            continue
        lines = done.stdout.strip().splitlines()
        for line in lines[:-1]:
            print(line)
        r = json.loads(lines[-1])
        print(f"  {r['n']:>13,}{r['turns']:>10,}{r['pairs']:>8,}{r['seconds']:>9.2f}{r['cpu_seconds']:>8.2f}{r['peak_rss_mb']:>13,.0f}"
              f"{r['files_mb']:>10,.0f}{r['zip_mb']:>8,.0f}")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: other processes slow the wall clock)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
