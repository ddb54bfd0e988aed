-- The runner at the account's limits: one rate budget per account shared by every worker of the
-- database, worker liveness the database sees end with the connection, and the measured output
-- sizes that max_tokens is sized from.
--
-- Rate budget: app_private.rate_budgets mirrors the API's token buckets (requests, input and
-- output tokens a minute), refilled continuously up to a minute's worth. take_rate_budget debits a
-- request's share atomically when all of it fits, else says how long until it would (and takes
-- nothing), so a request that does not fit waits while smaller ones go. settle_rate_budget gives
-- back what a request did not use and lowers the mirror to what the API's headers report.
--
-- Liveness: a worker that reaches PostgreSQL directly registers a session (register_worker_session)
-- and holds a session-level advisory lock on its own connection. When that connection ends (the
-- process was killed, the machine went away), the lock is gone at once, and the items and batch
-- jobs the worker held are claimable again without waiting for their leases. The lease stays as
-- the backstop for a worker that hangs while connected, and for workers without a session (the
-- Supabase REST transport).

-- ---------------------------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------------------------
create table if not exists app_private.rate_budgets (
  account    text not null,
  resource   text not null constraint rate_budgets_resource_check
             check (resource in ('requests', 'input_tokens', 'output_tokens')),
  per_minute double precision not null check (per_minute > 0),
  capacity   double precision not null,  -- the most the API's bucket was seen to hold
  level      double precision not null,
  updated_at timestamptz not null default clock_timestamp(),
  primary key (account, resource)
);

create table if not exists app_private.worker_sessions (
  worker     text primary key,
  lock_key   integer generated always as identity,
  started_at timestamptz not null default now()
);

-- ---------------------------------------------------------------------------------------------
-- Liveness
-- ---------------------------------------------------------------------------------------------
-- The workers that registered a session whose connection has ended. 20261202 is this feature's
-- advisory lock class, so its locks never meet another use of advisory locks.
create or replace function app_private.gone_workers() returns setof text
language sql stable security definer
set search_path = public, pg_temp
as $$
  select w.worker from app_private.worker_sessions w
   where not exists (select 1 from pg_catalog.pg_locks l
                      where l.locktype = 'advisory' and l.classid = 20261202::oid
                        and l.objid = w.lock_key::oid and l.objsubid = 2 and l.granted)
$$;

-- Register the calling connection as the session of worker p_worker and lock it for as long as the
-- connection lives. Returns false when another live connection already holds that worker's lock.
create or replace function public.register_worker_session(p_worker text) returns boolean
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_key integer;
begin
  perform app_private.require_role('operator', 'run a generation worker');
  if nullif(btrim(coalesce(p_worker, '')), '') is null then
    raise exception 'register_worker_session needs a worker name (p_worker)' using errcode = 'invalid_parameter_value';
  end if;
  -- sessions that ended and hold nothing any more are forgotten
  delete from app_private.worker_sessions w
   where w.worker in (select app_private.gone_workers())
     and not exists (select 1 from public.generation_job_items i where i.status = 'claimed' and i.lease_owner = w.worker)
     and not exists (select 1 from public.generation_jobs j where j.lease_owner = w.worker);
  insert into app_private.worker_sessions (worker) values (btrim(p_worker))
    on conflict (worker) do update set started_at = now()
  returning lock_key into v_key;
  return pg_try_advisory_lock(20261202, v_key);
end $$;

-- Lease the items p_ids (locked by the caller) to p_worker for p_lease_seconds, one attempt more,
-- and mark the scenarios they generate as generating. Returns the ids.
create or replace function app_private.lease_items(p_ids bigint[], p_worker text, p_lease_seconds integer)
returns bigint[]
language plpgsql security definer
set search_path = public, pg_temp
as $$
begin
  if coalesce(cardinality(p_ids), 0) = 0 then
    return '{}';
  end if;
  update public.generation_job_items i
     set status = 'claimed', attempts = i.attempts + 1, lease_owner = btrim(p_worker),
         lease_expires_at = now() + make_interval(secs => p_lease_seconds), heartbeat_at = now(),
         started_at = coalesce(i.started_at, now())
   where i.id = any(p_ids);
  update public.scenarios s set status = 'generating'
   where s.id in (select i.scenario_id from public.generation_job_items i join public.generation_jobs j on j.id = i.job_id
                   where i.id = any(p_ids) and j.task = 'generate');
  return array(select unnest(p_ids) order by 1);
end $$;

-- Claim up to p_limit items for a worker, with a lease of p_lease_seconds. Pending items come
-- first in job and item order; an item whose lease expired, or whose worker's session ended, is
-- claimed again while it has attempts left. `for update skip locked` keeps two workers off the
-- same item. Without p_job_id, realtime jobs only: a batch job's items wait for their Message
-- Batches result, and its driver claims them with claim_batch_items. Claiming a rating job's item
-- leaves its scenario's status as it is: the scenario is not being generated.
create or replace function public.claim_job_items(
  p_worker text, p_limit integer default 1, p_lease_seconds integer default 300, p_job_id bigint default null)
returns setof public.generation_job_items
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_ids bigint[];
  v_gone text[];
begin
  perform app_private.require_role('operator', 'claim generation work');
  if nullif(btrim(coalesce(p_worker, '')), '') is null then
    raise exception 'claim_job_items needs a worker name (p_worker)' using errcode = 'invalid_parameter_value';
  end if;
  if p_limit is null or p_limit < 1 or p_limit > 1000 then
    raise exception 'p_limit must be between 1 and 1000, not %', p_limit using errcode = 'invalid_parameter_value';
  end if;
  if p_lease_seconds is null or p_lease_seconds < 1 then
    raise exception 'p_lease_seconds must be at least 1, not %', p_lease_seconds using errcode = 'invalid_parameter_value';
  end if;
  v_gone := array(select app_private.gone_workers());

  v_ids := array(
    select i.id
      from public.generation_job_items i
      join public.generation_jobs j on j.id = i.job_id
     where (i.status = 'pending'
            or (i.status = 'claimed' and i.attempts < i.max_attempts
                and (i.lease_expires_at < now() or i.lease_owner = any(v_gone))))
       and j.status in ('queued', 'running')
       and (p_job_id is not null or j.kind = 'realtime')
       and (p_job_id is null or i.job_id = p_job_id)
     order by i.job_id, i.id
     limit p_limit
       for update of i skip locked);
  v_ids := app_private.lease_items(v_ids, p_worker, p_lease_seconds);
  if cardinality(v_ids) = 0 then
    return;
  end if;
  update public.generation_jobs j set status = 'running', started_at = coalesce(j.started_at, now())
   where j.status = 'queued' and j.id in (select i.job_id from public.generation_job_items i where i.id = any(v_ids));
  return query select * from public.generation_job_items i where i.id = any(v_ids) order by i.id;
end $$;

-- Items whose lease expired, or whose worker's session ended, go back to pending, or fail once
-- their attempts are used up. Returns how many items changed.
create or replace function public.requeue_expired_items() returns integer
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_items bigint[];
  v_jobs bigint[];
  v_gone text[];
  j bigint;
begin
  perform app_private.require_role('operator', 'requeue expired work');
  v_gone := array(select app_private.gone_workers());
  with expired as (
    select i.id from public.generation_job_items i
     where i.status = 'claimed' and (i.lease_expires_at < now() or i.lease_owner = any(v_gone))
       for update skip locked
  ), changed as (
    update public.generation_job_items i
       set status = case when i.attempts >= i.max_attempts then 'failed' else 'pending' end,
           error = case when i.attempts >= i.max_attempts
                        then format('lease expired after %s attempts (the worker %s stopped sending heartbeats)',
                                    i.attempts, coalesce(i.lease_owner, '?'))
                        else i.error end,
           finished_at = case when i.attempts >= i.max_attempts then now() end,
           lease_expires_at = null
      from expired
     where i.id = expired.id
    returning i.id
  )
  select array_agg(id) into v_items from changed;
  if v_items is null then
    return 0;
  end if;
  update public.scenarios s
     set status = case when i.status = 'pending' then 'queued'
                       when app_private.scenario_status_for(s.id) = 'not_generated' then 'failed'
                       else app_private.scenario_status_for(s.id) end
    from public.generation_job_items i, public.generation_jobs g
   where i.id = any(v_items) and s.id = i.scenario_id and g.id = i.job_id and g.task = 'generate';
  v_jobs := array(select distinct i.job_id from public.generation_job_items i where i.id = any(v_items) order by 1);
  foreach j in array v_jobs loop
    perform app_private.finish_job_if_done(j);
  end loop;
  return cardinality(v_items);
end $$;

-- Lease up to p_limit batch jobs that have work (items pending or claimed), or extend the lease of
-- the ones this worker already holds; a job whose driver's lease expired or whose session ended is
-- taken over. A follow-up job waits until the job it follows has ended, so what that job leaves
-- goes as one Message Batch. Returns the jobs.
create or replace function public.claim_batch_jobs(
  p_worker text, p_lease_seconds integer default 120, p_job_id bigint default null, p_limit integer default 10)
returns setof public.generation_jobs
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_ids bigint[];
  v_gone text[];
begin
  perform app_private.require_role('operator', 'run a batch job');
  if nullif(btrim(coalesce(p_worker, '')), '') is null then
    raise exception 'claim_batch_jobs needs a worker name (p_worker)' using errcode = 'invalid_parameter_value';
  end if;
  if p_lease_seconds is null or p_lease_seconds < 1 then
    raise exception 'p_lease_seconds must be at least 1, not %', p_lease_seconds using errcode = 'invalid_parameter_value';
  end if;
  v_gone := array(select app_private.gone_workers());
  with picked as (
    select j.id
      from public.generation_jobs j
     where j.kind = 'batch' and j.status in ('queued', 'running')
       and (p_job_id is null or j.id = p_job_id)
       and (j.lease_owner is null or j.lease_expires_at < now() or j.lease_owner = btrim(p_worker)
            or j.lease_owner = any(v_gone))
       and exists (select 1 from public.generation_job_items i
                    where i.job_id = j.id and i.status in ('pending', 'claimed'))
       and not exists (select 1 from public.generation_jobs s
                        where s.id = j.follows_job_id and s.status in ('queued', 'running'))
     order by j.id
     limit greatest(coalesce(p_limit, 10), 1)
       for no key update of j skip locked
  ), leased as (
    update public.generation_jobs j
       set lease_owner = btrim(p_worker), lease_expires_at = now() + make_interval(secs => p_lease_seconds),
           status = 'running', started_at = coalesce(j.started_at, now())
      from picked
     where j.id = picked.id
    returning j.id
  )
  select array_agg(id order by id) into v_ids from leased;
  if v_ids is null then
    return;
  end if;
  return query select * from public.generation_jobs j where j.id = any(v_ids) order by j.id;
end $$;

-- Claim the items of a job's batch p_batch_id whose result has not been read yet (pending, or
-- claimed by a worker whose lease expired or whose session ended), for the worker holding the job
-- lease.
create or replace function public.claim_batch_items(
  p_worker text, p_job_id bigint, p_batch_id text, p_limit integer default 1000, p_lease_seconds integer default 300)
returns setof public.generation_job_items
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_ids bigint[];
  v_gone text[];
begin
  perform app_private.require_role('operator', 'claim generation work');
  if p_limit is null or p_limit < 1 or p_limit > 100000 then
    raise exception 'p_limit must be between 1 and 100000, not %', p_limit using errcode = 'invalid_parameter_value';
  end if;
  v_gone := array(select app_private.gone_workers());
  v_ids := array(
    select i.id
      from public.generation_job_items i
      join public.generation_jobs j on j.id = i.job_id
     where i.job_id = p_job_id and j.status in ('queued', 'running') and j.lease_owner = btrim(p_worker)
       and i.batch_request_id like replace(replace(p_batch_id, '%', '\%'), '_', '\_') || ':%'
       and (i.status = 'pending'
            or (i.status = 'claimed' and i.attempts < i.max_attempts
                and (i.lease_expires_at < now() or i.lease_owner = any(v_gone))))
     order by i.id
     limit p_limit
       for update of i skip locked);
  v_ids := app_private.lease_items(v_ids, p_worker, greatest(p_lease_seconds, 1));
  if cardinality(v_ids) = 0 then
    return;
  end if;
  return query select * from public.generation_job_items i where i.id = any(v_ids) order by i.id;
end $$;

-- ---------------------------------------------------------------------------------------------
-- The shared rate budget
-- ---------------------------------------------------------------------------------------------
-- Take p_amounts ({"requests": 1, "output_tokens": 3000, ...}) from account p_account's buckets,
-- whose per-minute rates are p_limits (the caller's share of the API's limits; empty: a worker that
-- has not seen the limits yet takes from the buckets others made). A bucket holds what the API's
-- "remaining" headers showed at most (a minute's worth at most: the API's buckets may hold less);
-- a new one starts at p_remaining, or full. All or nothing: returns 0 when taken, the seconds until
-- every amount would fit (nothing taken), or null when the account has no bucket for any amount.
create or replace function public.take_rate_budget(
  p_account text, p_amounts jsonb, p_limits jsonb, p_remaining jsonb default '{}'::jsonb) returns double precision
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  r record;
  v_wait double precision := 0;
  v_amount double precision;
  v_found boolean := false;
begin
  perform app_private.require_role('operator', 'take from the rate budget');
  if nullif(btrim(coalesce(p_account, '')), '') is null then
    raise exception 'take_rate_budget needs an account (p_account)' using errcode = 'invalid_parameter_value';
  end if;
  -- rows locked in one order (by resource) everywhere, so two workers never wait on each other in
  -- a cycle: the account's rows first, then any new ones in that order
  perform 1 from app_private.rate_budgets b where b.account = p_account order by b.resource for update;
  insert into app_private.rate_budgets as b (account, resource, per_minute, capacity, level)
  select p_account, l.key, l.value::double precision, l.value::double precision,
         least(l.value::double precision, coalesce((p_remaining ->> l.key)::double precision, l.value::double precision))
    from jsonb_each_text(coalesce(p_limits, '{}'::jsonb)) l
   where p_amounts ? l.key and l.value::double precision > 0
   order by l.key
  on conflict (account, resource) do update
    set per_minute = excluded.per_minute, capacity = least(b.capacity, excluded.per_minute);

  -- refill to now
  for r in
    select b.resource, b.per_minute,
           least(b.capacity, b.level + b.per_minute / 60.0
                 * greatest(0, extract(epoch from clock_timestamp() - b.updated_at))) as level
      from app_private.rate_budgets b
     where b.account = p_account and p_amounts ? b.resource
       and (coalesce(p_limits, '{}'::jsonb) = '{}'::jsonb or p_limits ? b.resource)
     order by b.resource
       for update
  loop
    v_found := true;
    v_amount := least(r.per_minute, greatest(0, (p_amounts ->> r.resource)::double precision));
    if r.level < v_amount then
      v_wait := greatest(v_wait, (v_amount - r.level) / (r.per_minute / 60.0));
    end if;
    update app_private.rate_budgets b set level = r.level, updated_at = clock_timestamp()
     where b.account = p_account and b.resource = r.resource;
  end loop;
  if not v_found then
    return null;
  end if;
  if v_wait > 0 then
    return v_wait;
  end if;
  update app_private.rate_budgets b
     set level = b.level - least(b.per_minute, greatest(0, (p_amounts ->> b.resource)::double precision))
   where b.account = p_account and p_amounts ? b.resource
     and (coalesce(p_limits, '{}'::jsonb) = '{}'::jsonb or p_limits ? b.resource);
  return 0;
end $$;

-- After an answer (or a 429): lower each bucket to what the API reports as remaining plus
-- p_tolerance (per resource: answers settled out of order make a report a little stale), learn a
-- bucket's size from the largest remaining reported, then give back p_amounts (what a request
-- took and did not use; negative: it used more). Returns whether the account has a bucket.
create or replace function public.settle_rate_budget(
  p_account text, p_amounts jsonb default '{}'::jsonb, p_remaining jsonb default '{}'::jsonb,
  p_tolerance jsonb default '{}'::jsonb) returns boolean
language plpgsql security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('operator', 'settle the rate budget');
  -- in take_rate_budget's order, so a settle and a take never wait on each other in a cycle
  perform 1 from app_private.rate_budgets b where b.account = p_account order by b.resource for update;
  with reported as (
    select b.resource,
           least(b.per_minute, greatest(b.capacity, coalesce((p_remaining ->> b.resource)::double precision, 0)))
             as capacity,
           least(b.capacity, b.level + b.per_minute / 60.0
                 * greatest(0, extract(epoch from clock_timestamp() - b.updated_at))) as refilled,
           coalesce((p_remaining ->> b.resource)::double precision
                    + greatest(coalesce((p_tolerance ->> b.resource)::double precision, 0), 0),
                    'infinity'::double precision) as ceiling
      from app_private.rate_budgets b
     where b.account = p_account
       and (coalesce(p_amounts, '{}'::jsonb) ? b.resource or coalesce(p_remaining, '{}'::jsonb) ? b.resource)
  )
  update app_private.rate_budgets b
     set capacity = r.capacity,
         level = least(r.capacity,
                       least(r.refilled, r.ceiling) + coalesce((p_amounts ->> b.resource)::double precision, 0)),
         updated_at = clock_timestamp()
    from reported r
   where b.account = p_account and b.resource = r.resource;
  return found;
end $$;

-- ---------------------------------------------------------------------------------------------
-- Prompt cache warm-up across workers: the first request of a cached prefix goes alone, the others
-- wait until its answer has written the cache. enter_prompt_prefix answers 'warm' (go: the cache
-- holds it), 'first' (go, and call leave_prompt_prefix with the answer) or 'wait' (ask again).
-- A first request that never reports back holds the others p_wait_cap_s at most, and not at all
-- once its worker's session has ended.
-- ---------------------------------------------------------------------------------------------
create table if not exists app_private.prompt_prefixes (
  account       text not null,
  prefix        text not null,
  warming_until timestamptz,
  warming_by    text,
  warm_until    timestamptz,
  primary key (account, prefix)
);

create or replace function public.enter_prompt_prefix(
  p_account text, p_prefix text, p_wait_cap_s double precision default 120, p_worker text default null)
returns text
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_row app_private.prompt_prefixes;
begin
  perform app_private.require_role('operator', 'warm the prompt cache');
  insert into app_private.prompt_prefixes (account, prefix) values (p_account, p_prefix)
    on conflict (account, prefix) do nothing;
  select * into v_row from app_private.prompt_prefixes p
   where p.account = p_account and p.prefix = p_prefix for update;
  if v_row.warm_until > clock_timestamp() then
    return 'warm';
  end if;
  if v_row.warming_until > clock_timestamp()
     and not coalesce(v_row.warming_by in (select app_private.gone_workers()), false) then
    return 'wait';
  end if;
  update app_private.prompt_prefixes p
     set warming_until = clock_timestamp() + make_interval(secs => greatest(coalesce(p_wait_cap_s, 120), 1)),
         warming_by = btrim(p_worker)
   where p.account = p_account and p.prefix = p_prefix;
  -- prefixes nobody used for a day are forgotten
  delete from app_private.prompt_prefixes p
   where p.account = p_account and greatest(p.warm_until, p.warming_until) < clock_timestamp() - interval '1 day';
  return 'first';
end $$;

-- The first request of a prefix was answered: p_ok (a 200) makes the prefix warm for p_ttl_s.
-- Returns whether the prefix was known.
create or replace function public.leave_prompt_prefix(
  p_account text, p_prefix text, p_ok boolean, p_ttl_s double precision default 270) returns boolean
language plpgsql security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('operator', 'warm the prompt cache');
  update app_private.prompt_prefixes p
     set warming_until = null,
         warm_until = case when p_ok then clock_timestamp() + make_interval(secs => greatest(coalesce(p_ttl_s, 0), 0))
                           else p.warm_until end
   where p.account = p_account and p.prefix = p_prefix;
  return found;
end $$;

-- ---------------------------------------------------------------------------------------------
-- Output sizes: the p_quantile of the output tokens of the latest p_recent answers per template
-- (generate and repair calls that came back), for sizing max_tokens.
-- ---------------------------------------------------------------------------------------------
create or replace function public.output_token_quantiles(
  p_model text default null, p_quantile double precision default 0.99, p_recent integer default 200)
returns table (template_name text, calls bigint, quantile_tokens double precision, max_tokens integer)
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('viewer', 'read the output sizes');
  if p_quantile is null or p_quantile <= 0 or p_quantile > 1 then
    raise exception 'p_quantile must be in (0, 1], not %', p_quantile using errcode = 'invalid_parameter_value';
  end if;
  return query
  with recent as (
    select l.template_name, l.output_tokens,
           row_number() over (partition by l.template_name order by l.id desc) as n
      from public.generation_logs l
     where l.template_name is not null and l.purpose in ('generate', 'repair')
       and l.http_status = 200 and l.output_tokens > 0
       and (p_model is null or l.model = p_model)
  )
  select r.template_name, count(*), percentile_cont(p_quantile) within group (order by r.output_tokens),
         max(r.output_tokens)
    from recent r
   where r.n <= greatest(coalesce(p_recent, 200), 1)
   group by r.template_name
   order by r.template_name;
end $$;

-- ---------------------------------------------------------------------------------------------
-- Who may call what (as in the baseline): authenticated and service_role reach the public
-- functions, each checks the app role inside; nobody but the owner reaches app_private.
-- ---------------------------------------------------------------------------------------------
revoke all on app_private.rate_budgets, app_private.worker_sessions, app_private.prompt_prefixes from public;
revoke execute on function app_private.gone_workers() from public;
revoke execute on function app_private.lease_items(bigint[], text, integer) from public;
do $$
declare
  f text;
begin
  foreach f in array array[
    'public.register_worker_session(text)',
    'public.claim_job_items(text, integer, integer, bigint)',
    'public.requeue_expired_items()',
    'public.claim_batch_jobs(text, integer, bigint, integer)',
    'public.claim_batch_items(text, bigint, text, integer, integer)',
    'public.take_rate_budget(text, jsonb, jsonb, jsonb)',
    'public.settle_rate_budget(text, jsonb, jsonb, jsonb)',
    'public.enter_prompt_prefix(text, text, double precision, text)',
    'public.leave_prompt_prefix(text, text, boolean, double precision)',
    'public.output_token_quantiles(text, double precision, integer)']
  loop
    execute format('revoke all on function %s from public', f);
    if exists (select 1 from pg_roles where rolname = 'anon') then
      execute format('revoke all on function %s from anon', f);
    end if;
    if exists (select 1 from pg_roles where rolname = 'authenticated') then
      execute format('grant execute on function %s to authenticated, service_role', f);
    end if;
  end loop;
end $$;
