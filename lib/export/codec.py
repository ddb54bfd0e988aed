"""JSON in and out for the export: orjson where it is installed, the standard library otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:  # orjson serializes ~10x faster (requirements.txt); the standard library writes the same JSON
    import orjson

    loads: Callable[[str | bytes], Any] = orjson.loads

    def dumpb(obj: Any) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover - orjson is in requirements.txt
    loads = json.loads

    def dumpb(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
