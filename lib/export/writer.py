"""Writing an export folder safely.

Files are written as their records come (Folder.open gives a Sink), hashed on the way. A new export
is a generation folder beside the destination, `.<name>.gen-<token>/` holding `<name>/` and
`<name>.zip`. The destination and its zip are symlinks through one pointer:

    <name>      -> .<name>.current/<name>
    <name>.zip  -> .<name>.current/<name>.zip
    .<name>.current -> .<name>.gen-<token>

so replacing the pointer (one rename) switches the folder and the zip together: a reader, or a
`kill -9` at any moment, sees the earlier export complete or the new one complete. Exports into one
parent folder hold a lock on it (flock), so an export removes every leftover of a killed one
(generations not pointed at, temporary links), whatever its age. Folders and files are created with
the process's umask (readable for the group when the umask says so), not mkdtemp's 0700."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import secrets
import shutil
import zlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.export.errors import ExportError

_FLUSH = 1 << 20  # bytes a sink gathers before a write
_PENDING = 4  # writes queued on the helper thread before the producer waits (each up to a batch)


@dataclass
class FileEntry:
    path: str
    format: str
    split: str | None
    records: int
    bytes: int = 0
    sha256: str = ""
    config: str | None = None  # the Hugging Face config the file belongs to


class Sink:
    """One file being written: records are appended as they come; hashing and writing run on the
    folder's helper thread (both release the GIL) while the next records are serialized."""

    def __init__(self, folder: Folder, rel: str, fmt: str, split: str | None, config: str | None) -> None:
        self._folder = folder
        self.entry = FileEntry(rel, fmt, split, 0, config=config)
        path = folder.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._digest = hashlib.sha256()
        self._buf: list[bytes] = []
        self._size = 0

    def write(self, data: bytes, records: int = 0) -> None:
        self._buf.append(data)
        self._size += len(data)
        self.entry.records += records
        if self._size >= _FLUSH:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            data = b"".join(self._buf)
            self._buf, self._size = [], 0
            self.entry.bytes += len(data)
            self._folder.submit(self._put, data)

    def _put(self, data: bytes) -> None:
        self._digest.update(data)
        self._file.write(data)

    def close(self) -> FileEntry:
        self._flush()
        self._folder.drain()
        self._file.close()
        self.entry.sha256 = self._digest.hexdigest()
        self._folder.files.append(self.entry)
        return self.entry


class Folder:
    """The files of one export folder, each listed (FileEntry) once it is closed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[FileEntry] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-write")
        self._pending: deque[Future[None]] = deque()

    def open(self, rel: str, *, fmt: str, split: str | None, config: str | None = None) -> Sink:
        return Sink(self, rel, fmt, split, config)

    def submit(self, fn: object, data: bytes) -> None:
        while len(self._pending) >= _PENDING:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, data))  # type: ignore[arg-type]

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def write(self, rel: str, data: bytes, *, fmt: str, records: int = 0) -> FileEntry:
        sink = self.open(rel, fmt=fmt, split=None)
        sink.write(data, records)
        return sink.close()

    def add(self, rel: str, *, fmt: str, split: str | None, records: int, config: str | None = None) -> FileEntry:
        """List a file written by another writer (parquet), hashed from the disk in chunks."""
        path = self.root / rel
        entry = FileEntry(rel, fmt, split, records, path.stat().st_size, file_sha256(path), config)
        self.files.append(entry)
        return entry

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self._pool.shutdown(wait=True)


def file_sha256(path: Path) -> str:
    """The sha256 of a file on disk, read in chunks (what the manifest lists and verify compares)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def zip_folder(folder: Path, target: Path, top: str) -> None:
    """Every file under `folder` as <top>/<path>: deflate level 1 (JSON shrinks ~4x at a fraction of
    level 6's time), parquet stored as it is (already compressed). The files are compressed in
    parallel (zlib releases the GIL), each into a part beside the target, then put in the zip in order."""
    import zipfile

    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    parts = target.parent / f".{target.name}.parts"
    os.mkdir(parts)
    try:
        jobs = {p: parts / str(n) for n, p in enumerate(paths)}
        with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            sized = dict(zip(jobs, pool.map(lambda p: _deflate(p, jobs[p], p.suffix != ".parquet"), jobs), strict=True))
        with zipfile.ZipFile(target, "w", allowZip64=True) as zf:
            for path in paths:
                size, crc, compressed = sized[path]
                info = zipfile.ZipInfo.from_file(path, f"{top}/{path.relative_to(folder).as_posix()}")
                info.compress_type = zipfile.ZIP_DEFLATED if path.suffix != ".parquet" else zipfile.ZIP_STORED
                info.file_size, info.CRC, info.compress_size = size, crc, compressed
                _put_compressed(zf, info, jobs[path] if path.suffix != ".parquet" else path)
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def _deflate(src: Path, dst: Path, compress: bool) -> tuple[int, int, int]:
    """src as a raw deflate stream in dst (or only measured, stored as it is): size, crc32, stored size."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15) if compress else None
    size = crc = stored = 0
    with open(src, "rb") as f, open(dst, "wb") if compressor else open(os.devnull, "wb") as out:
        while chunk := f.read(_FLUSH):
            size += len(chunk)
            crc = zlib.crc32(chunk, crc)
            if compressor is not None:
                data = compressor.compress(chunk)
                out.write(data)
                stored += len(data)
        if compressor is not None:
            data = compressor.flush()
            out.write(data)
            stored += len(data)
    return size, crc, stored if compressor is not None else size


def _put_compressed(zf: Any, info: Any, data: Path) -> None:
    """Append an entry whose data is compressed already (zipfile compresses in the writing thread
    only): its local header, then the bytes; ZipFile.close() writes the central directory."""
    import zipfile

    zip64 = info.file_size > zipfile.ZIP64_LIMIT or info.compress_size > zipfile.ZIP64_LIMIT
    with zf._lock:
        zf.fp.seek(zf.start_dir)
        info.header_offset = zf.fp.tell()
        zf._writecheck(info)
        zf._didModify = True
        zf.fp.write(info.FileHeader(zip64))
        with open(data, "rb") as f:
            shutil.copyfileobj(f, zf.fp, _FLUSH)
        zf.filelist.append(info)
        zf.NameToInfo[info.filename] = info
        zf.start_dir = zf.fp.tell()


def _pointer(dest: Path) -> Path:
    return dest.parent / f".{dest.name}.current"


def _ours(dest: Path) -> bool:
    """dest is the symlink an export made (through its pointer)."""
    return dest.is_symlink() and os.readlink(dest) == f"{_pointer(dest).name}/{dest.name}"


def check_destination(dest: Path) -> None:
    if _ours(dest):
        return
    if dest.exists() and not dest.is_dir():
        raise ExportError(f"{dest} is a file; choose a folder name for the export")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / "manifest.json").is_file():
        raise ExportError(
            f"{dest} already holds files that are not an earlier export (no manifest.json); "
            "choose another folder, the export replaces what is there"
        )


@contextmanager
def locked(parent: Path) -> Iterator[None]:
    """Hold the exports' lock on `parent` (waits for another export there to finish)."""
    fd = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_leftovers(dest: Path) -> None:
    """Everything an earlier export of dest left behind but the generation in place: generations not
    pointed at, temporary links, and the temporary folders of the layout before generations. Call it
    holding locked(dest.parent)."""
    pointer = _pointer(dest)
    current = os.readlink(pointer) if pointer.is_symlink() else None
    for pattern in (
        f".{dest.name}.gen-*",
        f".{dest.name}.current.new-*",
        f".{dest.name}.tmp-*",
        f".{dest.name}.old-*",
        f".{dest.name}.zip.tmp-*",
    ):
        for path in dest.parent.glob(pattern):
            if path.name != current:
                _remove(path)


class Generation:
    """A new export of dest being written: `folder` is <gen>/<name>, `zip_path` <gen>/<name>.zip."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.root = dest.parent / f".{dest.name}.gen-{secrets.token_hex(6)}"
        os.mkdir(self.root)  # the umask's mode (mkdtemp would make it 0700)
        self.folder = self.root / dest.name
        os.mkdir(self.folder)
        self.zip_path = self.root / f"{dest.name}.zip"

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def publish(self) -> None:
        """Put this generation in place of the earlier one: the folder and the zip switch together."""
        dest, pointer = self.dest, _pointer(self.dest)
        zip_link = dest.parent / f"{dest.name}.zip"
        if dest.exists() and not dest.is_symlink():
            # the layout before generations: a real folder. Moved aside once (not atomically), its
            # zip goes when the link replaces it below
            os.rename(dest, dest.parent / f".{dest.name}.old-{secrets.token_hex(6)}")
        for link, target in ((dest, f"{pointer.name}/{dest.name}"), (zip_link, f"{pointer.name}/{dest.name}.zip")):
            if not (link.is_symlink() and os.readlink(link) == target):
                _replace_link(link, target, dest.name)
        _replace_link(pointer, self.root.name, dest.name)  # the switch: one rename
        clean_leftovers(dest)


def _replace_link(link: Path, target: str, name: str) -> None:
    tmp = link.parent / f".{name}.current.new-{secrets.token_hex(6)}"
    try:
        os.symlink(target, tmp)
        os.replace(tmp, link)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(
            f"cannot put the finished export in place at {link} ({exc.strerror}); the earlier export is "
            "unchanged, try again"
        ) from None


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
