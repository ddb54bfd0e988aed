"""`python -m lib.validation <files>`: the older spelling of `python -m lib validate`."""

from __future__ import annotations

from lib.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main(["validate", *__import__("sys").argv[1:]]))
