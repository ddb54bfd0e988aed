-- Contrastive jobs: the functions that start a 'contrast' job, save what one of its items wrote
-- (public.contrastive_responses, lib/generation/contrast.py) and record a reviewer's decision on a contrast.
-- Each is security definer in app_private behind a security-invoker wrapper of the same name in public
-- (20261202001000_api_wrappers.sql), so the hosted API exposes no definer function.

-- A contrastive job's calls are logged with their own purpose, so its tokens and cost stay apart from
-- generation's and the judge's.
alter table public.generation_logs drop constraint if exists generation_logs_purpose_check;
alter table public.generation_logs add constraint generation_logs_purpose_check
  check (purpose in ('generate', 'repair', 'batch_submit', 'batch_poll', 'count_tokens', 'judge', 'contrast'));

-- A contrastive job (task 'contrast'): one item per approved conversation version (item.conversation_id),
-- with its scenario; the scenarios' statuses do not change. What to write (which assistant turns, which
-- failure kinds, how many of each) is in p_settings, read by the worker. A conversation that is not
-- approved, or is queued in another contrastive job already, is left out. Returns the job id, or null when
-- nothing is left to queue.
create or replace function app_private.create_contrast_job(
  p_conversation_ids text[], p_kind text default 'realtime', p_model text default null,
  p_settings jsonb default '{}'::jsonb, p_created_by text default null, p_max_attempts integer default 3)
  returns bigint
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_job bigint;
  v_ids text[];
begin
  perform app_private.require_role('operator', 'start a contrastive job');
  if p_kind is null or p_kind not in ('realtime', 'batch') then
    raise exception 'unknown job kind %; expected realtime or batch', coalesce(quote_literal(p_kind), 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if coalesce(cardinality(p_conversation_ids), 0) = 0 then
    raise exception 'a contrastive job needs at least one conversation' using errcode = 'invalid_parameter_value';
  end if;
  if jsonb_typeof(coalesce(p_settings, '{}'::jsonb)) <> 'object' then
    raise exception 'p_settings must be a JSON object' using errcode = 'invalid_parameter_value';
  end if;
  -- one item per scenario and job: of two approved versions of one scenario, the newest
  select coalesce(array_agg(x.id order by x.scenario_id), '{}') into v_ids
    from (select distinct on (c.scenario_id) c.id, c.scenario_id
            from public.conversations c
           where c.id = any(p_conversation_ids)
             and c.review_status = 'approved'
             and not exists (select 1 from public.generation_job_items o join public.generation_jobs oj on oj.id = o.job_id
                              where o.conversation_id = c.id and o.status in ('pending', 'claimed')
                                and oj.task = 'contrast')
           order by c.scenario_id, c.version desc) x;
  if cardinality(v_ids) = 0 then
    return null;
  end if;
  insert into public.generation_jobs (kind, task, model, settings, created_by, total_items)
  values (p_kind, 'contrast', p_model, coalesce(p_settings, '{}'::jsonb), p_created_by, cardinality(v_ids))
  returning id into v_job;
  insert into public.generation_job_items (job_id, scenario_id, conversation_id, max_attempts)
  select v_job, c.scenario_id, c.id, greatest(coalesce(p_max_attempts, 3), 1)
    from public.conversations c
   where c.id = any(v_ids)
   order by c.scenario_id;
  return v_job;
end $$;

-- What one run of a contrastive item wrote: its model-call log rows (purpose 'contrast') and the failed
-- responses it kept (each {turn_idx, failure_kind, text, why, model, prompt_sha256, input_tokens,
-- output_tokens, cost_usd}), in one transaction. Every response must replace an assistant turn of the
-- conversation and differ from that turn's text. With responses, the item (p_item_id, of a 'contrast' job
-- about this conversation) succeeds; without, only the logs and their cost are kept (the caller fails or
-- retries the item). A retry after a lost reply (the item has succeeded already) stores nothing again.
-- Returns {responses, log_ids, created}.
create or replace function app_private.save_contrast_result(
  p_conversation_id text, p_responses jsonb default '[]'::jsonb, p_logs jsonb default '[]'::jsonb,
  p_item_id bigint default null) returns jsonb
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_item public.generation_job_items;
  v_scenario bigint;
  v_log jsonb;
  v_log_id bigint;
  v_log_ids bigint[] := '{}';
  v_row jsonb;
  v_turn public.conversation_turns;
  v_n integer := 0;
begin
  perform app_private.require_role('operator', 'save contrastive responses');
  if jsonb_typeof(coalesce(p_responses, '[]'::jsonb)) <> 'array' or jsonb_typeof(coalesce(p_logs, '[]'::jsonb)) <> 'array' then
    raise exception 'save_contrast_result: p_responses and p_logs must be JSON arrays'
      using errcode = 'invalid_parameter_value';
  end if;
  if p_item_id is not null then
    select * into v_item from public.generation_job_items i where i.id = p_item_id for update;
    if not found then
      raise exception 'job item % does not exist', p_item_id using errcode = 'no_data_found';
    end if;
    if v_item.conversation_id is distinct from p_conversation_id
       or not exists (select 1 from public.generation_jobs j where j.id = v_item.job_id and j.task = 'contrast') then
      raise exception 'job item % is not a contrastive item about conversation %', p_item_id, p_conversation_id
        using errcode = 'invalid_parameter_value';
    end if;
    if v_item.status = 'succeeded' then  -- saved before: a retry after a lost reply
      return jsonb_build_object('responses',
        (select count(*) from public.contrastive_responses r where r.job_item_id = p_item_id),
        'log_ids', '[]'::jsonb, 'created', false);
    end if;
  end if;
  select c.scenario_id into v_scenario from public.conversations c where c.id = p_conversation_id for share;
  if not found then
    raise exception 'conversation % does not exist', p_conversation_id using errcode = 'no_data_found';
  end if;

  for v_log in select e from jsonb_array_elements(coalesce(p_logs, '[]'::jsonb)) e
  loop
    if coalesce(v_log ->> 'purpose', 'contrast') <> 'contrast' then
      raise exception 'save_contrast_result: a log row has purpose %, expected contrast', v_log ->> 'purpose'
        using errcode = 'invalid_parameter_value';
    end if;
    insert into public.generation_logs (
      job_id, item_id, scenario_id, attempt, purpose, outcome, model, template_name, template_version,
      template_sha256, parameters, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd,
      duration_ms, http_status, request_id, error, raw_response, stop_reason)
    values (
      v_item.job_id, p_item_id, v_scenario, (v_log ->> 'attempt')::integer, 'contrast', v_log ->> 'outcome',
      v_log ->> 'model', v_log ->> 'template_name', v_log ->> 'template_version', v_log ->> 'template_sha256',
      coalesce(v_log -> 'parameters', '{}'::jsonb) || jsonb_build_object('conversation_id', p_conversation_id),
      coalesce((v_log ->> 'input_tokens')::integer, 0), coalesce((v_log ->> 'output_tokens')::integer, 0),
      coalesce((v_log ->> 'cache_read_tokens')::integer, 0), coalesce((v_log ->> 'cache_write_tokens')::integer, 0),
      coalesce((v_log ->> 'cost_usd')::numeric, 0), (v_log ->> 'duration_ms')::integer,
      (v_log ->> 'http_status')::integer, v_log ->> 'request_id', v_log ->> 'error',
      v_log ->> 'raw_response', v_log ->> 'stop_reason')
    returning id into v_log_id;
    v_log_ids := v_log_ids || v_log_id;
  end loop;

  for v_row in select e from jsonb_array_elements(coalesce(p_responses, '[]'::jsonb)) e
  loop
    select * into v_turn from public.conversation_turns t
     where t.conversation_id = p_conversation_id and t.idx = (v_row ->> 'turn_idx')::integer;
    if not found or v_turn.role <> 'assistant' then
      raise exception 'save_contrast_result: turn % of conversation % is not an assistant turn',
        v_row ->> 'turn_idx', p_conversation_id using errcode = 'invalid_parameter_value';
    end if;
    if btrim(v_row ->> 'text') = btrim(v_turn.text) then
      raise exception 'save_contrast_result: the failed response for turn % repeats the turn itself', v_turn.idx
        using errcode = 'invalid_parameter_value';
    end if;
    insert into public.contrastive_responses (
      conversation_id, turn_idx, failure_kind, text, why, model, prompt_sha256, job_item_id,
      input_tokens, output_tokens, cost_usd)
    values (
      p_conversation_id, v_turn.idx, v_row ->> 'failure_kind', v_row ->> 'text', v_row ->> 'why',
      v_row ->> 'model', v_row ->> 'prompt_sha256', p_item_id,
      coalesce((v_row ->> 'input_tokens')::integer, 0), coalesce((v_row ->> 'output_tokens')::integer, 0),
      coalesce((v_row ->> 'cost_usd')::numeric, 0));
    v_n := v_n + 1;
  end loop;

  if p_item_id is not null then
    update public.generation_job_items i
       set input_tokens = i.input_tokens + coalesce(l.input_tokens, 0),
           output_tokens = i.output_tokens + coalesce(l.output_tokens, 0),
           cost_usd = i.cost_usd + coalesce(l.cost_usd, 0),
           status = case when v_n > 0 then 'succeeded' else i.status end,
           error = case when v_n > 0 then null else i.error end,
           lease_expires_at = case when v_n > 0 then null else i.lease_expires_at end,
           finished_at = case when v_n > 0 then now() else i.finished_at end
      from (select sum(g.input_tokens) as input_tokens, sum(g.output_tokens) as output_tokens, sum(g.cost_usd) as cost_usd
              from public.generation_logs g where g.id = any(v_log_ids)) l
     where i.id = p_item_id;
    if v_n > 0 then
      perform app_private.finish_job_if_done(v_item.job_id);
    end if;
  end if;
  return jsonb_build_object('responses', v_n, 'log_ids', to_jsonb(v_log_ids), 'created', true);
end $$;

-- A reviewer accepts or rejects a contrast (a failed response beside the turn it replaces); a later
-- decision replaces an earlier one. Signed in (hosted), the decision is recorded for the member whatever
-- p_reviewer says (app_private.actor). Returns the row as it is now.
create or replace function app_private.decide_contrast(
  p_id bigint, p_decision text, p_reviewer text default null, p_note text default '')
  returns public.contrastive_responses
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_who text;
  v_row public.contrastive_responses;
begin
  perform app_private.require_role('reviewer', 'decide on a contrastive response');
  v_who := app_private.actor(p_reviewer, 'p_reviewer', 'decides on the contrast');
  if p_decision is null or p_decision not in ('accepted', 'rejected') then
    raise exception 'unknown decision %; expected accepted or rejected',
      coalesce(quote_literal(left(p_decision, 40)), 'null') using errcode = 'invalid_parameter_value';
  end if;
  perform app_private.check_size('the note', 'note', p_note);
  update public.contrastive_responses r
     set status = p_decision, reviewed_by = v_who, reviewed_at = clock_timestamp(),
         review_note = coalesce(p_note, '')
   where r.id = p_id
  returning * into v_row;
  if not found then
    raise exception 'contrastive response % does not exist', p_id using errcode = 'no_data_found';
  end if;
  return v_row;
end $$;

revoke all on function app_private.create_contrast_job(text[], text, text, jsonb, text, integer)
  from public, anon, authenticated, service_role;
revoke all on function app_private.save_contrast_result(text, jsonb, jsonb, bigint)
  from public, anon, authenticated, service_role;
revoke all on function app_private.decide_contrast(bigint, text, text, text)
  from public, anon, authenticated, service_role;
grant execute on function app_private.create_contrast_job(text[], text, text, jsonb, text, integer)
  to authenticated, service_role;
grant execute on function app_private.save_contrast_result(text, jsonb, jsonb, bigint) to authenticated, service_role;
grant execute on function app_private.decide_contrast(bigint, text, text, text) to authenticated, service_role;

-- The wrappers PostgREST and the app call.
create or replace function public.create_contrast_job(
  p_conversation_ids text[], p_kind text default 'realtime', p_model text default null,
  p_settings jsonb default '{}'::jsonb, p_created_by text default null, p_max_attempts integer default 3)
  returns bigint
language sql volatile security invoker set search_path = ''
as $$ select app_private.create_contrast_job(p_conversation_ids => p_conversation_ids, p_kind => p_kind,
  p_model => p_model, p_settings => p_settings, p_created_by => p_created_by, p_max_attempts => p_max_attempts) $$;

create or replace function public.save_contrast_result(
  p_conversation_id text, p_responses jsonb default '[]'::jsonb, p_logs jsonb default '[]'::jsonb,
  p_item_id bigint default null) returns jsonb
language sql volatile security invoker set search_path = ''
as $$ select app_private.save_contrast_result(p_conversation_id => p_conversation_id, p_responses => p_responses,
  p_logs => p_logs, p_item_id => p_item_id) $$;

create or replace function public.decide_contrast(
  p_id bigint, p_decision text, p_reviewer text default null, p_note text default '')
  returns public.contrastive_responses
language sql volatile security invoker set search_path = ''
as $$ select * from app_private.decide_contrast(p_id => p_id, p_decision => p_decision, p_reviewer => p_reviewer,
  p_note => p_note) $$;

revoke all on function public.create_contrast_job(text[], text, text, jsonb, text, integer)
  from public, anon, authenticated, service_role;
revoke all on function public.save_contrast_result(text, jsonb, jsonb, bigint)
  from public, anon, authenticated, service_role;
revoke all on function public.decide_contrast(bigint, text, text, text) from public, anon, authenticated, service_role;
grant execute on function public.create_contrast_job(text[], text, text, jsonb, text, integer) to authenticated, service_role;
grant execute on function public.save_contrast_result(text, jsonb, jsonb, bigint) to authenticated, service_role;
grant execute on function public.decide_contrast(bigint, text, text, text) to authenticated, service_role;
