"""Label sources benchmark: how long an operators' file of corrections takes to check and import, and how
long the label drift takes to read and draw.

    python bench/bench_label_sources.py [--conversations 500] [--lines 5000] [--runs 5]

Fills a fresh embedded database as bench/bench_db.py does, writes a JSONL file of --lines corrections of
the user turns' intensity spread over the conversations, then times
1. checking the file (lib.review.operator_import.validate: the conversations read, every line checked);
2. writing it (public.import_label_revisions, one call, one transaction);
3. the label drift (public.label_drift) read and its three charts built, with those revisions in the table.
Prints figures; asserts nothing. The database lives in a temporary folder, deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._database import fresh_store, print_rows  # noqa: E402
from bench._timing import samples_ms  # noqa: E402
from bench.bench_db import fill  # noqa: E402
from lib.core.taxonomy import load_taxonomy  # noqa: E402
from lib.review import drift  # noqa: E402
from lib.review.operator_import import read_lines, validate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    store, _server, _folder = fresh_store("bench-label-sources-")
    tax = load_taxonomy()
    fill(store, tax, args.conversations + 100, args.conversations, seed=0)
    print_rows(store)

    rng = random.Random(0)
    convs = [r["conversation_id"] for r in store.list_scenarios() if r["conversation_id"]]
    users = {cid: [i for i, t in enumerate(store.conversation_turn_rows(cid)) if t["role"] == "user"] for cid in convs}
    out = Path(tempfile.mkdtemp(prefix="bench-ops-")) / "ops.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for _ in range(args.lines):
            cid = rng.choice(convs)
            f.write(
                json.dumps(
                    {
                        "conversation": cid,
                        "turn": rng.choice(users[cid]),
                        "field": "emotion.intensity",
                        "new_value": round(rng.random(), 2),
                        "author": "op-bench",
                        "reason": "live correction",
                    }
                )
                + "\n"
            )

    lines = list(read_lines(out))
    check, (rows, problems) = samples_ms(args.runs, lambda: validate(store, tax, lines))
    assert not problems, problems[:3]
    print(
        f"check {len(lines):,} lines of {len({r['conversation_id'] for r in rows}):,} conversations: "
        f"median {statistics.median(check):,.0f} ms ({len(lines) / statistics.median(check) * 1000:,.0f} lines/s)"
    )

    started = time.perf_counter()
    counts = store.import_label_revisions(rows)
    took = (time.perf_counter() - started) * 1000
    print(f"import in one transaction: {took:,.0f} ms ({len(rows) / took * 1000:,.0f} lines/s): {counts}")

    def read_and_draw() -> int:
        frame = drift.drift_frame(store, tax)
        for chart in (drift.over_time_chart, drift.top_corrections_chart, drift.by_version_chart):
            chart(frame).to_json()
        return len(frame)

    reads, n = samples_ms(args.runs, read_and_draw)
    print(f"label drift ({n:,} grouped rows) read and drawn: median {statistics.median(reads):,.0f} ms")
    store.close()


if __name__ == "__main__":
    main()
