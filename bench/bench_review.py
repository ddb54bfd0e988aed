"""Review benchmark: with 2,000 conversations in the database, how long does opening the next
conversation take?

    python bench/bench_review.py [--conversations 2000] [--open 200] [--clicks 20] [--runs 7]

Fills a fresh embedded database as bench/bench_db.py does (2,000 generated conversations of 8-16
turns, a quarter of them reviewed, a tenth with a label revision), then times
1. taking the queue (lib.review.queue.load_queue) with the default filter and with every status;
2. opening the next conversation, --open times in queue order: the store reads
   (lib.review.view.load_view: document, queue row, versions, decisions, metadata) plus building what
   the page shows (the view, the arc figure serialised as Streamlit sends it, the details tables,
   the escaped turn texts);
3. the whole Review page under AppTest, clicking Next --clicks times (script run time on the
   server: reads, widgets, chat, chart; the browser's drawing is not included).
Prints figures; asserts nothing. The database lives in a temporary folder, deleted at the end.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import lib.review as rv  # noqa: E402
from bench._database import fresh_store, print_rows  # noqa: E402
from bench._timing import samples_ms  # noqa: E402
from bench.bench_db import fill  # noqa: E402
from lib.core.taxonomy import Taxonomy, load_taxonomy  # noqa: E402
from lib.store.postgres import PostgresStore  # noqa: E402
from lib.ui.display import emotion_colours, escape_markdown  # noqa: E402


def stats(samples: list[float]) -> str:
    s = sorted(samples)
    p95 = s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]
    return (f"median {statistics.median(s):7.1f} ms   p95 {p95:7.1f} ms   max {s[-1]:7.1f} ms   "
            f"(n={len(s)})")


def open_conversation(store: PostgresStore, cid: str, tax: Taxonomy, colours: dict[str, str]
                      ) -> tuple[float, float, int]:
    """What the page does for one conversation, without Streamlit. Returns (ms for the reads and
    the view, ms in all, turns)."""
    started = time.perf_counter()
    view = rv.load_view(store, cid, tax)
    read = time.perf_counter()
    assert view is not None
    rv.arc_figure(view, colours).to_json()  # st.plotly_chart sends the figure as JSON
    for section in ("Scenario", "Generation", "Parameters", "Usage", "Other"):
        rv.details_frame(view, section)
    for t in view.turns:
        escape_markdown(t.text)
        escape_markdown(t.label_line)
        for r in t.revisions:
            escape_markdown(f"{r.field_label}: {r.old} → {r.new} · {r.author}")
    done = time.perf_counter()
    return (read - started) * 1000, (done - started) * 1000, len(view.turns)


def page_clicks(data_dir: Path, clicks: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    os.environ["BRIGHTRUN_DATA_DIR"] = str(data_dir)
    for name in ("DATABASE_URL", "SUPABASE_URL"):
        os.environ.pop(name, None)
    at = AppTest.from_file(str(ROOT / "pages" / "review.py"), default_timeout=120)
    at.session_state["br_reviewer"] = "bench"
    at.run()  # first run: the store opens (boot), the queue is taken
    at.run()
    samples = []
    for _ in range(clicks):
        started = time.perf_counter()
        at.button(key="rv_next").click().run()
        samples.append((time.perf_counter() - started) * 1000)
        if at.exception:
            raise RuntimeError(at.exception[0].value)
    return samples


def page_compile_ms(runs: int) -> list[float]:
    """AppTest reads and compiles the page (with Streamlit's "magic" pass) on every run; the
    server's ScriptCache does it once per process."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        ScriptCache().get_bytecode(str(ROOT / "pages" / "review.py"))
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=2_000)
    parser.add_argument("--open", type=int, default=200, help="conversations to open in queue order")
    parser.add_argument("--clicks", type=int, default=20, help="Next clicks on the page under AppTest (0: skip)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    tax = load_taxonomy()
    colours = emotion_colours(tax)
    store, _, tmp = fresh_store("brightrun-bench-review-")
    try:
        have = store.counts()["scenarios"]
        fill(store, tax, have + args.conversations, args.conversations, args.seed)
        print_rows(store)

        print("\ntaking the queue (median of runs after a warm-up)")
        default = rv.QueueFilters()
        everything = default.replace(status=[])
        for label, filters in [("default (not reviewed)", default), ("every status", everything)]:
            samples, queue = samples_ms(args.runs, lambda f=filters: rv.load_queue(store, f))
            print(f"  {label:<28}{len(queue):>6} ids   {stats(samples)}")

        queue = rv.load_queue(store, everything)
        order = queue[: args.open]
        open_conversation(store, order[0], tax, colours)  # warm-up
        measured = [open_conversation(store, cid, tax, colours) for cid in order]
        reads = [m[0] for m in measured]
        total = [m[1] for m in measured]
        turns = [m[2] for m in measured]
        print(f"\nopening the next conversation, {len(order)} in queue order "
              f"({min(turns)}-{max(turns)} turns each)")
        print(f"  store reads + view (load_view)   {stats(reads)}")
        print(f"  + what the page builds            {stats(total)}")

        if args.clicks:
            samples = page_clicks(tmp, args.clicks)
            compile_ms = page_compile_ms(args.runs)
            print(f"\nthe Review page under AppTest, 'Next' clicked {args.clicks} times (server-side script run)")
            print(f"  per click                         {stats(samples)}")
            print(f"  of which AppTest compiling the page again (a server caches it): "
                  f"{statistics.median(compile_ms):.1f} ms")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
