-- Read views for the pages. security_invoker: a view reads with the caller's rights, so the
-- tables' RLS policies apply through it (Supabase's recommendation for exposed views).

-- One row per scenario with what the scenario table and its filters need: the arc's start and
-- end emotion, the topic's cluster, and the current conversation (if any).
create or replace view public.v_scenarios with (security_invoker = on) as
select s.id, s.tier, s.persona, s.emotional_arc, s.topic, s.intent, s.tone, s.outcome_type,
       s.context_id, s.context, s.status, s.origin, s.quality_score, s.plan_seed, s.plan_batch,
       s.created_by, s.created_at, s.updated_at,
       a.start_emotion, a.end_emotion, t.cluster_id as topic_cluster,
       c.id as conversation_id, c.version as conversation_version, c.source as conversation_source,
       c.quality_score as conversation_quality, c.review_status, c.turn_count,
       c.created_at as conversation_created_at
  from public.scenarios s
  join public.emotional_arcs a on a.id = s.emotional_arc
  join public.topics t on t.id = s.topic
  left join public.conversations c on c.scenario_id = s.id and c.is_current;

-- A job with its progress, counted from its items (see generation_jobs for why).
create or replace view public.v_generation_jobs with (security_invoker = on) as
select j.id, j.kind, j.status, j.batch_id, j.batch_status, j.model, j.settings, j.created_by,
       j.total_items, j.error, j.created_at, j.started_at, j.finished_at, j.updated_at,
       coalesce(p.pending, 0) as pending_items,
       coalesce(p.claimed, 0) as claimed_items,
       coalesce(p.succeeded, 0) as succeeded_items,
       coalesce(p.failed, 0) as failed_items,
       coalesce(p.cancelled, 0) as cancelled_items,
       coalesce(p.input_tokens, 0) as input_tokens,
       coalesce(p.output_tokens, 0) as output_tokens,
       coalesce(p.cost_usd, 0) as cost_usd
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
  ) p on true;

revoke all on public.v_scenarios, public.v_generation_jobs from anon;
grant select on public.v_scenarios, public.v_generation_jobs to authenticated, service_role;
