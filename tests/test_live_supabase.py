"""Store contract tests against a real Supabase project (marked `live`). Skipped unless
SUPABASE_TEST_URL and SUPABASE_TEST_KEY (the project's service-role key: the tests write and
clean up) are set. The project must have the migrations applied (`supabase db push`).

    SUPABASE_TEST_URL=https://<ref>.supabase.co SUPABASE_TEST_KEY=<service_role key> pytest -m live tests/test_live_supabase.py
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from lib.store.calls import Eq, Read
from lib.store.migrate import discover
from lib.store.protocol import SCENARIO_COLUMNS, Store
from lib.store.supabase import SupabaseStore
from lib.core.taxonomy import Taxonomy
from tests.conftest import make_conversation, scenario_rows

URL, KEY = os.environ.get("SUPABASE_TEST_URL", ""), os.environ.get("SUPABASE_TEST_KEY", "")
pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not (URL and KEY), reason="set SUPABASE_TEST_URL and SUPABASE_TEST_KEY to run")]


@pytest.fixture
def live() -> Iterator[SupabaseStore]:
    store = SupabaseStore(URL, KEY)
    batch = f"live-test-{uuid.uuid4().hex[:8]}"
    store.batch = batch  # type: ignore[attr-defined]
    try:
        yield store
    finally:  # the service role may delete what the test added
        mine = store.read_rows(Read("scenarios", "clean up", columns=("id",)), [Eq("plan_batch", batch)], None, "clean up")
        ids = [r["id"] for r in mine]
        if ids:
            store._run("clean up", lambda: store._client.table("generation_job_items").delete().in_("scenario_id", ids))
            store._run("clean up", lambda: store._client.table("conversations").delete().in_("scenario_id", ids))
            store._run("clean up", lambda: store._client.table("scenarios").delete().in_("id", ids))
        store.close()


def test_the_project_has_every_migration(live: SupabaseStore) -> None:
    info = live.describe()
    assert isinstance(live, Store)
    assert info.server_version.startswith("PostgreSQL")
    assert {m.version for m in discover()} <= set(info.migrations)
    assert set(info.counts) >= {"scenarios", "conversations", "members"}


def test_scenarios_jobs_and_conversations_round_trip(live: SupabaseStore, db_tax: Taxonomy) -> None:
    ids = live.add_scenarios(scenario_rows(db_tax, 2), plan_batch=live.batch, origin="manual")  # type: ignore[attr-defined]
    assert len(ids) == 2
    rows = live.list_scenarios({"ids": ids})
    assert [r["id"] for r in rows] == ids and set(SCENARIO_COLUMNS) <= set(rows[0])
    job = live.create_job([ids[0]], created_by="live test")
    assert live.get_job(job)["total_items"] == 1  # type: ignore[index]
    [item] = live.claim_items("live-worker", job_id=job)
    scn = live.get_scenario(ids[0])
    assert scn is not None
    conv_id = f"live-{uuid.uuid4().hex[:8]}"
    assert live.save_generated(make_conversation(scn, conv_id), item_id=item.id, worker="live-worker") == conv_id
    assert live.get_conversation(conv_id) is not None
    assert len(live.conversation_turn_rows(conv_id)) == 4
    assert live.record_review(conv_id, "approved", reviewer="live test") > 0
    assert live.get_scenario(ids[0])["status"] == "approved"  # type: ignore[index]
    assert live.export_counts({"ids": ids}) == {"approved": 1}
    [row] = live.export_conversations({"ids": ids})
    assert row.scenario_id == ids[0]
    assert live.coverage_version()
    assert live.generation_stats()["conversations"] >= 1
