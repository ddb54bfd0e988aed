-- What the generation engine (lib/generation.py) needs on top of the first migrations:
-- - generation_logs keeps each model call's raw response and stop reason, and two more outcomes:
--   'refused' (stop_reason refusal) and 'truncated' (stop_reason max_tokens);
-- - set_generation_status: the scenario status around a generation that runs without a job item
--   (the single "Generate" of lib.generation.generate_one): 'generating' while it runs, 'failed'
--   when it fails, and back to what the current conversation says when it ends.

alter table public.generation_logs
  add column if not exists raw_response text,
  add column if not exists stop_reason  text;

alter table public.generation_logs drop constraint if exists generation_logs_outcome_check;
alter table public.generation_logs add constraint generation_logs_outcome_check
  check (outcome in ('ok', 'invalid', 'repaired', 'error', 'rate_limited', 'overloaded', 'timeout', 'cancelled',
                     'refused', 'truncated'));

create index if not exists generation_logs_scenario_idx on public.generation_logs (scenario_id, created_at);

-- p_status: 'generating', 'failed', or null for "settled" (the status the scenario's current
-- conversation gives it, as when a job item ends). Like fail_job_item, a failed regeneration
-- leaves a scenario that already has a conversation with that conversation's status.
-- Returns the scenario's new status.
create or replace function public.set_generation_status(p_scenario_id bigint, p_status text default null)
returns text
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_status text;
begin
  perform app_private.require_role('operator', 'change the status of a scenario');
  if p_status is not null and p_status not in ('generating', 'failed') then
    raise exception 'set_generation_status: status must be generating, failed or null, not %', p_status
      using errcode = 'invalid_parameter_value';
  end if;
  update public.scenarios s
     set status = case
                    when p_status = 'generating' then 'generating'
                    when p_status = 'failed' and app_private.scenario_status_for(s.id) = 'not_generated' then 'failed'
                    else app_private.scenario_status_for(s.id)
                  end
   where s.id = p_scenario_id
  returning s.status into v_status;
  if v_status is null then
    raise exception 'scenario #% does not exist', p_scenario_id using errcode = 'no_data_found';
  end if;
  return v_status;
end $$;

revoke all on function public.set_generation_status(bigint, text) from public, anon;
grant execute on function public.set_generation_status(bigint, text) to authenticated, service_role;
