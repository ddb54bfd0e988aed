-- A contrastive job writes failed turns only for a conversation's current version: the preference export
-- reads the pairs of current versions, so a pair of a version a regeneration replaced would cost a request
-- and never be exported. Jobs are created one at a time, so two started together never queue a
-- conversation twice.
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
  -- two operators starting jobs at once would both find a conversation not queued yet
  perform pg_advisory_xact_lock(hashtext('app_private.create_contrast_job'));
  -- one item per scenario and job (the current version: a replaced one's pairs are never exported)
  select coalesce(array_agg(x.id order by x.scenario_id), '{}') into v_ids
    from (select distinct on (c.scenario_id) c.id, c.scenario_id
            from public.conversations c
           where c.id = any(p_conversation_ids)
             and c.review_status = 'approved'
             and c.is_current
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
