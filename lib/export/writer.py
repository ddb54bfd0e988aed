"""Writing an export folder safely: files are hashed as they are written, everything goes to a
temporary folder beside the destination, and that folder replaces the earlier export only once it is
complete, so an export that fails leaves the earlier one as it was. Then the zip beside it."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lib.export.errors import ExportError


@dataclass
class FileEntry:
    path: str
    format: str
    split: str | None
    records: int
    bytes: int = 0
    sha256: str = ""


class Folder:
    """Writes files under a root and hashes them. Hashing and writing a chunk run on a helper
    thread (both release the GIL) while the next chunk is serialized."""

    def __init__(self, root: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.root = root
        self.files: list[FileEntry] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-write")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def write(self, rel: str, chunks: Iterable[bytes], *, fmt: str, split: str | None, records: int) -> FileEntry:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0

        def put(data: bytes) -> None:
            digest.update(data)
            f.write(data)

        with open(path, "wb") as f:
            pending = None
            for chunk in chunks:
                if pending is not None:
                    pending.result()
                size += len(chunk)
                pending = self._pool.submit(put, chunk)
            if pending is not None:
                pending.result()
        entry = FileEntry(rel, fmt, split, records, size, digest.hexdigest())
        self.files.append(entry)
        return entry

    def binary(
        self, rel: str, write: Callable[[Path], None], *, fmt: str, split: str | None, records: int
    ) -> FileEntry:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        data = path.read_bytes()
        entry = FileEntry(rel, fmt, split, records, len(data), hashlib.sha256(data).hexdigest())
        self.files.append(entry)
        return entry


def zip_folder(folder: Path, target: Path, top: str) -> None:
    """Every file under `folder` as <top>/<path>: deflate level 1 (JSON shrinks ~4x at a fraction of
    level 6's time), parquet stored as it is (already compressed)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder).as_posix()
            zf.write(
                path,
                f"{top}/{rel}",
                compress_type=zipfile.ZIP_STORED if path.suffix == ".parquet" else zipfile.ZIP_DEFLATED,
            )


def check_destination(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise ExportError(f"{dest} is a file; choose a folder name for the export")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / "manifest.json").is_file():
        raise ExportError(
            f"{dest} already holds files that are not an earlier export (no manifest.json); "
            "choose another folder, the export replaces what is there"
        )


def clean_leftovers(dest: Path, older_than: float = 3600) -> None:
    """Temporary folders of exports that crashed more than an hour ago (a running one is younger)."""
    cutoff = time.time() - older_than
    for pattern in (f".{dest.name}.tmp-*", f".{dest.name}.old-*", f".{dest.name}.zip.tmp-*"):
        for path in dest.parent.glob(pattern):
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            except OSError:
                pass


def swap_into_place(tmp: Path, dest: Path) -> None:
    """tmp becomes dest; an earlier dest is moved aside first and deleted after, or put back."""
    old = None
    if dest.exists():
        old = dest.parent / f".{dest.name}.old-{os.getpid()}-{time.monotonic_ns()}"
        os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except OSError as exc:
        if old is not None:
            os.rename(old, dest)
        raise ExportError(
            f"cannot move the finished export into {dest} ({exc.strerror}); the earlier export is unchanged, try again"
        ) from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def default_dest(root: Path, name: str) -> Path:
    """root/<name as a safe folder name>."""
    return root / slug(name)


def slug(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-.")
    return value[:80] or "export"


def exports_root() -> Path:
    """<BRIGHTRUN_DATA_DIR>/exports: where the page and the CLI put exports by default."""
    from lib.config import Settings

    return Settings.load().data_dir / "exports"
