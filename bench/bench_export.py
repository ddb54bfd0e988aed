"""Export benchmark: 10,000 conversations to every format, timed step by step.

    python bench/bench_export.py [--n 10000] [--eval-ratio 0.1] [--weights] [--db]

The conversations are the 10 seeds (real size: ~20 KB each, sentence functions included) copied
with new ids, scenarios, personas and arcs, 1 in 10 with a label revision. Without --db they are
handed to lib.export as ExportRows, as the store returns them; with --db they are first saved into
a fresh embedded database (which takes a while) and the export reads them back through
Store.export_conversations, so the figure includes the database read.

Prints seconds per step and in all (the target: under 10 s for 10,000 conversations, every format);
asserts nothing. Files go to a temporary folder, deleted at the end.
"""
from __future__ import annotations

import argparse
import atexit
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lib.export as ex  # noqa: E402
from lib.core.models import Conversation  # noqa: E402
from lib.core.seeds import load_seeds  # noqa: E402
from lib.store.protocol import ExportRow  # noqa: E402
from lib.core.taxonomy import Taxonomy, load_taxonomy  # noqa: E402


def synthetic(n: int, tax: Taxonomy, seed: int = 1) -> list[tuple[int, Conversation]]:
    """(scenario id, conversation) x n: seeds with new ids and dimensions."""
    rng = random.Random(seed)
    seeds = load_seeds().conversations
    personas, arcs = tax.ids("personas"), tax.by_id("arcs")
    out = []
    for i in range(n):
        base = seeds[i % len(seeds)]
        arc = arcs[rng.choice(list(arcs))]
        doc = base.model_dump(mode="json")
        doc["id"] = f"bench-{i:05d}"
        doc["scenario"]["persona"] = rng.choice(personas)
        doc["scenario"]["emotional_arc"] = arc.id
        doc["label_history"] = []
        doc["provenance"] = {**doc["provenance"], "source": "generated", "model": "claude-bench"}
        doc["review"] = {"status": "unreviewed"}
        doc["training"] = {"use_as_seed_example": False, "split": None}
        conv = Conversation.model_validate(doc)
        if i % 10 == 0:
            conv.revise(0, "emotion.intensity", 0.5, source="human_review", author="bench", reason="bench")
        out.append((i + 1, conv))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--eval-ratio", type=float, default=0.1)
    parser.add_argument("--weights", action="store_true")
    parser.add_argument("--db", action="store_true", help="save into a fresh embedded database and read back")
    args = parser.parse_args(argv)

    tax = load_taxonomy()
    tmp = Path(tempfile.mkdtemp(prefix="brightrun-bench-export-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    started = time.perf_counter()
    data = synthetic(args.n, tax)
    print(f"built {len(data)} conversations in {time.perf_counter() - started:.1f} s (not timed below)")
    options = ex.ExportOptions(selection="all", eval_ratio=args.eval_ratio, weights=args.weights)

    timings: list[tuple[str, float, float]] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if args.db:
        rows = read_from_db(data, tax, tmp, timings)
        wall0, cpu0 = time.perf_counter() - timings[0][1], time.process_time() - timings[0][2]
    else:
        rows = [ExportRow(sid, 1, c.model_dump_json(exclude={"training"}), c.training.model_dump(mode="json"))
                for sid, c in data]
        wall0, cpu0 = time.perf_counter(), time.process_time()
    print(f"input: {sum(len(r.document) for r in rows) / 1e6:.0f} MB of documents")

    def step(name: str, fn: Any) -> Any:
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        timings.append((name, time.perf_counter() - w, time.process_time() - c))
        return result

    items, skipped = step("parse + apply label revisions", lambda: ex.prepare(rows))
    result = step("split + write every format + card + manifest",
                  lambda: ex.export(items, options, tax, tmp / "out" / "bench", make_zip=False))
    total_wall, total_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    w, c = time.perf_counter(), time.process_time()
    ex.zip_folder(result.path, tmp / "bench.zip", "bench")
    zip_wall, zip_cpu = time.perf_counter() - w, time.process_time() - c

    print(f"\nexport of {result.counts['conversations']} conversations ({result.counts['turns']} turns), "
          f"train {result.counts['train']}, eval {result.counts['eval']}, skipped {len(skipped)}")
    print(f"  {'step':<48}{'wall s':>8}{'cpu s':>8}")
    for name, wall, cpu in timings:
        print(f"  {name:<48}{wall:>8.2f}{cpu:>8.2f}")
    print(f"  {'TOTAL, every format (target < 10 s)':<48}{total_wall:>8.2f}{total_cpu:>8.2f}")
    print(f"  {'zip (deflate level 1, parquet stored)':<48}{zip_wall:>8.2f}{zip_cpu:>8.2f}"
          f"   {(tmp / 'bench.zip').stat().st_size / 1e6:.0f} MB")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: other processes slow the wall clock)")
    print("\nfiles")
    for f in result.manifest["files"]:
        print(f"  {f['path']:<40}{f['records']:>8} records {f['bytes'] / 1e6:>9.1f} MB")
    return 0


def read_from_db(data: list[tuple[int, Conversation]], tax: Taxonomy, tmp: Path,
                 timings: list[tuple[str, float, float]]) -> list[ExportRow]:
    from lib.config import Settings
    from lib.store.boot import open_store
    from lib.store.embedded import start_embedded

    started = time.perf_counter()
    start_embedded(tmp / "db", keep_running=False)
    store = open_store(Settings(data_dir=tmp / "db"), default_plan_n=0)
    print(f"fresh embedded database in {time.perf_counter() - started:.1f} s")
    try:
        rows = []
        for _, conv in data:
            s = conv.scenario
            rows.append({"tier": s.tier, "persona": s.persona, "emotional_arc": s.emotional_arc, "topic": s.topic,
                         "intent": s.intent, "tone": s.tone, "outcome_type": s.outcome_type,
                         "context_id": s.context_id, "context": s.context})
        started = time.perf_counter()
        ids: list[int] = []
        for start in range(0, len(rows), 1000):
            ids += store.add_scenarios(rows[start:start + 1000], plan_batch="bench")
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda p: store.save_generated(p[1][1], scenario_id=p[0]), zip(ids, data)))
        print(f"saved {len(data)} conversations in {time.perf_counter() - started:.1f} s (not timed)")
        w, c = time.perf_counter(), time.process_time()
        out = store.export_conversations({}, ex.ALL_STATUSES)
        timings.append(("Store.export_conversations (database read)", time.perf_counter() - w, time.process_time() - c))
        return out
    finally:
        store.close()


if __name__ == "__main__":
    raise SystemExit(main())
