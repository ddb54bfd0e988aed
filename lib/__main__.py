"""One command line for the studio: `python -m lib <command> [options]`.

Each command is the `main(argv)` of the module that owns the work; this file only dispatches,
so `python -m lib <command> --help` shows that module's own options.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# command -> (module with main(argv), one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "taxonomy": ("lib.core.taxonomy_cli", "check a taxonomy folder and print its counts"),
    "validate": ("lib.core.validation", "run the quality checks on conversation files"),
    "schema": ("lib.core.models", "print the JSON Schema of the dataset format"),
    "db": ("lib.store.cli", "the database: status, migrate, plan, reset, stop"),
    "worker": ("lib.generation.worker_cli", "claim and generate queued job items"),
    "judge": ("lib.generation.judge_cli", "rate conversations against the quality rubric with Claude"),
    "contrast": (
        "lib.generation.contrast_cli",
        "queue failed responses (contrastive turns) for approved conversations",
    ),
    "export": ("lib.export.cli", "write approved conversations in the training formats"),
    "import-revisions": ("lib.review.operator_import", "import operators' label corrections (JSONL or CSV)"),
    "variations": ("lib.generation.variation_cli", "make variations of approved conversations and generate them"),
}


def usage() -> str:
    lines = ["usage: python -m lib <command> [options]", "", "commands:"]
    lines += [f"  {name:<16} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "`python -m lib <command> --help` lists a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest, prog=f"python -m lib {name}"))


if __name__ == "__main__":
    raise SystemExit(main())
