"""An export in place is replaced as a whole: the folder and its zip switch together, a `kill -9` at any
step leaves the earlier export or the new one complete, the next export removes every leftover
whatever its age, files get the umask's modes; and the store is read in pages (bounded memory)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest

import lib.export as ex
from lib.core.models import Conversation
from lib.core.seeds import load_seeds
from lib.core.taxonomy import Taxonomy
from lib.store.postgres import PostgresStore
from tests.conftest import ROOT
from tests.test_export import EXPORT_LAYOUT, layout


@pytest.fixture(scope="module")
def seeds() -> list[Conversation]:
    return load_seeds().conversations


def consistent(parent: Path) -> dict[str, Any] | None:
    """The export in place, checked whole: its folder matches its manifest and its zip holds the same
    manifest; None when there is none."""
    out, zip_path = parent / "out", parent / "out.zip"
    if not out.exists():
        assert not zip_path.exists(), "a zip without its folder"
        return None
    manifest = ex.read_manifest(out)
    assert manifest is not None and ex.verify(out) == []
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.read("out/manifest.json") == (out / "manifest.json").read_bytes(), "the folder and zip differ"
    return manifest


# the child exports the seeds (3 of them: the earlier export has 10) and kills itself at the k-th
# step that changes what a reader sees: a rename, a link, a removal, the zip
CHILD = textwrap.dedent(
    """
    import os, shutil, signal, sys
    import lib.export as ex
    from lib.export import pipeline
    from lib.core.seeds import load_seeds
    from lib.core.taxonomy import load_taxonomy

    kill_at, dest = int(sys.argv[1]), sys.argv[2]
    calls = [0]

    def deadly(fn):
        def step(*args, **kwargs):
            calls[0] += 1
            if calls[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)
        return step

    os.rename, os.replace, os.symlink = deadly(os.rename), deadly(os.replace), deadly(os.symlink)
    shutil.rmtree, os.unlink = deadly(shutil.rmtree), deadly(os.unlink)
    pipeline.zip_folder = deadly(pipeline.zip_folder)
    pipeline.write_files = deadly(pipeline.write_files)
    rows = ex.rows_from_conversations(load_seeds().conversations[:3], scenario_ids=[1, 2, 3])
    ex.export(rows, ex.ExportOptions(), load_taxonomy(), dest)
    print("finished", calls[0])
    """
)


def test_a_kill_at_any_step_leaves_one_complete_export_and_the_next_run_tidies(
    tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]
) -> None:
    rows = ex.rows_from_conversations(seeds, scenario_ids=list(range(1, 11)))
    dest = tmp_path / "out"
    kill_at, seen = 1, set()
    while True:
        ex.export(rows, ex.ExportOptions(), db_tax, dest)  # the earlier export: 10 conversations
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(kill_at), str(dest)], cwd=ROOT, capture_output=True, text=True
        )
        manifest = consistent(tmp_path)
        assert manifest is not None
        seen.add(manifest["counts"]["conversations"])
        if done.returncode == 0:
            assert "finished" in done.stdout and manifest["counts"]["conversations"] == 3
            break
        assert done.returncode == -signal.SIGKILL, done.stderr
        kill_at += 1
        assert kill_at < 40, "the export never finished"
    assert seen == {10, 3} and kill_at > 5  # killed before and after the switch
    ex.export(rows, ex.ExportOptions(), db_tax, dest)
    assert layout(tmp_path) == EXPORT_LAYOUT


def test_leftovers_of_a_killed_export_go_whatever_their_age(
    tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]
) -> None:
    rows = ex.rows_from_conversations(seeds[:3], scenario_ids=[1, 2, 3])
    ex.export(rows, ex.ExportOptions(), db_tax, tmp_path / "out")
    for name in (".out.gen-0123456789ab", ".out.tmp-1-2", ".out.old-1-2"):
        (tmp_path / name / "data").mkdir(parents=True)
        (tmp_path / name / "data" / "big.parquet").write_bytes(b"x" * 1000)
    (tmp_path / ".out.zip.tmp-1-2").write_bytes(b"partial zip")
    os.symlink(".out.gen-0123456789ab", tmp_path / ".out.current.new-0123")
    ex.export(rows, ex.ExportOptions(), db_tax, tmp_path / "out")  # seconds later: young leftovers too
    assert layout(tmp_path) == EXPORT_LAYOUT
    assert consistent(tmp_path) is not None


def test_an_export_of_the_layout_before_links_replaces_the_folder_and_zip(
    tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]
) -> None:
    old = tmp_path / "out"
    old.mkdir()
    (old / "manifest.json").write_text('{"files": []}')
    (tmp_path / "out.zip").write_bytes(b"an old zip")
    rows = ex.rows_from_conversations(seeds[:3], scenario_ids=[1, 2, 3])
    result = ex.export(rows, ex.ExportOptions(), db_tax, old)
    assert result.counts["conversations"] == 3 and consistent(tmp_path) is not None
    assert layout(tmp_path) == EXPORT_LAYOUT


def test_files_and_folders_follow_the_umask(tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]) -> None:
    rows = ex.rows_from_conversations(seeds[:3], scenario_ids=[1, 2, 3])
    previous = os.umask(0o027)
    try:
        result = ex.export(rows, ex.ExportOptions(), db_tax, tmp_path / "out")
    finally:
        os.umask(previous)
    assert result.zip_path is not None
    paths = [result.path.resolve(), result.path.resolve().parent, *result.path.resolve().rglob("*")]
    for path in [*paths, result.zip_path.resolve()]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o750 if path.is_dir() else 0o640), (path, oct(mode))


def test_without_a_zip_no_earlier_zip_is_left_beside_the_folder(
    tmp_path: Path, db_tax: Taxonomy, seeds: list[Conversation]
) -> None:
    rows = ex.rows_from_conversations(seeds[:3], scenario_ids=[1, 2, 3])
    ex.export(rows, ex.ExportOptions(), db_tax, tmp_path / "out")
    result = ex.export(rows, ex.ExportOptions(), db_tax, tmp_path / "out", make_zip=False)
    assert result.zip_path is None and not (tmp_path / "out.zip").exists()
    assert ex.verify(result.path) == []


def test_the_store_is_read_in_pages(
    store: PostgresStore, db_tax: Taxonomy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lib.store.boot import SEEDS_DIR, import_seeds

    import_seeds(store, SEEDS_DIR, db_tax)
    pages: list[int] = []
    read = store.export_conversations

    def spy(*args: Any, **kwargs: Any) -> Any:
        rows = read(*args, **kwargs)
        pages.append(len(rows))
        return rows

    monkeypatch.setattr(store, "export_conversations", spy)
    monkeypatch.setattr(ex.select, "BATCH", 3)
    whole = read({}, ["approved"])
    result = ex.run(store, ex.ExportOptions(), db_tax, tmp_path / "seeds")
    assert pages == [3, 3, 3, 1] and result.counts["conversations"] == len(whole) == 10
    ids = [r["id"] for part in ("train", "test") for r in ex.preview(result.path, 10).get(f"messages/{part}.jsonl", [])]
    assert sorted(ids) == sorted(ex.prepare(whole)[0][i].id for i in range(10))


def test_only_hub_license_ids_are_accepted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a Hub license id"):
        ex.ExportOptions(license="my-own-terms")
    done = subprocess.run(
        [sys.executable, "-m", "lib", "export", "--from", "seeds", "--license", "my-own-terms", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "invalid choice" in done.stderr and "cc-by-4.0" in done.stderr
