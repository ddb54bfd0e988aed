-- Job outcomes that tell the truth, and failures a person can act on.
--
-- - A job whose items all failed ends 'failed' (not 'completed'), its error saying so.
-- - v_generation_jobs.outcome: the job as a person reads it: queued, running, stopping (stopped or failed,
--   items still in flight), stopped, completed, completed_with_failures, failed. lib/core/vocabulary.py
--   has the words for each; this view is the one place that decides which one a job is.
-- - generation_jobs.active_s and run_started_at: the seconds of the runs that ended, and when the one under
--   way started (lib.generation.jobs.progress adds it up), so an ETA after Resume leaves the pause out.
-- - generation_job_items.error_cause: a short key for why an item failed (lib.generation.causes), so
--   failures can be grouped by cause (job_failure_causes).
-- - fail_job_item on a job that is no longer running (stopped, or failed by its circuit breaker) does not
--   queue the item again: it is cancelled, so the scenario does not stay "queued" for a job that ended.
-- - generation_stats: the measured repairs per generation and what a failed item spent, for estimates
--   that hold.

alter table public.generation_job_items add column if not exists error_cause text;
alter table public.generation_jobs add column if not exists active_s double precision not null default 0;
alter table public.generation_jobs add column if not exists run_started_at timestamptz;

-- The seconds a job has run: the runs it finished (active_s) and the one under way.
create or replace function app_private.close_job_run(p_job_id bigint) returns void
language sql
set search_path = public, pg_temp
as $$
  update public.generation_jobs j
     set active_s = j.active_s + greatest(0, extract(epoch from now() - coalesce(j.run_started_at, j.started_at))),
         run_started_at = null
   where j.id = p_job_id and j.started_at is not null and j.status in ('queued', 'running');
$$;

-- What Stop and a failure share: the items not started are cancelled (the ones a worker is claiming right
-- now are skipped: they are in flight), their scenarios settle, and the run's seconds are counted. Returns
-- how many items were cancelled.
create or replace function app_private.end_job_run(p_job_id bigint) returns integer
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_items bigint[];
begin
  with pending as (
    select i.id from public.generation_job_items i
     where i.job_id = p_job_id and i.status = 'pending'
       for update skip locked
  ), cancelled as (
    update public.generation_job_items i set status = 'cancelled', finished_at = now()
      from pending where i.id = pending.id
    returning i.id
  )
  select coalesce(array_agg(id), '{}') into v_items from cancelled;
  update public.scenarios s set status = app_private.scenario_status_for(s.id)
   where s.id in (select i.scenario_id from public.generation_job_items i join public.generation_jobs j on j.id = i.job_id
                   where i.id = any(v_items) and j.task = 'generate');
  perform app_private.close_job_run(p_job_id);
  return cardinality(v_items);
end $$;

create or replace view public.v_generation_jobs with (security_invoker = on) as
select j.id, j.kind, j.task, j.follows_job_id, j.status, j.batch_id, j.batch_status, j.model, j.settings,
       j.created_by, j.total_items, j.error, j.created_at, j.started_at, j.finished_at, j.updated_at,
       coalesce(p.pending, 0) as pending_items,
       coalesce(p.claimed, 0) as claimed_items,
       coalesce(p.succeeded, 0) as succeeded_items,
       coalesce(p.failed, 0) as failed_items,
       coalesce(p.cancelled, 0) as cancelled_items,
       coalesce(p.input_tokens, 0) as input_tokens,
       coalesce(p.output_tokens, 0) as output_tokens,
       coalesce(p.cost_usd, 0) as cost_usd,
       coalesce(q.calls, 0) as judge_calls,
       coalesce(q.input_tokens, 0) as judge_input_tokens,
       coalesce(q.output_tokens, 0) as judge_output_tokens,
       coalesce(q.cost_usd, 0) as judge_cost_usd,
       case
         when j.status in ('queued', 'running') then j.status
         when coalesce(p.claimed, 0) > 0 then 'stopping'
         when j.status = 'completed' and coalesce(p.failed, 0) > 0 then 'completed_with_failures'
         else j.status
       end as outcome,
       j.active_s, j.run_started_at
  from public.generation_jobs j
  left join lateral (
    select count(*) filter (where i.status = 'pending') as pending,
           count(*) filter (where i.status = 'claimed') as claimed,
           count(*) filter (where i.status = 'succeeded') as succeeded,
           count(*) filter (where i.status = 'failed') as failed,
           count(*) filter (where i.status = 'cancelled') as cancelled,
           sum(i.input_tokens) as input_tokens,
           sum(i.output_tokens) as output_tokens,
           sum(i.cost_usd) as cost_usd
      from public.generation_job_items i
     where i.job_id = j.id
  ) p on true
  left join lateral (
    select count(*) as calls, sum(l.input_tokens) as input_tokens, sum(l.output_tokens) as output_tokens,
           sum(l.cost_usd) as cost_usd
      from public.generation_logs l
     where l.job_id = j.id and l.purpose = 'judge'
  ) q on true;

revoke all on public.v_generation_jobs from anon;
grant select on public.v_generation_jobs to authenticated, service_role;

-- A job is over when none of its items is pending or claimed, and, for a follow-up job, the job it
-- follows can add no more (it is not queued or running). It ends 'failed' when not one item succeeded and
-- some failed (the error says how many causes; job_failure_causes lists them), else 'completed'. The job row lock makes two
-- workers finishing the last two items see each other's result. A job that is over closes its follow-ups
-- that have nothing left (jobs are locked in the order they follow each other: no deadlock).
create or replace function app_private.finish_job_if_done(p_job_id bigint) returns void
language plpgsql
set search_path = public, pg_temp
as $$
declare
  f bigint;
  v_failed integer;
  v_succeeded integer;
  v_causes integer;
begin
  perform 1 from public.generation_jobs j where j.id = p_job_id for no key update;
  if exists (select 1 from public.generation_jobs j
              where j.id = p_job_id and j.status in ('queued', 'running')
                and not exists (select 1 from public.generation_job_items i
                                 where i.job_id = p_job_id and i.status in ('pending', 'claimed'))
                and not exists (select 1 from public.generation_jobs s
                                 where s.id = j.follows_job_id and s.status in ('queued', 'running'))) then
    select count(*) filter (where i.status = 'failed'), count(*) filter (where i.status = 'succeeded')
      into v_failed, v_succeeded
      from public.generation_job_items i where i.job_id = p_job_id;
    perform app_private.close_job_run(p_job_id);
    if v_failed > 0 and v_succeeded = 0 then
      select count(distinct coalesce(i.error_cause, 'other')) into v_causes
        from public.generation_job_items i where i.job_id = p_job_id and i.status = 'failed';
      update public.generation_jobs
         set status = 'failed', finished_at = now(),
             error = format('not one conversation was stored: all %s items failed (%s)', v_failed,
                            case when v_causes = 1 then 'one cause' else v_causes || ' causes' end)
       where id = p_job_id;
    else
      update public.generation_jobs set status = 'completed', finished_at = now() where id = p_job_id;
    end if;
  end if;
  if exists (select 1 from public.generation_jobs j where j.id = p_job_id and j.status in ('queued', 'running')) then
    return;
  end if;
  for f in select j.id from public.generation_jobs j
            where j.follows_job_id = p_job_id and j.status in ('queued', 'running') order by j.id
  loop
    perform app_private.finish_job_if_done(f);
  end loop;
end $$;

-- Mark a claimed item failed with its reason and its cause (a short key, lib.generation.causes), or put
-- it back in the queue (p_retry) while it has attempts left and its job still runs: an item of a job that
-- was stopped or failed meanwhile is cancelled instead, so Resume can queue it again. Returns the item's
-- new status.
drop function if exists public.fail_job_item(bigint, text, text, boolean, numeric, integer, integer);
create or replace function public.fail_job_item(
  p_item_id bigint, p_error text, p_worker text default null, p_retry boolean default false,
  p_cost_usd numeric default 0, p_input_tokens integer default 0, p_output_tokens integer default 0,
  p_cause text default null) returns text
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_item public.generation_job_items;
  v_job_live boolean;
  v_status text;
begin
  perform app_private.require_role('operator', 'report a failed generation');
  select * into v_item from public.generation_job_items i where i.id = p_item_id for update;
  if not found then
    raise exception 'job item % does not exist', p_item_id using errcode = 'no_data_found';
  end if;
  if v_item.status = 'succeeded' then
    return v_item.status;  -- another attempt already stored it; this late failure changes nothing
  end if;
  select j.status in ('queued', 'running') into v_job_live from public.generation_jobs j where j.id = v_item.job_id;
  v_status := case when not p_retry or v_item.status = 'cancelled' then 'failed'
                   when v_item.attempts >= v_item.max_attempts then 'failed'
                   when v_job_live then 'pending'
                   else 'cancelled' end;
  update public.generation_job_items
     set status = v_status, error = coalesce(p_error, 'failed without a reason'),
         error_cause = coalesce(nullif(btrim(p_cause), ''), 'other'),
         lease_expires_at = null,
         finished_at = case when v_status <> 'pending' then now() end,
         cost_usd = cost_usd + coalesce(p_cost_usd, 0),
         input_tokens = input_tokens + coalesce(p_input_tokens, 0),
         output_tokens = output_tokens + coalesce(p_output_tokens, 0)
   where id = p_item_id;
  -- a failed regeneration leaves an existing conversation's status as it was; a failed rating, any
  update public.scenarios s
     set status = case when v_status = 'pending' then 'queued'
                       when v_status = 'failed' and app_private.scenario_status_for(s.id) = 'not_generated' then 'failed'
                       else app_private.scenario_status_for(s.id) end
   where s.id = v_item.scenario_id
     and exists (select 1 from public.generation_jobs j where j.id = v_item.job_id and j.task = 'generate');
  perform app_private.finish_job_if_done(v_item.job_id);
  return v_status;
end $$;

-- Stop: no new item is claimed, and items not yet started are cancelled. Items in flight finish
-- (their workers save or fail them as usual). Returns how many items were cancelled.
create or replace function public.stop_job(p_job_id bigint) returns integer
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_n integer;
begin
  perform app_private.require_role('operator', 'stop a generation job');
  -- items first (skip the ones a worker is claiming right now: they are in flight), then the job
  v_n := app_private.end_job_run(p_job_id);
  update public.generation_jobs set status = 'stopped', finished_at = now()
   where id = p_job_id and status in ('queued', 'running');
  if not found and not exists (select 1 from public.generation_jobs where id = p_job_id) then
    raise exception 'generation job % does not exist', p_job_id using errcode = 'no_data_found';
  end if;
  perform app_private.finish_job_if_done(p_job_id);  -- closes its follow-ups that have nothing left
  return v_n;
end $$;

-- Stop a job because of an error every item would hit (an invalid API key, an unknown model, the same
-- failure again and again): like stop_job, with status 'failed' and the reason kept on the job; Resume
-- starts it again. Returns how many items were cancelled.
create or replace function public.fail_job(p_job_id bigint, p_error text) returns integer
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_n integer;
begin
  perform app_private.require_role('operator', 'stop a generation job');
  perform 1 from public.generation_jobs j where j.id = p_job_id for no key update;
  if not found then
    raise exception 'generation job % does not exist', p_job_id using errcode = 'no_data_found';
  end if;
  v_n := app_private.end_job_run(p_job_id);
  update public.generation_jobs
     set status = 'failed', error = coalesce(nullif(btrim(p_error), ''), 'stopped by an error'), finished_at = now()
   where id = p_job_id and status in ('queued', 'running');
  perform app_private.finish_job_if_done(p_job_id);  -- closes its follow-ups that have nothing left
  return v_n;
end $$;

-- Resume a stopped or failed job (its cancelled items are queued again), or retry its failed items
-- (p_failed => true; their attempts start over). A job whose items in flight at Stop went back to
-- pending (a transient failure) runs again too, and its error is cleared. A new run starts the clock of
-- the run time (active_s, run_started_at) again. Returns how many items were queued.
create or replace function public.resume_job(p_job_id bigint, p_failed boolean default false) returns integer
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_items bigint[];
begin
  perform app_private.require_role('operator', 'resume a generation job');
  if not exists (select 1 from public.generation_jobs where id = p_job_id) then
    raise exception 'generation job % does not exist', p_job_id using errcode = 'no_data_found';
  end if;
  with again as (
    update public.generation_job_items i
       set status = 'pending', finished_at = null, lease_expires_at = null,
           attempts = case when p_failed then 0 else i.attempts end,
           error = case when p_failed then null else i.error end,
           error_cause = case when p_failed then null else i.error_cause end
     where i.job_id = p_job_id
       and i.status = case when p_failed then 'failed' else 'cancelled' end
       -- a scenario queued meanwhile in another job of the same task stays there
       and not exists (select 1 from public.generation_job_items o join public.generation_jobs oj on oj.id = o.job_id
                        where o.scenario_id = i.scenario_id and o.id <> i.id and o.status in ('pending', 'claimed')
                          and oj.task = (select t.task from public.generation_jobs t where t.id = p_job_id))
    returning i.id, i.scenario_id
  )
  select coalesce(array_agg(id), '{}') into v_items from again;
  update public.scenarios s set status = 'queued'
   where s.id in (select i.scenario_id from public.generation_job_items i join public.generation_jobs j on j.id = i.job_id
                   where i.id = any(v_items) and j.task = 'generate');
  if cardinality(v_items) > 0
     or exists (select 1 from public.generation_job_items i where i.job_id = p_job_id and i.status = 'pending') then
    update public.generation_jobs
       set status = case when started_at is null then 'queued' else 'running' end, finished_at = null, error = null,
           run_started_at = case when started_at is null or status in ('queued', 'running') then run_started_at
                                 else now() end
     where id = p_job_id;
  end if;
  return cardinality(v_items);
end $$;

-- A job's failures grouped by cause: how many, the latest reason as the example, its scenario and when.
-- The most frequent cause first.
create or replace function public.job_failure_causes(p_job_id bigint)
returns table (cause text, failures integer, example text, example_scenario_id bigint, last_at timestamptz)
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('viewer', 'read the failures of a job');
  return query
  select g.cause, g.failures::integer, g.example, g.scenario_id, g.last_at
    from (select coalesce(i.error_cause, 'other') as cause, count(*) over w as failures,
                 i.error as example, i.scenario_id, max(i.finished_at) over w as last_at,
                 row_number() over (partition by coalesce(i.error_cause, 'other')
                                    order by i.finished_at desc nulls last, i.id desc) as n
            from public.generation_job_items i
           where i.job_id = p_job_id and i.status = 'failed'
          window w as (partition by coalesce(i.error_cause, 'other'))) g
   where g.n = 1
   order by g.failures desc, g.cause;
end $$;

-- Averages of the latest generations, for estimates (lib.generation.estimate): as before, and
-- repair_rate (repair calls per generate call) and failed_item_cost_usd (what a failed item spent on
-- average: its calls are paid for too, and no conversation's cost includes them).
create or replace function public.generation_stats(p_model text default null, p_recent integer default 200)
returns jsonb
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
declare
  v jsonb;
begin
  perform app_private.require_role('viewer', 'read the generation averages');
  with conv as (
    select c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.cost_usd
      from public.conversations c where c.source = 'generated'
       and (p_model is null or c.model = p_model or c.model like p_model || '-%')
     order by c.created_at desc limit p_recent),
  calls as (
    select l.outcome, l.purpose, l.duration_ms, l.output_tokens from public.generation_logs l
     where l.outcome in ('ok', 'repaired', 'invalid', 'truncated', 'refused') and l.purpose in ('generate', 'repair')
       and (p_model is null or l.model = p_model or l.model like p_model || '-%')
     order by l.id desc limit p_recent * 4),
  items as (
    select i.status, i.cost_usd from public.generation_job_items i
      join public.generation_jobs j on j.id = i.job_id and j.task = 'generate'
     where i.status in ('succeeded', 'failed')
     order by i.finished_at desc nulls last limit p_recent * 2),
  judge_runs as (
    select r.run_id, bool_or(r.score < r.pass_at) as low, min(r.created_at) as at
      from public.conversation_ratings r
     where r.source = 'judge' and (p_model is null or r.rater = p_model or r.rater like p_model || '-%')
     group by r.run_id order by 3 desc limit p_recent),
  -- the calls since the oldest of those runs: theirs (a run's rows and its calls are saved together)
  -- and those of the runs that got no verdict
  judge_calls as (
    select l.cost_usd, l.duration_ms from public.generation_logs l
     where l.purpose = 'judge' and l.created_at >= (select min(at) from judge_runs)
       and (p_model is null or l.model = p_model or l.model like p_model || '-%'))
  select jsonb_build_object(
    'conversations', (select count(*) from conv),
    'input_tokens', (select avg(input_tokens)::float from conv),
    'output_tokens', (select avg(output_tokens)::float from conv),
    'cache_read_tokens', (select avg(cache_read_tokens)::float from conv),
    'cache_write_tokens', (select avg(cache_write_tokens)::float from conv),
    'cost_usd', (select avg(cost_usd)::float from conv),
    'calls', (select count(*) from calls),
    'successes', (select count(*) filter (where outcome in ('ok', 'repaired')) from calls),
    'call_seconds', (select avg(duration_ms)::float / 1000 from calls),
    'call_output_tokens', (select avg(output_tokens)::float from calls),
    'repair_rate', (select count(*) filter (where purpose = 'repair')::float
                           / nullif(count(*) filter (where purpose = 'generate'), 0) from calls),
    'failed_items', (select count(*) filter (where status = 'failed') from items),
    'failed_item_cost_usd', (select avg(cost_usd) filter (where status = 'failed')::float from items),
    'failure_rate', (select count(*) filter (where status = 'failed')::float / nullif(count(*), 0) from items),
    'judge_runs', (select count(*) from judge_runs),
    'judge_cost_usd', (select sum(cost_usd)::float from judge_calls) / nullif((select count(*) from judge_runs), 0),
    'judge_calls', (select count(*)::float from judge_calls) / nullif((select count(*) from judge_runs), 0),
    'judge_call_seconds', (select avg(duration_ms)::float / 1000 from judge_calls),
    'judge_low_share', (select avg(low::integer)::float from judge_runs),
    'rate_limits', (select l.parameters -> 'rate_limits' from public.generation_logs l
                     where l.parameters ? 'rate_limits' order by l.id desc limit 1)) into v;
  return v;
end $$;

revoke all on function app_private.close_job_run(bigint) from public;
revoke all on function app_private.end_job_run(bigint) from public;
revoke all on function public.fail_job_item(bigint, text, text, boolean, numeric, integer, integer, text) from public, anon;
grant execute on function public.fail_job_item(bigint, text, text, boolean, numeric, integer, integer, text)
  to authenticated, service_role;
revoke all on function public.job_failure_causes(bigint) from public, anon;
grant execute on function public.job_failure_causes(bigint) to authenticated, service_role;
