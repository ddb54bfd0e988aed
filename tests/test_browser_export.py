"""A person exports the approved seeds in a browser: build, preview, download the zip."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.browser_app import ROOT, grids_ready, next_frames, screenshot, settle

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif("pages/export.py" not in (ROOT / "app.py").read_text(),
                       reason="the Export page is not registered in app.py yet"),
]


def test_build_preview_and_download_the_export(page: Any, app_url: str, tmp_path: Path) -> None:
    page.goto(f"{app_url}/export")
    settle(page, 120_000)
    page.get_by_text("conversations match (10 approved)").wait_for(timeout=60_000)
    page.get_by_role("button", name="Build export").click()
    page.get_by_text("Exported 10 conversations").wait_for(timeout=120_000)
    settle(page)
    page.get_by_text("Preview").scroll_into_view_if_needed()
    grids_ready(page)
    next_frames(page)
    screenshot(page, "export-built")
    button = page.locator('[data-testid="stDownloadButton"] button')
    assert "brightrun-approved.zip" in button.inner_text()
    with page.expect_download() as download:
        button.click()
    target = tmp_path / "export.zip"
    download.value.save_as(target)
    with zipfile.ZipFile(target) as zf:
        names = set(zf.namelist())
        assert {"brightrun-approved/manifest.json", "brightrun-approved/README.md",
                "brightrun-approved/messages/train.jsonl"} <= names
        manifest = json.loads(zf.read("brightrun-approved/manifest.json"))
    assert manifest["counts"]["conversations"] == 10
