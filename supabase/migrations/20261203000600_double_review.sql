-- Double review: a share of the conversations goes to a second reviewer, who decides without seeing the
-- first decision or label edits; reviewer agreement is measured on the conversations two or more decided.
--
-- The share is the database's (app_meta 'review.double_share'), not a process setting: in hosted mode
-- every reviewer's app must sample by the same share, and the sampling happens in record_review.
--
-- Assignment: at a conversation's first decision, record_review writes its review_assignments row. The
-- sample is a running quota, so it is deterministic and honours the share exactly: the n-th first decision
-- goes to a second reviewer when floor(n * share) exceeds the double reviews assigned so far (with 10%,
-- the 10th, 20th, ...). A row, once written, keeps its assignment when the share changes later.

create table if not exists public.review_assignments (
  conversation_id text primary key references public.conversations (id),
  second_review   boolean not null,
  first_reviewer  text not null check (btrim(first_reviewer) <> '' and char_length(first_reviewer) <= 200),
  share           double precision not null check (share between 0 and 1),
  assigned_at     timestamptz not null default now()
);
create index if not exists review_assignments_second_idx
  on public.review_assignments (assigned_at) where second_review;

-- Members read them; only record_review writes them.
alter table public.review_assignments enable row level security;
drop policy if exists review_assignments_service_all on public.review_assignments;
drop policy if exists review_assignments_members_read on public.review_assignments;
create policy review_assignments_service_all on public.review_assignments
  for all to service_role using (true) with check (true);
create policy review_assignments_members_read on public.review_assignments
  for select to authenticated using ((select public.has_role('viewer')));
revoke all on public.review_assignments from public, anon, authenticated;
grant select on public.review_assignments to authenticated;
grant select, insert, update, delete on public.review_assignments to service_role;

-- ---------------------------------------------------------------------------------------------
-- The share: 0.10 until an admin sets it.
-- ---------------------------------------------------------------------------------------------
create or replace function app_private.double_review_share() returns double precision
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('viewer', 'read the double-review share');
  return coalesce((select (m.value ->> 'share')::double precision from public.app_meta m
                    where m.key = 'review.double_share'), 0.10);
end $$;

create or replace function app_private.set_double_review_share(p_share double precision) returns double precision
language plpgsql volatile security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('admin', 'change the double-review share');
  if p_share is null or p_share < 0 or p_share > 1 or p_share = 'NaN'::double precision then
    raise exception 'the double-review share must be between 0 and 1 (0.10 sends one conversation in ten), not %',
      coalesce(p_share::text, 'null') using errcode = 'invalid_parameter_value';
  end if;
  insert into public.app_meta (key, value) values ('review.double_share', jsonb_build_object('share', p_share))
  on conflict (key) do update set value = excluded.value, updated_at = now();
  return p_share;
end $$;

-- ---------------------------------------------------------------------------------------------
-- record_review (the hardening migration's, in app_private behind its wrapper) with the assignment at a
-- conversation's first decision. The running count is taken under a transaction lock, so two first
-- decisions at once cannot both fill the same place of the quota.
-- ---------------------------------------------------------------------------------------------
create or replace function app_private.record_review(
  p_conversation_id text, p_decision text, p_reviewer text default null,
  p_reason_code text default null, p_notes text default '', p_review_count integer default null) returns bigint
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_conv public.conversations;
  v_who text;
  v_review bigint;
  v_at timestamptz;
  v_count integer;
  v_last public.reviews;
  v_share double precision;
  v_decided integer;
  v_doubled integer;
begin
  perform app_private.require_role('reviewer', 'record a review decision');
  v_who := app_private.actor(p_reviewer, 'p_reviewer', 'is reviewing');
  if p_decision is null or p_decision not in ('approved', 'needs_edit', 'rejected') then
    raise exception 'unknown decision %; expected approved, needs_edit or rejected',
      coalesce(quote_literal(left(p_decision, 40)), 'null') using errcode = 'invalid_parameter_value';
  end if;
  if p_decision = 'rejected' and p_reason_code is null then
    raise exception 'a rejection needs a reason (p_reason_code)' using errcode = 'invalid_parameter_value',
      hint = 'One of inaccurate_financial_content, emotion_not_realistic, off_voice, arc_not_realized, unsafe_advice, other.';
  end if;
  perform app_private.check_size('the note', 'note', p_notes);
  select * into v_conv from public.conversations c where c.id = p_conversation_id for update;
  if not found then
    raise exception 'conversation % does not exist', p_conversation_id using errcode = 'no_data_found';
  end if;
  select count(*) into v_count from public.reviews r where r.conversation_id = p_conversation_id;
  if p_review_count is not null and v_count <> p_review_count then
    -- a second reviewer still deciding blind must not learn the first decision from this message
    if exists (select 1 from public.review_assignments a where a.conversation_id = p_conversation_id and a.second_review)
       and not exists (select 1 from public.reviews r where r.conversation_id = p_conversation_id and r.reviewer = v_who)
       and (select count(distinct r.reviewer) from public.reviews r where r.conversation_id = p_conversation_id) = 1 then
      raise exception 'conversation % was decided again in its first review while you had it open: reload it and decide again',
        p_conversation_id using errcode = 'BR409', hint = 'Your decision was not recorded.';
    end if;
    select * into v_last from public.reviews r where r.conversation_id = p_conversation_id order by r.id desc limit 1;
    raise exception 'conversation % was changed by % at % UTC (%): reload it and decide again',
      p_conversation_id, coalesce(v_last.reviewer, 'someone'),
      to_char(v_last.created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
      coalesce(replace(v_last.decision, '_', ' '), 'a decision')
      using errcode = 'BR409', hint = 'Your decision was not recorded.';
  end if;

  v_at := clock_timestamp();  -- under the lock: decision times follow the order decisions apply in
  insert into public.reviews (conversation_id, decision, reason_code, notes, reviewer, reviewer_id, created_at)
  values (p_conversation_id, p_decision, p_reason_code, coalesce(p_notes, ''), v_who,
          app_private.signed_in_user(), v_at)
  returning id into v_review;

  if v_count = 0 and not exists (select 1 from public.review_assignments a where a.conversation_id = p_conversation_id) then
    perform pg_advisory_xact_lock(hashtext('public.review_assignments'));
    v_share := coalesce((select (m.value ->> 'share')::double precision from public.app_meta m
                          where m.key = 'review.double_share'), 0.10);
    select count(*), count(*) filter (where a.second_review) into v_decided, v_doubled from public.review_assignments a;
    insert into public.review_assignments (conversation_id, second_review, first_reviewer, share, assigned_at)
    values (p_conversation_id, floor((v_decided + 1) * v_share) > v_doubled, v_who, v_share, v_at);
  end if;

  update public.conversations
     set review_status = p_decision,
         use_as_seed_example = use_as_seed_example and p_decision = 'approved',
         document = jsonb_set(document, '{review}', jsonb_build_object(
             'status', p_decision, 'reviewer', v_who,
             'notes', nullif(coalesce(p_notes, ''), ''), 'reviewed_at', v_at))
           || case when use_as_seed_example and p_decision <> 'approved'
                   then jsonb_build_object('training', coalesce(document -> 'training', '{}'::jsonb)
                                                       || '{"use_as_seed_example": false}'::jsonb)
                   else '{}'::jsonb end
   where id = p_conversation_id;
  if v_conv.use_as_seed_example and p_decision <> 'approved' then
    insert into public.conversation_metadata (conversation_id, key, value)
    values (p_conversation_id, 'review.seed_example',
            jsonb_build_object('value', false, 'by', v_who, 'at', v_at, 'because', p_decision))
    on conflict (conversation_id, key) do update set value = excluded.value;
  end if;

  -- a scenario being regenerated keeps showing that; otherwise it shows the decision
  if v_conv.is_current then
    update public.scenarios set status = p_decision
     where id = v_conv.scenario_id and status not in ('queued', 'generating');
  end if;
  return v_review;
end $$;

-- ---------------------------------------------------------------------------------------------
-- The review queue (see the hardening migration) with the double review: whether the conversation was
-- sent to a second reviewer, who decided first, and whether the second review is still due (no one but
-- the first reviewer has decided). Columns are only added at the end.
-- ---------------------------------------------------------------------------------------------
create or replace view public.v_review_queue with (security_invoker = on) as
select c.id, c.scenario_id, c.version, c.is_current, c.previous_version_id, n.id as next_version_id,
       c.source, c.review_status, c.quality_score, c.turn_count, c.use_as_seed_example,
       c.model, t.name as template_name, t.version as template_version,
       c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.cost_usd,
       c.created_at, c.updated_at,
       s.tier, s.persona, s.emotional_arc, s.topic, s.intent, s.tone, s.outcome_type, s.context_id,
       s.status as scenario_status, a.start_emotion, a.end_emotion,
       r.last_reviewer, r.last_decision_at, coalesce(r.review_count, 0) as review_count,
       coalesce(r.reviewers, '{}'::text[]) as reviewers,
       coalesce(l.revision_count, 0) as label_revision_count,
       case when q.conversation_id is null then 'unrated' when q.hard_failed then 'hard_failed'
            when q.flagged then 'flagged' else 'passed' end as rating_state,
       coalesce(q.flagged, false) as flagged, coalesce(q.hard_failed, false) as hard_failed,
       q.min_score as min_rating, coalesce(q.flag_reasons, '{}') as flag_reasons,
       coalesce(q.criterion_scores, '{}') as criterion_scores,
       coalesce(d.second_review, false) as double_review,
       d.first_reviewer,
       coalesce(d.second_review, false)
         and coalesce(r.reviewers, '{}'::text[]) <@ array[d.first_reviewer] as second_review_due
  from public.conversations c
  join public.scenarios s on s.id = c.scenario_id
  join public.emotional_arcs a on a.id = s.emotional_arc
  left join public.prompt_templates t on t.id = c.prompt_template_id
  left join public.conversations n on n.previous_version_id = c.id
  left join lateral (
    select (array_agg(rv.reviewer order by rv.id desc))[1] as last_reviewer,
           (array_agg(rv.created_at order by rv.id desc))[1] as last_decision_at,
           count(*) as review_count,
           array_agg(distinct rv.reviewer) as reviewers
      from public.reviews rv
     where rv.conversation_id = c.id
  ) r on true
  left join lateral (
    select count(*) as revision_count from public.label_revisions lr where lr.conversation_id = c.id
  ) l on true
  left join public.v_conversation_quality q on q.conversation_id = c.id
  left join public.review_assignments d on d.conversation_id = c.id;
revoke all on public.v_review_queue from public, anon;
grant select on public.v_review_queue to authenticated, service_role;

-- The conversations (current versions) waiting for a second review that this reviewer may take: sent to a
-- second reviewer, no one but the first reviewer has decided, and this reviewer has not decided on it (so
-- the first reviewer is never offered their own conversation again). In the queue's order.
create or replace function app_private.second_review_ids(p_reviewer text default null) returns setof text
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
declare
  v_who text;
begin
  perform app_private.require_role('reviewer', 'read the second reviews');
  v_who := app_private.actor(p_reviewer, 'p_reviewer', 'is reviewing');
  return query
    select q.id from public.v_review_queue q
     where q.is_current and q.second_review_due
       and not (v_who = any(q.reviewers))
     order by q.hard_failed desc, q.flagged desc, q.created_at, q.id;
end $$;

-- ---------------------------------------------------------------------------------------------
-- Agreement reads: the conversations two or more people decided on, each reviewer's last decision (by the
-- order record_review applied them in) and each reviewer's value of every turn's labels. A reviewer's value
-- of a label is their last revision of that turn and field (latest by time, ties in the order written, the
-- rule of lib/core/labels.py), else the value as generated.
-- ---------------------------------------------------------------------------------------------
create or replace function app_private.agreement_decisions()
returns table (conversation_id text, reviewer text, decision text, decided_at timestamptz)
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('viewer', 'read reviewer agreement');
  return query
    select distinct on (r.conversation_id, r.reviewer) r.conversation_id, r.reviewer, r.decision, r.created_at
      from public.reviews r
     where r.conversation_id in (select x.conversation_id from public.reviews x
                                  group by x.conversation_id having count(distinct x.reviewer) >= 2)
     order by r.conversation_id, r.reviewer, r.id desc;
end $$;

create or replace function app_private.agreement_labels()
returns table (conversation_id text, reviewer text, turn_idx integer, role text,
               emotion_primary text, emotion_intensity double precision, strategy_primary text)
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('viewer', 'read reviewer agreement');
  return query
    with pairs as (
      select r.conversation_id, r.reviewer from public.reviews r
       group by r.conversation_id, r.reviewer
    ), doubled as (
      select p.conversation_id from pairs p group by p.conversation_id having count(*) >= 2
    )
    select p.conversation_id, p.reviewer, t.idx, t.role,
           coalesce(v.mine ->> 'emotion.primary', t.labels #>> '{emotion,primary}'),
           coalesce((v.mine ->> 'emotion.intensity')::double precision,
                    (t.labels #>> '{emotion,intensity}')::double precision),
           coalesce(v.mine ->> 'strategies.primary', t.labels #>> '{strategies,primary}')
      from pairs p
      join doubled d on d.conversation_id = p.conversation_id
      join public.conversation_turns t on t.conversation_id = p.conversation_id
      left join lateral (
        select jsonb_object_agg(x.field, x.new_value) as mine
          from (select distinct on (lr.field) lr.field, lr.new_value from public.label_revisions lr
                 where lr.conversation_id = p.conversation_id and lr.turn_idx = t.idx and lr.author = p.reviewer
                   and lr.field in ('emotion.primary', 'emotion.intensity', 'strategies.primary')
                 order by lr.field, lr.created_at desc, lr.id desc) x
      ) v on true
     order by p.conversation_id, p.reviewer, t.idx;
end $$;

-- ---------------------------------------------------------------------------------------------
-- The new functions behind SECURITY INVOKER wrappers in public (20261202001000_api_wrappers.sql).
-- ---------------------------------------------------------------------------------------------
create or replace function public.double_review_share() returns double precision
language sql stable security invoker set search_path = ''
as 'select app_private.double_review_share()';

create or replace function public.set_double_review_share(p_share double precision) returns double precision
language sql volatile security invoker set search_path = ''
as 'select app_private.set_double_review_share(p_share => p_share)';

create or replace function public.second_review_ids(p_reviewer text default null) returns setof text
language sql stable security invoker set search_path = ''
as 'select * from app_private.second_review_ids(p_reviewer => p_reviewer)';

create or replace function public.agreement_decisions()
returns table (conversation_id text, reviewer text, decision text, decided_at timestamptz)
language sql stable security invoker set search_path = ''
as 'select * from app_private.agreement_decisions()';

create or replace function public.agreement_labels()
returns table (conversation_id text, reviewer text, turn_idx integer, role text,
               emotion_primary text, emotion_intensity double precision, strategy_primary text)
language sql stable security invoker set search_path = ''
as 'select * from app_private.agreement_labels()';

revoke all on function app_private.double_review_share(), app_private.set_double_review_share(double precision),
  app_private.second_review_ids(text), app_private.agreement_decisions(), app_private.agreement_labels(),
  public.double_review_share(), public.set_double_review_share(double precision), public.second_review_ids(text),
  public.agreement_decisions(), public.agreement_labels()
  from public, anon;
grant execute on function app_private.double_review_share(), app_private.set_double_review_share(double precision),
  app_private.second_review_ids(text), app_private.agreement_decisions(), app_private.agreement_labels(),
  public.double_review_share(), public.set_double_review_share(double precision), public.second_review_ids(text),
  public.agreement_decisions(), public.agreement_labels()
  to authenticated, service_role;
