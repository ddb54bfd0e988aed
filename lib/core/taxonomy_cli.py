"""`python -m lib taxonomy check [DIR]`: validate a taxonomy folder and print its counts per dimension.

Exit 0 with the counts, or exit 1 with the one line naming the file, the key path and what is wrong.
"""

from __future__ import annotations

import argparse
import sys

from lib.core.taxonomy import DEFAULT_DIR, TaxonomyError, load_taxonomy


def main(argv: list[str] | None = None, prog: str = "python -m lib taxonomy") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Check a taxonomy folder.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate and print the counts per dimension")
    check.add_argument("directory", nargs="?", default=str(DEFAULT_DIR))
    args = parser.parse_args(argv)
    try:
        tax = load_taxonomy(args.directory)
    except TaxonomyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{tax.vertical.name} ({tax.vertical.id}) taxonomy v{tax.vertical.version}: OK")
    for dim, n in tax.counts().items():
        print(f"  {dim:<18} {n:>4}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
