"""Hosted mode (Supabase) under AppTest: every page, rendered as a signed-in operator against the
recording Supabase stub, does its reads and its writes (a review decision, a seed example, a label
correction, a regeneration, the coverage counts, starting and stopping a generation, an export)
with that person's access token. Regression: Review's buttons and the Coverage counts went through a store
without the sign-in, which the database refuses as anonymous."""
from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lib.config import Settings
from lib.core.taxonomy import Taxonomy
from lib.store.boot import open_store
from lib.ui.auth import AuthSession
from tests.conftest import ROOT
from tests.supabase_stub import FAKE_ACCESS_TOKEN, FAKE_ANON_KEY, SupabaseStub, table_rows

PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))
EMAIL = "olive@example.com"
USER_ID = "00000000-0000-4000-8000-0000000000aa"
JOB = 7
READ_ONLY = ("v_scenarios", "v_review_queue", "v_generation_jobs", "conversations", "conversation_turns", "reviews",
             "label_revisions", "conversation_metadata", "generation_job_items", "members")


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A row as PostgREST sends it: times as ISO text."""
    return json.loads(json.dumps(row, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))


@pytest.fixture
def stub(app_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: Any) -> Iterator[SupabaseStub]:
    """A Supabase stub that answers with the rows of a database booted as a first start (10 approved
    seeds, 90 scenarios) and one running job; the app set up for hosted mode against it."""
    db = open_store(Settings.load())
    try:
        with db.connection("read the tables") as conn:
            tables = {name: [_jsonable(r) for r in conn.execute(f"select * from public.{name}")]
                      for name in READ_ONLY}
        rules = db.describe()
        coverage = db.coverage_counts()
    finally:
        db.close()
    now = datetime.now().astimezone().isoformat()
    tables["v_generation_jobs"] = [{
        "id": JOB, "kind": "realtime", "status": "running", "batch_id": None, "batch_status": None, "model": "m",
        "settings": {}, "created_by": EMAIL, "total_items": 3, "error": None, "created_at": now, "started_at": now,
        "finished_at": None, "updated_at": now, "pending_items": 3, "claimed_items": 0, "succeeded_items": 0,
        "failed_items": 0, "cancelled_items": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}]
    with SupabaseStub() as s:
        for name, rows in tables.items():
            s.table(name, table_rows(rows))
        for name, value in {
            "store_info": {"server_version": rules.server_version, "counts": rules.counts,
                           "migrations": rules.migrations},
            "whoami": [{"user_id": USER_ID, "email": EMAIL, "display_name": None, "role": "operator"}],
            "coverage_version": "v1", "coverage_counts": [_jsonable(r) for r in coverage],
            "scenario_status_counts": [{"status": "not_generated", "n": 80}, {"status": "approved", "n": 10}],
            "label_correction_stats": [], "generation_stats": {"conversations": 0},
            "record_review": 11, "revise_label": 12, "set_seed_example": True, "create_job": JOB, "stop_job": 3,
            "double_review_share": 0.1, "second_review_ids": [], "agreement_decisions": [], "agreement_labels": [],
        }.items():
            s.rpc(name, value)
        monkeypatch.delenv("DATABASE_URL")
        monkeypatch.setenv("SUPABASE_URL", s.url)
        monkeypatch.setenv("SUPABASE_KEY", FAKE_ANON_KEY)  # no service-role key: no worker, only the user
        # a job starts after the preflight call reaches the endpoint: the fake server answers it
        monkeypatch.setenv("ANTHROPIC_API_KEY", fake.api_key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv("BRIGHTRUN_DATA_DIR", str(tmp_path / "data"))
        st.cache_resource.clear()
        st.cache_data.clear()
        yield s


def signed_in(page: str, **state: Any) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)
    at.session_state["br_auth"] = AuthSession(access_token=FAKE_ACCESS_TOKEN, refresh_token="fake-refresh-token",
                                              expires_at=time.time() + 3600, user_id=USER_ID, email=EMAIL,
                                              role="operator").model_dump()
    at.session_state["br_reviewer"] = EMAIL
    for key, value in state.items():
        at.session_state[key] = value
    return ok(at.run())


def ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    assert not [e.value for e in at.error], [e.value for e in at.error]
    return at


def click(at: AppTest, *, key: str | None = None, label: str | None = None) -> AppTest:
    button = at.button(key=key) if key else next(b for b in at.button if b.label == label)
    assert not button.disabled, f"{key or label} is disabled"
    return ok(button.click().run())


def rpcs(stub: SupabaseStub) -> list[str]:
    return [r.rpc for r in stub.requests if r.rpc]


def test_every_page_reads_and_writes_as_the_signed_in_user(stub: SupabaseStub, db_tax: Taxonomy) -> None:
    for page in PAGES:  # every page renders, with its reads
        signed_in(page)
    signed_in("settings.py")
    assert "store_info" in rpcs(stub)

    at = signed_in("review.py")  # the default queue is empty: the seeds are approved
    click(at, label="Review the seeds")
    cid = str(at.session_state["br_review_current"])
    assert cid.startswith("seed-")
    at.toggle(key="rv_advance").set_value(False)
    click(at, key="rv_approve")
    assert "record_review" in rpcs(stub)
    seed = at.toggle(key=f"rv_seed_{cid}")
    ok(seed.set_value(not seed.value).run())
    assert "set_seed_example" in rpcs(stub)
    at.session_state[f"rv_pop_{cid}_0"] = True  # open turn 0's "Correct labels"
    ok(at.run())
    emotion = at.selectbox(key=f"rv_{cid}_0_emotion")
    new = next(e for e in db_tax.emotions if e.id != emotion.value and e.sub_emotions)
    ok(emotion.set_value(new.id).run())
    ok(at.selectbox(key=f"rv_{cid}_0_sub_{new.id}").set_value(new.sub_emotions[0]).run())  # asked, not cleared
    click(at, key=f"rv_{cid}_0_save")
    revision = next(r.body for r in stub.requests if r.rpc == "revise_label")
    assert revision["p_conversation_id"] == cid and revision["p_field"] == "emotion.primary"
    at.text_area(key=f"rv_notes_{cid}").input("Make turn 2 less formal.")
    click(at, key="rv_regenerate")
    [regeneration] = [r.body for r in stub.requests if r.rpc == "create_job"]
    assert regeneration["p_feedback"] == "Make turn 2 less formal."

    signed_in("coverage.py")
    assert "coverage_counts" in rpcs(stub)

    at = signed_in("scenarios.py", br_focus=1)
    click(at, key="gen_one")  # generate scenario #1 again
    assert [r.body["p_scenario_ids"] for r in stub.requests if r.rpc == "create_job"][-1] == [1]

    at = signed_in("generate.py")
    click(at, key=f"stop_{JOB}")
    assert "stop_job" in rpcs(stub)

    at = signed_in("export.py")
    click(at, label="Build export")
    assert any(r.table == "conversations" and ("select", "id,version,document") in r.query for r in stub.requests)
    assert any("Exported 10 conversations" in s.value for s in at.success)

    signed_in("../app.py")  # the sidebar's summary too
    sent = [r for r in stub.requests if r.path.startswith("/rest/v1/")]
    assert len(sent) > 50
    anonymous = sorted({f"{r.method} {r.path}" for r in sent if r.headers.get("authorization")
                        != f"Bearer {FAKE_ACCESS_TOKEN}"})
    assert anonymous == [], "sent without the signed-in user's token"
    assert {r.headers.get("apikey") for r in sent} == {FAKE_ANON_KEY}
    assert os.environ.get("SUPABASE_SERVICE_ROLE_KEY") is None
