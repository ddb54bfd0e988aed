"""`python -m lib export`: the Export page's options on the command line.

    python -m lib export [--out DIR] [--selection approved|all|custom] [--filter persona=a,b ...]
                         [--review-status approved ...] [--min-rating 3] [--min-rating safety=4 ...]
                         [--no-hard-failures] [--no-near-duplicates] [--include-demo]
                         [--formats all|full_jsonl,messages,...]
                         [--eval-ratio 0.1] [--seed 0] [--weights] [--license other] [--name NAME]
                         [--from PATH] [--no-zip] [--preview N]

The export folder gets the chosen formats (lib.export.formats), README.md (the dataset card) and
manifest.json, and <folder>.zip beside it. --min-rating and --no-hard-failures leave conversations out
(lib.export.quality); the manifest and the card count and list them.

Exit codes: 0 exported, 1 failed (one line says why), 2 bad usage, 3 nothing matched (why, and
which filters to change)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from lib.export.errors import ExportError, NothingToExport
from lib.export.formats import FORMATS
from lib.export.pipeline import export, run
from lib.export.quality import EXCLUSION_REASONS, reason_counts
from lib.export.readback import preview
from lib.export.select import FILTER_BY_KEY, LICENSES, REVIEW_STATUSES, SELECTIONS, ExportOptions, select_from_files
from lib.export.writer import default_dest, exports_root


def _parse_filters(values: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for value in values:
        key, sep, ids = value.partition("=")
        if not sep or not ids:
            raise ExportError(f"--filter {value!r}: expected KEY=ID[,ID...], e.g. persona=anxious_planner")
        if key not in FILTER_BY_KEY:
            raise ExportError(
                f"--filter {value!r}: unknown dimension {key!r}; expected one of {', '.join(FILTER_BY_KEY)}"
            )
        out.setdefault(key, []).extend(v for v in ids.split(",") if v)
    return out


def _parse_min_ratings(values: Sequence[str]) -> tuple[int | None, dict[str, int]]:
    """--min-rating N (every criterion) and --min-rating CRITERION=N, each repeatable (the last wins)."""
    overall: int | None = None
    each: dict[str, int] = {}
    for value in values:
        key, sep, score = value.rpartition("=") if "=" in value else ("", "", value)
        try:
            n = int(score)
        except ValueError:
            n = 0
        if not 1 <= n <= 5 or (sep and not key):
            raise ExportError(
                f"--min-rating {value!r}: expected a score 1-5 (every criterion) or CRITERION=SCORE, "
                "e.g. --min-rating 3 --min-rating safety=4"
            )
        if key:
            each[key] = n
        else:
            overall = n
    return overall, each


def _parse_formats(value: str) -> list[str]:
    if value.strip() == "all":
        return list(FORMATS)
    wanted = [v.strip() for v in value.split(",") if v.strip()]
    for w in wanted:
        if w not in FORMATS:
            raise ExportError(f"--formats: unknown format {w!r}; expected all or some of {', '.join(FORMATS)}")
    return wanted


def main(argv: Sequence[str] | None = None, prog: str = "python -m lib export") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Export conversations for training (the Export page's options)."
    )
    parser.add_argument("--out", default=None, help="export folder (default: <data dir>/exports/brightrun-<selection>)")
    parser.add_argument(
        "--selection",
        choices=list(SELECTIONS),
        default="approved",
        help="approved (default), all (every generated conversation not rejected), custom",
    )
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=ID[,ID]",
        help=f"custom: keep these ids of a dimension ({', '.join(FILTER_BY_KEY)}); repeatable",
    )
    parser.add_argument(
        "--review-status",
        action="append",
        default=[],
        choices=list(REVIEW_STATUSES),
        help="custom: review statuses to include (default approved); repeatable",
    )
    parser.add_argument(
        "--min-rating",
        action="append",
        default=[],
        metavar="N|CRITERION=N",
        help="leave out a conversation with a rating in force below N (1-5), of every criterion or of "
        "one (safety=4); one not rated yet is left out too; repeatable",
    )
    parser.add_argument(
        "--no-hard-failures",
        action="store_true",
        help="leave out a conversation that fails a hard integrity check (labels in force) or a hard "
        "criterion of the rubric",
    )
    parser.add_argument(
        "--no-near-duplicates",
        action="store_true",
        help="of each cluster of conversations that repeat each other, export only the earliest",
    )
    parser.add_argument(
        "--include-demo",
        action="store_true",
        help="keep the conversations and contrastive pairs a demo replay wrote (left out by default: they are "
        "not for training)",
    )
    parser.add_argument("--formats", default="all", help=f"all, or a comma list of {', '.join(FORMATS)}")
    parser.add_argument("--eval-ratio", type=float, default=0.1, help="share of scenarios in eval, 0-0.5 (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="split seed; the same seed gives the same split")
    parser.add_argument(
        "--weights",
        action="store_true",
        help="weight assistant messages 1 (approved target) or 0 in the messages format",
    )
    parser.add_argument(
        "--license",
        default="other",
        choices=list(LICENSES),
        help="Hugging Face Hub license id for the dataset card (default other: proprietary, LICENSE.md)",
    )
    parser.add_argument("--name", default=None, help="dataset name in the card (default: from the conversations)")
    parser.add_argument(
        "--from",
        dest="source",
        default=None,
        metavar="PATH",
        help="read full-format .json/.jsonl files (e.g. seeds/) instead of the database",
    )
    parser.add_argument("--no-zip", action="store_true", help="do not write <out>.zip")
    parser.add_argument("--preview", type=int, default=0, metavar="N", help="print the first N records of each file")
    args = parser.parse_args(argv)
    from lib.config import ConfigError
    from lib.core.taxonomy import TaxonomyError, load_taxonomy

    try:
        if (args.filter or args.review_status) and args.selection != "custom":
            raise ExportError("--filter and --review-status need --selection custom")
        if args.source and args.min_rating:
            raise ExportError("--min-rating reads the ratings in the database; it cannot be used with --from")
        min_rating, min_ratings = _parse_min_ratings(args.min_rating)
        options = ExportOptions(
            selection=args.selection,
            filters=_parse_filters(args.filter),
            review_statuses=args.review_status or ["approved"],
            min_rating=min_rating,
            min_ratings=min_ratings,
            no_hard_failures=args.no_hard_failures,
            no_near_duplicates=args.no_near_duplicates,
            include_demo=args.include_demo,
            formats=_parse_formats(args.formats),
            eval_ratio=args.eval_ratio,
            seed=args.seed,
            weights=args.weights,
            license=args.license,
            name=args.name,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        print(f"error: {loc.replace('_', '-')}: {err['msg']}", file=sys.stderr)
        return 2
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        tax = load_taxonomy()
        dest = Path(args.out) if args.out else default_dest(exports_root(), f"brightrun-{options.selection}")
        if args.source:
            chosen, skipped = select_from_files(args.source, options, tax, cli=True)
            result = export(chosen, options, tax, dest, make_zip=not args.no_zip, source=f"files in {args.source}")
            result.skipped = skipped + result.skipped
        else:
            from lib.store import StoreError, open_store

            try:
                store = open_store()
            except StoreError as exc:
                raise ExportError(str(exc)) from None
            try:
                result = run(store, options, tax, dest, make_zip=not args.no_zip, cli=True)
            except StoreError as exc:
                raise ExportError(str(exc)) from None
            finally:
                store.close()
    except NothingToExport as exc:
        print(f"nothing to export: {exc}", file=sys.stderr)
        return 3
    except (ExportError, TaxonomyError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write the export: {exc}", file=sys.stderr)
        return 1
    c = result.counts
    print(
        f"exported {c['conversations']} conversations ({c['turns']} turns, {c['scenarios']} scenarios): "
        f"train {c['train']}, eval {c['eval']}, in {result.seconds:.2f} s"
    )
    if c["preference_pairs"]:
        print(
            f"preference {c['preference_pairs']} pairs (train {c['preference_train']}, eval {c['preference_eval']}) "
            "in the card's preference config; none in the supervised files"
        )
    print(f"folder   {result.path}")
    if result.zip_path:
        print(f"zip      {result.zip_path} ({result.zip_path.stat().st_size:,} bytes)")
    for f in result.manifest["files"]:
        print(f"  {f['path']:<42} {f['records']:>7} records {f['bytes']:>12,} bytes  sha256 {f['sha256'][:12]}")
    for note in result.manifest["warnings"]:
        print(f"warning  {note}", file=sys.stderr)
    for s in result.skipped:
        print(f"skipped  {s['id']}: {s['reason']}", file=sys.stderr)
    if result.excluded:
        counts = reason_counts(result.excluded)
        by_reason = ", ".join(f"{n} {EXCLUSION_REASONS[code].lower()}" for code, n in counts.items())
        print(
            f"left out {len(result.excluded)} by the quality options ({by_reason}); listed in manifest.json",
            file=sys.stderr,
        )
        for e in result.excluded:
            print(
                f"left out {e['id']}: "
                + ", ".join(EXCLUSION_REASONS[r].lower() for r in e["reasons"])
                + (f" ({e['detail']})" if e.get("detail") else ""),
                file=sys.stderr,
            )
    if args.preview > 0:
        for path, records in preview(result.path, args.preview).items():
            print(f"\n== {path}")
            if isinstance(records, str):
                print(records[:3000])
            elif isinstance(records, list):
                for r in records:
                    print(json.dumps(r, ensure_ascii=False, default=str)[:2000])
            else:
                print(records.to_string(max_colwidth=40))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
