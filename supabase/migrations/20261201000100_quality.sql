-- Quality ratings: an LLM judge (lib/generation/judge.py) and people rate each conversation version
-- against the rubric (taxonomy/rubric.yaml), and the judge suggests label corrections.
--
-- - conversation_ratings: one row per (rating run, criterion). `source` says who rated: 'judge' or
--   'human'. Rows are history (append-only): a new run adds rows, and a judge's run never replaces
--   a person's rating. Each row keeps the pass mark and hardness the rubric gave its criterion when
--   it was rated, so the flag below needs no rubric table and survives a rubric change.
-- - conversation_label_findings: the labels a judge run would change (turn, field, current and
--   suggested value, why). Suggestions only: a reviewer applies one with revise_label().
-- - v_ratings_in_force: per conversation and criterion, the rating that counts: the latest human
--   rating, else the one from the latest judge run.
-- - v_conversation_quality: per conversation, the lowest rating in force, flagged (any rating below
--   its pass mark), hard_failed, and the reasons, for the Review queue and the export filters.
--   lib/core/rubric.py (Rubric.assess) applies the same rule and writes reasons the same way.
-- - save_judge_result(): a judge run's model-call log rows and its ratings and findings, in one
--   transaction. record_human_rating(): a person's rating of one criterion.
-- - conversation_ratings_of(), label_findings_of(), conversations_to_judge(): the reads.

-- The judge's model calls are logged with the generation's: purpose 'judge'. The constraint is found
-- by its column rather than by name, so this works whatever an earlier file called it.
do $$
declare
  v_name text;
begin
  for v_name in
    select con.conname from pg_constraint con
     where con.conrelid = 'public.generation_logs'::regclass and con.contype = 'c'
       and pg_get_constraintdef(con.oid) like '%purpose%'
  loop
    execute format('alter table public.generation_logs drop constraint %I', v_name);
  end loop;
end $$;
alter table public.generation_logs add constraint generation_logs_purpose_check
  check (purpose in ('generate', 'repair', 'batch_submit', 'batch_poll', 'count_tokens', 'judge'));

-- =============================================================================================
-- Tables
-- =============================================================================================
create table public.conversation_ratings (
  id                bigint generated always as identity primary key,
  conversation_id   text not null references public.conversations (id),
  run_id            uuid not null,  -- the rows of one judge call or one human rating share it
  source            text not null constraint conversation_ratings_source_check check (source in ('judge', 'human')),
  criterion         text not null check (criterion ~ '^[a-z][a-z0-9_]*$'),
  score             smallint not null check (score between 1 and 5),
  reason            text not null default '',
  cited_turns       integer[] not null default '{}' check (0 <= all (cited_turns)),
  pass_at           smallint not null check (pass_at between 1 and 5),
  hard              boolean not null default false,
  rater             text not null check (btrim(rater) <> ''),  -- the model id, or the person's name
  rater_id          uuid,                                      -- the signed-in person (hosted mode)
  rubric_id         text,
  rubric_version    text,
  prompt_name       text,                                      -- the judge's prompt template
  prompt_version    text,
  prompt_sha256     text check (prompt_sha256 ~ '^[0-9a-f]{64}$'),
  generation_log_id bigint references public.generation_logs (id) on delete set null,
  created_at        timestamptz not null default now(),
  constraint conversation_ratings_judge_has_prompt check (source <> 'judge' or prompt_sha256 is not null)
);
create index conversation_ratings_conversation_idx on public.conversation_ratings (conversation_id, source, created_at desc);
create index conversation_ratings_run_idx on public.conversation_ratings (run_id);
create trigger conversation_ratings_append_only before update or delete on public.conversation_ratings
  for each row execute function app_private.forbid_change();

create table public.conversation_label_findings (
  id              bigint generated always as identity primary key,
  conversation_id text not null references public.conversations (id),
  run_id          uuid not null,  -- the judge run (conversation_ratings.run_id) that found it
  turn_idx        integer not null check (turn_idx >= 0),
  field           text not null check (field in (
                    'emotion.primary', 'emotion.secondary', 'emotion.sub_emotion', 'emotion.intensity',
                    'emotion.valence', 'emotion.arousal', 'strategies.primary', 'strategies.supporting')),
  current_value   jsonb,
  suggested_value jsonb,
  reason          text not null default '',
  rater           text not null check (btrim(rater) <> ''),
  created_at      timestamptz not null default now()
);
create index conversation_label_findings_conversation_idx on public.conversation_label_findings (conversation_id, created_at desc);
create trigger conversation_label_findings_append_only before update or delete on public.conversation_label_findings
  for each row execute function app_private.forbid_change();

-- =============================================================================================
-- Row level security and grants: members read; writes only through the functions below
-- =============================================================================================
do $$
declare
  t text;
begin
  foreach t in array array['conversation_ratings', 'conversation_label_findings']
  loop
    execute format('alter table public.%I enable row level security', t);
    execute format('create policy %I on public.%I for all to service_role using (true) with check (true)',
                   t || '_service_all', t);
    execute format('create policy %I on public.%I for select to authenticated using ((select public.has_role(''viewer'')))',
                   t || '_members_read', t);
  end loop;
end $$;

revoke all on public.conversation_ratings, public.conversation_label_findings from anon;
revoke insert, update, delete on public.conversation_ratings, public.conversation_label_findings from authenticated;
grant select on public.conversation_ratings, public.conversation_label_findings to authenticated;
grant select, insert, update, delete on public.conversation_ratings, public.conversation_label_findings to service_role;

-- =============================================================================================
-- Views
-- =============================================================================================
create or replace view public.v_ratings_in_force with (security_invoker = on) as
with latest_judge_run as (
  select distinct on (r.conversation_id) r.conversation_id, r.run_id
    from public.conversation_ratings r
   where r.source = 'judge'
   order by r.conversation_id, r.created_at desc, r.id desc
), latest_human as (
  select distinct on (r.conversation_id, r.criterion) r.*
    from public.conversation_ratings r
   where r.source = 'human'
   order by r.conversation_id, r.criterion, r.created_at desc, r.id desc
)
select h.* from latest_human h
union all
select r.*
  from public.conversation_ratings r
  join latest_judge_run j on j.conversation_id = r.conversation_id and j.run_id = r.run_id
 where not exists (select 1 from latest_human h where h.conversation_id = r.conversation_id and h.criterion = r.criterion);

create or replace view public.v_conversation_quality with (security_invoker = on) as
select f.conversation_id,
       c.scenario_id,
       c.is_current,
       c.review_status,
       min(f.score)::integer as min_score,
       bool_or(f.score < f.pass_at) as flagged,
       bool_or(f.hard and f.score < f.pass_at) as hard_failed,
       -- the reason text and order of lib.core.rubric.flag_reason / Rubric.assess
       coalesce(array_agg(format('%s %s/5, below %s', f.criterion, f.score, f.pass_at)
                          || case when f.hard then ' (hard rule)' else '' end
                          order by not f.hard, f.score, f.criterion)
                  filter (where f.score < f.pass_at), '{}') as flag_reasons,
       jsonb_object_agg(f.criterion, f.score) as scores,
       bool_or(f.source = 'human') as human_rated,
       max(f.created_at) filter (where f.source = 'judge') as judged_at,
       (array_agg(f.rater order by f.created_at desc) filter (where f.source = 'judge'))[1] as judge_model,
       max(f.created_at) as rated_at
  from public.v_ratings_in_force f
  join public.conversations c on c.id = f.conversation_id
 group by f.conversation_id, c.scenario_id, c.is_current, c.review_status;

revoke all on public.v_ratings_in_force, public.v_conversation_quality from anon;
grant select on public.v_ratings_in_force, public.v_conversation_quality to authenticated, service_role;

-- =============================================================================================
-- Writes
-- =============================================================================================
-- One judge run: its model-call log rows (generation_logs, purpose 'judge', oldest first), and when
-- the run produced a verdict, its ratings and label findings, linked to the last log row. All or
-- nothing. Saving the same run again (same request id of the last call) changes nothing.
--   p_ratings:  [{criterion, score, reason, cited_turns, pass_at, hard}]
--   p_findings: [{turn, field, current_value, suggested_value, reason}]
--   p_logs:     [lib.generation.engine.AttemptLog.as_row() of each call]
-- Returns {run_id, log_ids, ratings, findings, created}.
create or replace function public.save_judge_result(
  p_conversation_id text, p_rater text, p_prompt_name text, p_prompt_version text, p_prompt_sha256 text,
  p_rubric_id text, p_rubric_version text, p_ratings jsonb, p_findings jsonb default '[]'::jsonb,
  p_logs jsonb default '[]'::jsonb) returns jsonb
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_scenario bigint;
  v_turns integer;
  v_run uuid := gen_random_uuid();
  v_log jsonb;
  v_log_id bigint;
  v_log_ids bigint[] := '{}';
  v_request text;
  v_existing uuid;
  v_rating jsonb;
  v_finding jsonb;
  v_n integer := 0;
  v_m integer := 0;
begin
  perform app_private.require_role('operator', 'save a judge''s ratings');
  if nullif(btrim(coalesce(p_rater, '')), '') is null then
    raise exception 'save_judge_result: say which model judged (p_rater)' using errcode = 'invalid_parameter_value';
  end if;
  if jsonb_typeof(coalesce(p_ratings, '[]'::jsonb)) <> 'array' or jsonb_typeof(coalesce(p_findings, '[]'::jsonb)) <> 'array'
     or jsonb_typeof(coalesce(p_logs, '[]'::jsonb)) <> 'array' then
    raise exception 'save_judge_result: p_ratings, p_findings and p_logs must be JSON arrays'
      using errcode = 'invalid_parameter_value';
  end if;
  select c.scenario_id, c.turn_count into v_scenario, v_turns
    from public.conversations c where c.id = p_conversation_id for update;
  if not found then
    raise exception 'conversation % does not exist', p_conversation_id using errcode = 'no_data_found';
  end if;

  -- a retry after a lost reply: the last call's request id is already linked to ratings
  v_request := nullif(coalesce(p_logs, '[]'::jsonb) -> -1 ->> 'request_id', '');
  if v_request is not null then
    select r.run_id into v_existing
      from public.conversation_ratings r join public.generation_logs l on l.id = r.generation_log_id
     where r.conversation_id = p_conversation_id and l.purpose = 'judge' and l.request_id = v_request
     limit 1;
    if v_existing is not null then
      return jsonb_build_object('run_id', v_existing, 'log_ids', '[]'::jsonb,
        'ratings', (select count(*) from public.conversation_ratings r where r.run_id = v_existing),
        'findings', (select count(*) from public.conversation_label_findings f where f.run_id = v_existing),
        'created', false);
    end if;
  end if;

  for v_log in select e from jsonb_array_elements(coalesce(p_logs, '[]'::jsonb)) e
  loop
    if coalesce(v_log ->> 'purpose', 'judge') <> 'judge' then
      raise exception 'save_judge_result: a log row has purpose %, expected judge', v_log ->> 'purpose'
        using errcode = 'invalid_parameter_value';
    end if;
    insert into public.generation_logs (
      scenario_id, attempt, purpose, outcome, model, template_name, template_version, template_sha256,
      parameters, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, duration_ms,
      http_status, request_id, error, raw_response, stop_reason)
    values (
      v_scenario, (v_log ->> 'attempt')::integer, 'judge', v_log ->> 'outcome', v_log ->> 'model',
      v_log ->> 'template_name', v_log ->> 'template_version', v_log ->> 'template_sha256',
      coalesce(v_log -> 'parameters', '{}'::jsonb) || jsonb_build_object('conversation_id', p_conversation_id),
      coalesce((v_log ->> 'input_tokens')::integer, 0), coalesce((v_log ->> 'output_tokens')::integer, 0),
      coalesce((v_log ->> 'cache_read_tokens')::integer, 0), coalesce((v_log ->> 'cache_write_tokens')::integer, 0),
      coalesce((v_log ->> 'cost_usd')::numeric, 0), (v_log ->> 'duration_ms')::integer,
      (v_log ->> 'http_status')::integer, v_log ->> 'request_id', v_log ->> 'error',
      v_log ->> 'raw_response', v_log ->> 'stop_reason')
    returning id into v_log_id;
    v_log_ids := v_log_ids || v_log_id;
  end loop;

  for v_rating in select e from jsonb_array_elements(coalesce(p_ratings, '[]'::jsonb)) e
  loop
    if exists (select 1 from jsonb_array_elements_text(coalesce(v_rating -> 'cited_turns', '[]'::jsonb)) t
                where t::integer >= v_turns) then
      raise exception 'save_judge_result: % cites turn(s) % but conversation % has % turns',
        v_rating ->> 'criterion', v_rating -> 'cited_turns', p_conversation_id, v_turns
        using errcode = 'invalid_parameter_value';
    end if;
    insert into public.conversation_ratings (
      conversation_id, run_id, source, criterion, score, reason, cited_turns, pass_at, hard, rater,
      rubric_id, rubric_version, prompt_name, prompt_version, prompt_sha256, generation_log_id)
    values (
      p_conversation_id, v_run, 'judge', v_rating ->> 'criterion', (v_rating ->> 'score')::smallint,
      coalesce(v_rating ->> 'reason', ''),
      coalesce(array(select t::integer from jsonb_array_elements_text(coalesce(v_rating -> 'cited_turns', '[]'::jsonb)) t), '{}'),
      (v_rating ->> 'pass_at')::smallint, coalesce((v_rating ->> 'hard')::boolean, false), btrim(p_rater),
      p_rubric_id, p_rubric_version, p_prompt_name, p_prompt_version, p_prompt_sha256, v_log_id);
    v_n := v_n + 1;
  end loop;

  if v_n = 0 and jsonb_array_length(coalesce(p_findings, '[]'::jsonb)) > 0 then
    raise exception 'save_judge_result: label findings without ratings; a run that produced no verdict has no findings'
      using errcode = 'invalid_parameter_value';
  end if;
  for v_finding in select e from jsonb_array_elements(coalesce(p_findings, '[]'::jsonb)) e
  loop
    if (v_finding ->> 'turn')::integer >= v_turns then
      raise exception 'save_judge_result: a label finding points at turn % but conversation % has % turns',
        v_finding ->> 'turn', p_conversation_id, v_turns using errcode = 'invalid_parameter_value';
    end if;
    insert into public.conversation_label_findings (
      conversation_id, run_id, turn_idx, field, current_value, suggested_value, reason, rater)
    values (
      p_conversation_id, v_run, (v_finding ->> 'turn')::integer, v_finding ->> 'field',
      v_finding -> 'current_value', v_finding -> 'suggested_value', coalesce(v_finding ->> 'reason', ''), btrim(p_rater));
    v_m := v_m + 1;
  end loop;

  return jsonb_build_object('run_id', case when v_n > 0 then v_run end, 'log_ids', to_jsonb(v_log_ids),
                            'ratings', v_n, 'findings', v_m, 'created', true);
end $$;

-- A person's rating of one criterion. It is in force over any judge rating of the same criterion
-- (v_ratings_in_force) and stays so when the judge runs again. p_pass_at and p_hard come from the
-- rubric the person rated against. Returns the rating id.
create or replace function public.record_human_rating(
  p_conversation_id text, p_criterion text, p_score integer, p_rater text, p_pass_at integer,
  p_hard boolean default false, p_reason text default '', p_cited_turns integer[] default '{}',
  p_rubric_id text default null, p_rubric_version text default null) returns bigint
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_turns integer;
  v_id bigint;
begin
  perform app_private.require_role('reviewer', 'rate a conversation');
  if p_score is null or p_score not between 1 and 5 then
    raise exception 'a rating is a score from 1 to 5, not %', coalesce(p_score::text, 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if nullif(btrim(coalesce(p_rater, '')), '') is null then
    raise exception 'say who is rating (p_rater)' using errcode = 'invalid_parameter_value';
  end if;
  select c.turn_count into v_turns from public.conversations c where c.id = p_conversation_id;
  if not found then
    raise exception 'conversation % does not exist', p_conversation_id using errcode = 'no_data_found';
  end if;
  if exists (select 1 from unnest(coalesce(p_cited_turns, '{}')) t where t >= v_turns) then
    raise exception 'conversation % has % turns; the cited turns % are not all in it', p_conversation_id, v_turns,
      p_cited_turns using errcode = 'invalid_parameter_value';
  end if;
  insert into public.conversation_ratings (
    conversation_id, run_id, source, criterion, score, reason, cited_turns, pass_at, hard, rater, rater_id,
    rubric_id, rubric_version)
  values (
    p_conversation_id, gen_random_uuid(), 'human', p_criterion, p_score, coalesce(p_reason, ''),
    coalesce(p_cited_turns, '{}'), p_pass_at, coalesce(p_hard, false), btrim(p_rater), auth.uid(),
    p_rubric_id, p_rubric_version)
  returning id into v_id;
  return v_id;
end $$;

-- =============================================================================================
-- Reads (security invoker: the tables' policies decide who sees what)
-- =============================================================================================
-- Every rating of a conversation, newest first; in_force marks the ones v_conversation_quality uses.
create or replace function public.conversation_ratings_of(p_conversation_id text)
returns table (id bigint, run_id uuid, source text, criterion text, score integer, reason text,
               cited_turns integer[], pass_at integer, hard boolean, rater text, rubric_version text,
               prompt_name text, prompt_version text, generation_log_id bigint, created_at timestamptz,
               in_force boolean)
language sql stable
set search_path = public, pg_temp
as $$
  select r.id, r.run_id, r.source, r.criterion, r.score::integer, r.reason, r.cited_turns, r.pass_at::integer,
         r.hard, r.rater, r.rubric_version, r.prompt_name, r.prompt_version, r.generation_log_id, r.created_at,
         exists (select 1 from public.v_ratings_in_force f where f.id = r.id)
    from public.conversation_ratings r
   where r.conversation_id = p_conversation_id
   order by r.created_at desc, r.id
$$;

-- The label findings of a conversation, newest first; latest_run marks the latest judge run's.
create or replace function public.label_findings_of(p_conversation_id text)
returns table (id bigint, run_id uuid, turn_idx integer, field text, current_value jsonb, suggested_value jsonb,
               reason text, rater text, created_at timestamptz, latest_run boolean)
language sql stable
set search_path = public, pg_temp
as $$
  select f.id, f.run_id, f.turn_idx, f.field, f.current_value, f.suggested_value, f.reason, f.rater, f.created_at,
         f.run_id = (select r.run_id from public.conversation_ratings r
                      where r.conversation_id = p_conversation_id and r.source = 'judge'
                      order by r.created_at desc, r.id desc limit 1)
    from public.conversation_label_findings f
   where f.conversation_id = p_conversation_id
   order by f.created_at desc, f.turn_idx, f.id
$$;

-- Current conversations no judge has rated yet (under p_rubric_version, when given), oldest first.
create or replace function public.conversations_to_judge(p_limit integer default 100, p_rubric_version text default null)
returns table (conversation_id text)
language sql stable
set search_path = public, pg_temp
as $$
  select c.id
    from public.conversations c
   where c.is_current
     and not exists (select 1 from public.conversation_ratings r
                      where r.conversation_id = c.id and r.source = 'judge'
                        and (p_rubric_version is null or r.rubric_version = p_rubric_version))
   order by c.created_at, c.id
   limit greatest(coalesce(p_limit, 100), 0)
$$;

revoke all on function public.save_judge_result(text, text, text, text, text, text, text, jsonb, jsonb, jsonb) from public, anon;
revoke all on function public.record_human_rating(text, text, integer, text, integer, boolean, text, integer[], text, text) from public, anon;
revoke all on function public.conversation_ratings_of(text) from public, anon;
revoke all on function public.label_findings_of(text) from public, anon;
revoke all on function public.conversations_to_judge(integer, text) from public, anon;
grant execute on function public.save_judge_result(text, text, text, text, text, text, text, jsonb, jsonb, jsonb) to authenticated, service_role;
grant execute on function public.record_human_rating(text, text, integer, text, integer, boolean, text, integer[], text, text) to authenticated, service_role;
grant execute on function public.conversation_ratings_of(text) to authenticated, service_role;
grant execute on function public.label_findings_of(text) to authenticated, service_role;
grant execute on function public.conversations_to_judge(integer, text) to authenticated, service_role;
