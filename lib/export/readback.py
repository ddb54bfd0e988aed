"""Reading a finished export back: its manifest, whether every file still matches it, and the first
records of each file as its consumers would read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lib.export.writer import file_sha256


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def verify(folder: str | Path) -> list[str]:
    """Files whose size or sha256 differs from the manifest (empty: the export is intact)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return ["manifest.json is missing or unreadable"]
    problems = []
    for f in manifest["files"]:
        path = folder / f["path"]
        if not path.is_file():
            problems.append(f"{f['path']}: missing")
        elif file_sha256(path) != f["sha256"]:
            problems.append(f"{f['path']}: sha256 differs from the manifest")
    return problems


def preview(folder: str | Path, n: int = 3) -> dict[str, Any]:
    """The first n records of each file of an export, as its consumers would read them:
    path -> list of records (JSON files and parquet), a DataFrame head (CSV) or text (the card)."""
    folder = Path(folder)
    manifest = read_manifest(folder) or {"files": []}
    out: dict[str, Any] = {}
    for f in manifest["files"]:
        path = folder / f["path"]
        if not path.is_file():
            continue
        records: list[Any] = []
        if path.suffix == ".jsonl":
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    if len(records) >= n:
                        break
                    if line.strip():
                        records.append(json.loads(line))
            out[f["path"]] = records
        elif path.suffix == ".json":
            with open(path, encoding="utf-8") as fh:  # one element per line, as export() writes it
                for line in fh:
                    line = line.strip().rstrip(",")
                    if len(records) >= n:
                        break
                    if line not in ("[", "]", "[]", ""):
                        records.append(json.loads(line))
            out[f["path"]] = records
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(path)
            batch = next(pf.iter_batches(batch_size=max(n, 1)), None)
            out[f["path"]] = batch.to_pylist()[:n] if batch is not None else []
        elif path.suffix == ".csv":
            import pandas as pd

            out[f["path"]] = pd.read_csv(path, nrows=n, keep_default_na=False)
        elif path.suffix in (".md", ".yaml"):
            out[f["path"]] = path.read_text(encoding="utf-8")
    return out
