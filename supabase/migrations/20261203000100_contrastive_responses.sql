-- Contrastive responses: for an assistant turn of a conversation version, a *failed* answer of a named
-- kind (taxonomy/failures.yaml: premature advice, minimising, false reassurance...) and why it fails.
-- With the turn it replaces it is a preference pair (chosen = the conversation's turn, rejected = this
-- text). A reviewer accepts or rejects the contrast; only accepted ones are exported, and never into the
-- supervised (SFT) files. A contrastive job (generation_jobs.task = 'contrast') writes them, one item
-- per conversation (item.conversation_id), so a row points back at the item that produced it.
create table if not exists public.contrastive_responses (
  id              bigint generated always as identity primary key,
  conversation_id text not null references public.conversations (id),
  turn_idx        integer not null check (turn_idx >= 0),
  failure_kind    text not null check (failure_kind ~ '^[a-z][a-z0-9_]{0,63}$'),
  text            text not null check (btrim(text) <> '' and length(text) <= 10000),
  why             text not null check (btrim(why) <> '' and length(why) <= 2000),
  status          text not null default 'proposed'
                  constraint contrastive_responses_status_check check (status in ('proposed', 'accepted', 'rejected')),
  reviewed_by     text check (length(reviewed_by) <= 200),
  reviewed_at     timestamptz,
  review_note     text not null default '' check (length(review_note) <= 10000),
  model           text,
  prompt_sha256   text check (prompt_sha256 ~ '^[0-9a-f]{64}$'),
  job_item_id     bigint references public.generation_job_items (id) on delete set null,
  input_tokens    integer not null default 0 check (input_tokens >= 0),
  output_tokens   integer not null default 0 check (output_tokens >= 0),
  cost_usd        numeric(12, 6) not null default 0 check (cost_usd >= 0),
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  constraint contrastive_responses_reviewed
    check ((status = 'proposed') = (reviewed_by is null and reviewed_at is null))
);
create index if not exists contrastive_responses_conversation_idx
  on public.contrastive_responses (conversation_id, turn_idx);
create index if not exists contrastive_responses_status_idx on public.contrastive_responses (status);
create index if not exists contrastive_responses_job_item_idx
  on public.contrastive_responses (job_item_id) where job_item_id is not null;
drop trigger if exists contrastive_responses_touch on public.contrastive_responses;
create trigger contrastive_responses_touch before update on public.contrastive_responses
  for each row execute function app_private.touch_updated_at();

-- Members read them; writes go through functions that check the caller's role (none here: the
-- functions that write them come with the contrastive jobs and the reviewer's decision).
alter table public.contrastive_responses enable row level security;
drop policy if exists contrastive_responses_service_all on public.contrastive_responses;
drop policy if exists contrastive_responses_members_read on public.contrastive_responses;
create policy contrastive_responses_service_all on public.contrastive_responses
  for all to service_role using (true) with check (true);
create policy contrastive_responses_members_read on public.contrastive_responses
  for select to authenticated using ((select public.has_role('viewer')));

revoke all on public.contrastive_responses from public, anon, authenticated;
grant select on public.contrastive_responses to authenticated;
grant select, insert, update, delete on public.contrastive_responses to service_role;

-- A job that writes contrastive responses for the items' conversations.
alter table public.generation_jobs drop constraint if exists generation_jobs_task_check;
alter table public.generation_jobs add constraint generation_jobs_task_check
  check (task in ('generate', 'judge', 'contrast'));
