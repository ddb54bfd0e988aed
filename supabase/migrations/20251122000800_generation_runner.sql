-- What the generation runner (lib/worker.py) needs on top of the job tables and functions:
--
-- Realtime jobs
-- - claim_job_items: a worker asking for "any work" (p_job_id null) gets realtime jobs' items only.
--   A batch job's items wait for their Message Batches result; its driver claims them with
--   claim_batch_items.
-- - release_job_items: a worker gives back items it holds without using up an attempt (it is
--   shutting down, or a batch request was canceled): pending again, or cancelled when the job was
--   stopped meanwhile.
-- - fail_job: stop a job because of an error every item would hit (an invalid API key), keeping
--   the reason on the job; Resume starts it again.
-- - resume_job: as before, and a stopped job whose in-flight items went back to pending while it
--   was stopped (a transient failure) runs again too; the job's error is cleared.
--
-- Batch jobs (kind 'batch', the Message Batches API at half the price). One worker at a time
-- drives a batch job, under a job lease (lease_owner, lease_expires_at); any worker takes over
-- when the lease expires, so a job survives an app restart.
-- - claim_batch_jobs: lease the batch jobs that have work (or extend one's own lease).
-- - record_job_batch: the batch a job submitted (its id and processing status) and, per item,
--   the request in it (batch_request_id = '<batch id>:<custom_id>'); a null request id marks an
--   item whose result has been read, so a later retry goes into a new batch.
-- - claim_batch_items: claim the items of a job's current batch to read their results.
-- - release_batch_job: give the job lease back.

alter table public.generation_jobs
  add column if not exists lease_owner      text,
  add column if not exists lease_expires_at timestamptz;

-- ---------------------------------------------------------------------------------------------
-- claim_job_items: as in 20251122000300_functions.sql, plus: without p_job_id, realtime jobs only.
-- ---------------------------------------------------------------------------------------------
create or replace function public.claim_job_items(
  p_worker text, p_limit integer default 1, p_lease_seconds integer default 300, p_job_id bigint default null)
returns setof public.generation_job_items
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_ids bigint[];
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

  with picked as (
    select i.id
      from public.generation_job_items i
      join public.generation_jobs j on j.id = i.job_id
     where (i.status = 'pending'
            or (i.status = 'claimed' and i.lease_expires_at < now() and i.attempts < i.max_attempts))
       and j.status in ('queued', 'running')
       and (p_job_id is not null or j.kind = 'realtime')
       and (p_job_id is null or i.job_id = p_job_id)
     order by i.job_id, i.id
     limit p_limit
       for update of i skip locked
  ), claimed as (
    update public.generation_job_items i
       set status = 'claimed', attempts = i.attempts + 1, lease_owner = btrim(p_worker),
           lease_expires_at = now() + make_interval(secs => p_lease_seconds), heartbeat_at = now(),
           started_at = coalesce(i.started_at, now())
      from picked
     where i.id = picked.id
    returning i.id
  )
  select array_agg(id order by id) into v_ids from claimed;

  if v_ids is null then
    return;
  end if;
  update public.scenarios s set status = 'generating'
   where s.id in (select i.scenario_id from public.generation_job_items i where i.id = any(v_ids));
  update public.generation_jobs j set status = 'running', started_at = coalesce(j.started_at, now())
   where j.status = 'queued' and j.id in (select i.job_id from public.generation_job_items i where i.id = any(v_ids));
  return query select * from public.generation_job_items i where i.id = any(v_ids) order by i.id;
end $$;

-- ---------------------------------------------------------------------------------------------
-- Give back items a worker holds, without counting the attempt. Returns how many it gave back.
-- ---------------------------------------------------------------------------------------------
create or replace function public.release_job_items(p_worker text, p_item_ids bigint[]) returns integer
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_items bigint[];
  v_jobs bigint[];
  j bigint;
begin
  perform app_private.require_role('operator', 'release generation work');
  with mine as (
    select i.id from public.generation_job_items i
     where i.id = any(coalesce(p_item_ids, '{}')) and i.status = 'claimed' and i.lease_owner = btrim(p_worker)
       for update
  ), released as (
    update public.generation_job_items i
       set status = case when g.status in ('queued', 'running') then 'pending' else 'cancelled' end,
           attempts = greatest(i.attempts - 1, 0),
           lease_expires_at = null,
           finished_at = case when g.status in ('queued', 'running') then null else now() end
      from mine, public.generation_jobs g
     where i.id = mine.id and g.id = i.job_id
    returning i.id
  )
  select coalesce(array_agg(id), '{}') into v_items from released;
  if cardinality(v_items) = 0 then
    return 0;
  end if;
  update public.scenarios s
     set status = case when i.status = 'pending' then 'queued' else app_private.scenario_status_for(s.id) end
    from public.generation_job_items i
   where i.id = any(v_items) and s.id = i.scenario_id;
  v_jobs := array(select distinct i.job_id from public.generation_job_items i where i.id = any(v_items) order by 1);
  foreach j in array v_jobs loop
    perform app_private.finish_job_if_done(j);
  end loop;
  return cardinality(v_items);
end $$;

-- ---------------------------------------------------------------------------------------------
-- Stop a job because of an error the next item would hit too (an invalid key, an unknown model).
-- Like stop_job, with status 'failed' and the reason kept. Returns how many items were cancelled.
-- ---------------------------------------------------------------------------------------------
create or replace function public.fail_job(p_job_id bigint, p_error text) returns integer
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_items bigint[];
begin
  perform app_private.require_role('operator', 'stop a generation job');
  perform 1 from public.generation_jobs j where j.id = p_job_id for update;
  if not found then
    raise exception 'generation job % does not exist', p_job_id using errcode = 'no_data_found';
  end if;
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
   where s.id in (select i.scenario_id from public.generation_job_items i where i.id = any(v_items));
  update public.generation_jobs
     set status = 'failed', error = coalesce(nullif(btrim(p_error), ''), 'stopped by an error'), finished_at = now()
   where id = p_job_id and status in ('queued', 'running');
  return cardinality(v_items);
end $$;

-- ---------------------------------------------------------------------------------------------
-- resume_job: as in 20251122000300_functions.sql, plus: a stopped or failed job with pending items
-- (an item in flight at Stop that went back to the queue) runs again, and its error is cleared.
-- ---------------------------------------------------------------------------------------------
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
           error = case when p_failed then null else i.error end
     where i.job_id = p_job_id
       and i.status = case when p_failed then 'failed' else 'cancelled' end
       -- a scenario queued meanwhile in another job stays there
       and not exists (select 1 from public.generation_job_items o
                        where o.scenario_id = i.scenario_id and o.id <> i.id and o.status in ('pending', 'claimed'))
    returning i.id, i.scenario_id
  )
  select coalesce(array_agg(id), '{}') into v_items from again;
  update public.scenarios s set status = 'queued'
   where s.id in (select i.scenario_id from public.generation_job_items i where i.id = any(v_items));
  if cardinality(v_items) > 0
     or exists (select 1 from public.generation_job_items i where i.job_id = p_job_id and i.status = 'pending') then
    update public.generation_jobs
       set status = case when started_at is null then 'queued' else 'running' end, finished_at = null, error = null
     where id = p_job_id;
  end if;
  return cardinality(v_items);
end $$;

-- ---------------------------------------------------------------------------------------------
-- Batch jobs
-- ---------------------------------------------------------------------------------------------

-- Lease up to p_limit batch jobs that have work (items pending or claimed), or extend the lease of
-- the ones this worker already holds. Returns the jobs.
create or replace function public.claim_batch_jobs(
  p_worker text, p_lease_seconds integer default 120, p_job_id bigint default null, p_limit integer default 10)
returns setof public.generation_jobs
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_ids bigint[];
begin
  perform app_private.require_role('operator', 'run a batch job');
  if nullif(btrim(coalesce(p_worker, '')), '') is null then
    raise exception 'claim_batch_jobs needs a worker name (p_worker)' using errcode = 'invalid_parameter_value';
  end if;
  if p_lease_seconds is null or p_lease_seconds < 1 then
    raise exception 'p_lease_seconds must be at least 1, not %', p_lease_seconds using errcode = 'invalid_parameter_value';
  end if;
  with picked as (
    select j.id
      from public.generation_jobs j
     where j.kind = 'batch' and j.status in ('queued', 'running')
       and (p_job_id is null or j.id = p_job_id)
       and (j.lease_owner is null or j.lease_expires_at < now() or j.lease_owner = btrim(p_worker))
       and exists (select 1 from public.generation_job_items i
                    where i.job_id = j.id and i.status in ('pending', 'claimed'))
     order by j.id
     limit greatest(coalesce(p_limit, 10), 1)
       for update of j skip locked
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

-- Record what a batch job's driver did: the batch id and processing status (null keeps them), and
-- per item its request in the batch (p_request_ids[n] for p_item_ids[n]; null clears it). Only
-- the worker holding the job lease may. Returns false when it does not hold it any more.
create or replace function public.record_job_batch(
  p_job_id bigint, p_worker text, p_batch_id text default null, p_batch_status text default null,
  p_item_ids bigint[] default null, p_request_ids text[] default null) returns boolean
language plpgsql security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('operator', 'run a batch job');
  if coalesce(cardinality(p_item_ids), 0) <> coalesce(cardinality(p_request_ids), 0) then
    raise exception 'record_job_batch: % item ids but % request ids', coalesce(cardinality(p_item_ids), 0),
      coalesce(cardinality(p_request_ids), 0) using errcode = 'invalid_parameter_value';
  end if;
  perform 1 from public.generation_jobs j
   where j.id = p_job_id and j.kind = 'batch' and j.lease_owner = btrim(p_worker)
     for update;
  if not found then
    if not exists (select 1 from public.generation_jobs where id = p_job_id) then
      raise exception 'generation job % does not exist', p_job_id using errcode = 'no_data_found';
    end if;
    return false;
  end if;
  update public.generation_jobs j
     set batch_id = coalesce(p_batch_id, j.batch_id), batch_status = coalesce(p_batch_status, j.batch_status)
   where j.id = p_job_id;
  if coalesce(cardinality(p_item_ids), 0) > 0 then
    update public.generation_job_items i
       set batch_request_id = r.request_id
      from unnest(p_item_ids, p_request_ids) as r(item_id, request_id)
     where i.id = r.item_id and i.job_id = p_job_id;
  end if;
  return true;
end $$;

-- Claim the items of a job's batch p_batch_id whose result has not been read yet (pending, or
-- claimed by a worker whose lease expired), for the worker holding the job lease.
create or replace function public.claim_batch_items(
  p_worker text, p_job_id bigint, p_batch_id text, p_limit integer default 1000, p_lease_seconds integer default 300)
returns setof public.generation_job_items
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_ids bigint[];
begin
  perform app_private.require_role('operator', 'claim generation work');
  if p_limit is null or p_limit < 1 or p_limit > 100000 then
    raise exception 'p_limit must be between 1 and 100000, not %', p_limit using errcode = 'invalid_parameter_value';
  end if;
  with picked as (
    select i.id
      from public.generation_job_items i
      join public.generation_jobs j on j.id = i.job_id
     where i.job_id = p_job_id and j.status in ('queued', 'running') and j.lease_owner = btrim(p_worker)
       and i.batch_request_id like replace(replace(p_batch_id, '%', '\%'), '_', '\_') || ':%'
       and (i.status = 'pending'
            or (i.status = 'claimed' and i.lease_expires_at < now() and i.attempts < i.max_attempts))
     order by i.id
     limit p_limit
       for update of i skip locked
  ), claimed as (
    update public.generation_job_items i
       set status = 'claimed', attempts = i.attempts + 1, lease_owner = btrim(p_worker),
           lease_expires_at = now() + make_interval(secs => greatest(p_lease_seconds, 1)), heartbeat_at = now(),
           started_at = coalesce(i.started_at, now())
      from picked
     where i.id = picked.id
    returning i.id
  )
  select array_agg(id order by id) into v_ids from claimed;
  if v_ids is null then
    return;
  end if;
  update public.scenarios s set status = 'generating'
   where s.id in (select i.scenario_id from public.generation_job_items i where i.id = any(v_ids));
  return query select * from public.generation_job_items i where i.id = any(v_ids) order by i.id;
end $$;

create or replace function public.release_batch_job(p_job_id bigint, p_worker text) returns boolean
language plpgsql security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('operator', 'run a batch job');
  update public.generation_jobs j set lease_owner = null, lease_expires_at = null
   where j.id = p_job_id and j.lease_owner = btrim(p_worker);
  return found;
end $$;

revoke all on function public.release_job_items(text, bigint[]) from public, anon;
revoke all on function public.fail_job(bigint, text) from public, anon;
revoke all on function public.claim_batch_jobs(text, integer, bigint, integer) from public, anon;
revoke all on function public.record_job_batch(bigint, text, text, text, bigint[], text[]) from public, anon;
revoke all on function public.claim_batch_items(text, bigint, text, integer, integer) from public, anon;
revoke all on function public.release_batch_job(bigint, text) from public, anon;

grant execute on function public.release_job_items(text, bigint[]) to authenticated, service_role;
grant execute on function public.fail_job(bigint, text) to authenticated, service_role;
grant execute on function public.claim_batch_jobs(text, integer, bigint, integer) to authenticated, service_role;
grant execute on function public.record_job_batch(bigint, text, text, text, bigint[], text[]) to authenticated, service_role;
grant execute on function public.claim_batch_items(text, bigint, text, integer, integer) to authenticated, service_role;
grant execute on function public.release_batch_job(bigint, text) to authenticated, service_role;
