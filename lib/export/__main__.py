"""`python -m lib.export`: the same as `python -m lib export`."""

from __future__ import annotations

from lib.export.cli import main

raise SystemExit(main(prog="python -m lib.export"))
