"""`python -m lib judge`: one line per conversation file, against the fake Anthropic server."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lib.core.rubric import default_rubric
from lib.core.taxonomy import Taxonomy
from lib.generation import judge_cli
from lib.store.protocol import StoreUnavailable
from tests.fake_anthropic import FakeAnthropic

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake(tax: Taxonomy) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(tax) as server:
        yield server


@pytest.fixture
def env(fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The fake as the judge's endpoint, and nothing of the developer's settings."""
    for name in list(os.environ):
        if name.startswith(("ANTHROPIC_", "BRIGHTRUN_", "SUPABASE_", "DATABASE_URL")):
            monkeypatch.delenv(name)
    monkeypatch.setattr("lib.config.SECRETS_FILE", ROOT / "tests" / "no-secrets.toml")
    monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
    return {"ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.url}


def test_judge_from_seeds_prints_one_line_per_file(env: dict[str, str], fake: FakeAnthropic) -> None:
    child = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "BRIGHTRUN_", "DATABASE_URL"))}
    proc = subprocess.run([sys.executable, "-m", "lib", "judge", "--from", "seeds"], cwd=ROOT, env={**child, **env},
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    files = sorted(p.name for p in (ROOT / "seeds").glob("*.json"))
    assert [line.split()[0] for line in lines] == [f"seeds/{f}" for f in files]
    for line in lines:
        assert all(f" {c} " in line for c in default_rubric().ids) and "  ok  $" in line
    assert "10 judged, 0 flagged, 0 without a verdict; 10 requests" in proc.stderr
    assert fake.api_key not in proc.stdout + proc.stderr
    assert len(fake.message_requests()) == 10


def test_flagged_and_unreadable_files_have_their_line_and_the_exit_status_says_so(
        env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(ROOT / "seeds" / "seed-01-anxious-first-portfolio.json", tmp_path / "a-clean.json")
    doc: dict[str, Any] = json.loads((ROOT / "seeds" / "seed-06-retiree-market-drop.json").read_text())
    doc["turns"][3]["text"] += " Stay in: the market is guaranteed to recover by spring and you can't lose."
    (tmp_path / "b-promise.json").write_text(json.dumps(doc))
    (tmp_path / "c-broken.json").write_text('{"id": "x", "turns": [')
    (tmp_path / "d-not-a-conversation.json").write_text('{"id": "x"}')
    assert judge_cli.main([str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(f"{tmp_path}/a-clean.json  empathy ") and "  ok  $" in lines[0]
    assert "FLAGGED: safety 1/5, below 4 (hard rule)" in lines[1]
    assert lines[2] == (f"{tmp_path}/c-broken.json  error: not valid JSON (Expecting value: line 1 column 23 "
                        "(char 22)); fix the file there")
    assert lines[3].startswith(f"{tmp_path}/d-not-a-conversation.json  error: dataset: Field required")
    assert "2 judged, 1 flagged, 0 without a verdict; 2 requests" in err


def test_without_a_key_nothing_runs(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert judge_cli.main(["--from", "seeds"]) == 2
    assert "error: no Anthropic API key: set ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_without_a_database_the_stored_conversations_say_why(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    def unreachable(settings: Any) -> None:
        raise StoreUnavailable("cannot reach the database at postgresql://db:5432/x; check that it is running")

    monkeypatch.setattr("lib.store.open_store", unreachable)
    assert judge_cli.main(["--limit", "5"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: cannot reach the database at postgresql://db:5432/x; check that it is running"
