"""The failure kinds of contrastive responses are taxonomy data: read, checked, and optional."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lib.core.taxonomy import TaxonomyError, load_taxonomy

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "taxonomy"
    shutil.copytree(ROOT / "taxonomy", target)
    return target


def test_the_shipped_kinds_suit_the_emotions_they_name() -> None:
    failures = load_taxonomy().failures
    assert [k.id for k in failures.kinds] == [
        "premature_advice", "minimising", "false_reassurance", "lecturing", "over_referral", "off_voice"]
    assert "minimising" in [k.id for k in failures.suited_to("grief")]
    assert "minimising" not in [k.id for k in failures.suited_to("curiosity")]
    assert failures.target_pairs_per_emotion > 0


def test_an_unknown_emotion_is_named_with_its_place(folder: Path) -> None:
    data = yaml.safe_load((folder / "failures.yaml").read_text())
    data["failures"]["kinds"][1]["suits"].append("melancholy")
    (folder / "failures.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(TaxonomyError, match=r"failures\.yaml: failures\.kinds\[1\]\.suits\[6\]: unknown emotion 'melancholy'"):
        load_taxonomy(folder)


def test_a_duplicate_kind_is_refused(folder: Path) -> None:
    data = yaml.safe_load((folder / "failures.yaml").read_text())
    data["failures"]["kinds"].append(data["failures"]["kinds"][0])
    (folder / "failures.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(TaxonomyError, match="duplicate failure kind 'premature_advice'"):
        load_taxonomy(folder)


def test_a_kind_without_the_emotions_it_suits_is_refused(folder: Path) -> None:
    data = yaml.safe_load((folder / "failures.yaml").read_text())
    data["failures"]["kinds"][0]["suits"] = []
    (folder / "failures.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(TaxonomyError, match=r"failures\.kinds\[0\]\.suits: List should have at least 1 item"):
        load_taxonomy(folder)


def test_without_the_file_there_are_no_failure_kinds(folder: Path) -> None:
    (folder / "failures.yaml").unlink()
    assert load_taxonomy(folder).failures.kinds == []
