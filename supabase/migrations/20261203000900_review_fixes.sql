-- Three fixes to this round's label-source and double-review functions.
--
-- 1. A correction is a revision that changes the value. Since the blind second review
--    (20261203000700_blind_review.sql) a reviewer who makes the correction another reviewer already made
--    records a revision whose old and new values are equal: it is their value for agreement, not a second
--    correction. app_private.label_corrections is that definition; the label drift, the correction stats and
--    coverage's correction rows count from it (the history and agreement still read every revision).
-- 2. A reviewer's labels for agreement are their own: revisions they made in review (human_review) or
--    suggestions they accepted (automated). An operator import may name any author, so its revisions are
--    no reviewer's judgement, neither in agreement_labels nor in record_revision's blind exception.
-- 3. The double-review quota counts the first decisions since the share was last set: over every
--    assignment ever, a share raised after a long time at 0 sent the next many first decisions all to a
--    second review, and one lowered after a high share sent none for as long.

-- ---------------------------------------------------------------------------------------------
-- 1. The corrections
-- ---------------------------------------------------------------------------------------------
create or replace view app_private.label_corrections as
select l.* from public.label_revisions l
 where l.old_value is distinct from l.new_value;
revoke all on app_private.label_corrections from public, anon, authenticated, service_role;

-- The baseline's correction stats, the label sources' drift and the baseline's coverage counts (each in
-- app_private behind its wrapper), unchanged but for reading the corrections instead of every revision.

create or replace function app_private.label_correction_stats(p_by text default null, p_source text default null)
returns table (field text, from_value text, to_value text, group_id text, corrections bigint,
               conversations bigint, authors bigint, last_at timestamptz)
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('viewer', 'read the label analytics');
  if p_by is not null and p_by not in ('topic', 'persona', 'tier', 'emotional_arc') then
    raise exception 'label_correction_stats: p_by must be topic, persona, tier, emotional_arc or null, not %',
      quote_literal(p_by) using errcode = 'invalid_parameter_value';
  end if;
  return query
  select l.field, app_private.label_text(l.old_value), app_private.label_text(l.new_value),
         case p_by when 'topic' then s.topic when 'persona' then s.persona when 'tier' then s.tier
                   when 'emotional_arc' then s.emotional_arc end,
         count(*), count(distinct l.conversation_id), count(distinct l.author), max(l.created_at)
    from app_private.label_corrections l
    join public.conversations c on c.id = l.conversation_id
    join public.scenarios s on s.id = c.scenario_id
   where p_source is null or l.source = p_source
   group by 1, 2, 3, 4
   order by 5 desc, 8 desc, 1, 2, 3, 4;
end $$;

create or replace function app_private.label_drift(p_source text default null)
returns table (day date, field text, from_value text, to_value text, source text, model text, template text,
               corrections bigint, conversations bigint)
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('viewer', 'read the label drift');
  return query
  select (l.created_at at time zone 'UTC')::date, l.field, app_private.label_text(l.old_value),
         app_private.label_text(l.new_value), l.source, coalesce(c.model, ''),
         coalesce(t.name || ' v' || t.version, ''), count(*), count(distinct l.conversation_id)
    from app_private.label_corrections l
    join public.conversations c on c.id = l.conversation_id
    left join public.prompt_templates t on t.id = c.prompt_template_id
   where p_source is null or l.source = p_source
   group by 1, 2, 3, 4, 5, 6, 7
   order by 1, 8 desc, 2, 3, 4, 5, 6, 7;
end $$;

create or replace function app_private.coverage_counts(
  p_scopes text[] default array['approved', 'generated', 'planned'])
returns table (scope text, section text, a text, b text, c text, n double precision, m double precision)
language plpgsql stable security definer
set search_path = public, pg_temp
set work_mem = '64MB'  -- the turns of 10,000 conversations sort and hash in memory, not on disk
as $$
declare
  v_bad text;
begin
  perform app_private.require_role('viewer', 'read the coverage counts');
  select x into v_bad from unnest(coalesce(p_scopes, '{}'::text[])) x
   where x is null or x not in ('approved', 'generated', 'planned') limit 1;
  if found or coalesce(cardinality(p_scopes), 0) = 0 then
    raise exception 'coverage_counts: scopes must be approved, generated or planned, not %',
      coalesce(v_bad, 'none') using errcode = 'invalid_parameter_value';
  end if;

  -- One pass over the current conversations and their turns counts 'generated' (every row) and
  -- 'approved' (the rows flagged ok); 'planned' is 'generated' plus the pending scenarios.
  return query
  with conv as materialized (
    select c.id, c.review_status = 'approved' as ok, c.review_status, c.turn_count, c.quality_score,
           s.tier, s.persona, s.emotional_arc, s.topic
      from public.conversations c
      join public.scenarios s on s.id = c.scenario_id
     where c.is_current
  ),
  turns as (  -- read once, in (conversation_id, idx) order, from conversation_turns_coverage_idx
    select t.conversation_id, t.role, t.emotion_primary, t.strategy_primary, conv.ok,
           lag(t.emotion_primary) over (partition by t.conversation_id order by t.idx) as answered
      from public.conversation_turns t
      join conv on conv.id = t.conversation_id
  ),
  -- every per-turn count in one hashed pass; gid tells the grouping set apart (grouping() sets a bit
  -- per argument left out): 15 = per role, 3 = per (emotion, conversation), 13 = per strategy,
  -- 12 = per (emotion answered, strategy). n counts all turns, o those of approved conversations.
  per_turn as materialized (
    select grouping(t.emotion_primary, t.conversation_id, t.strategy_primary, t.answered) as gid,
           t.role, t.emotion_primary, t.strategy_primary, t.answered,
           count(*)::double precision as n, count(*) filter (where t.ok)::double precision as o
      from turns t
     group by grouping sets ((t.role), (t.role, t.emotion_primary, t.conversation_id), (t.role, t.strategy_primary),
                             (t.role, t.answered, t.strategy_primary))
  ),
  supporting as (
    select x.strategy, count(*)::double precision as n, count(*) filter (where conv.ok)::double precision as o
      from public.conversation_turns t
      join conv on conv.id = t.conversation_id
     cross join lateral unnest(t.strategies_supporting) as x(strategy)
     where t.role = 'assistant'
     group by x.strategy
  ),
  -- counts of the current conversations: g = all of them ('generated'), o = the approved ones
  counted (section, a, b, c, g, o, gm, om) as (
    select 'total', 'conversations', null::text, null::text, count(*)::double precision,
           count(*) filter (where conv.ok)::double precision, null::double precision, null::double precision
      from conv
    union all
    select 'total', p.role || '_turns', null, null, p.n, p.o, null, null
      from per_turn p where p.gid = 15
    union all
    select 'emotion', p.emotion_primary, null, null, sum(p.n), sum(p.o), count(*), count(*) filter (where p.o > 0)
      from per_turn p where p.gid = 3 and p.role = 'user' group by p.emotion_primary
    union all
    select 'strategy', p.strategy_primary, null, null, p.n, p.o, 0, 0
      from per_turn p where p.gid = 13 and p.role = 'assistant'
    union all
    select 'strategy', x.strategy, null, null, 0, 0, x.n, x.o from supporting x
    union all
    select 'emotion_strategy', p.answered, p.strategy_primary, null, p.n, p.o, null, null
      from per_turn p where p.gid = 12 and p.role = 'assistant' and p.answered is not null
    union all
    select 'persona_topic', v.persona, v.topic, null, count(*), count(*) filter (where v.ok), null, null
      from conv v group by v.persona, v.topic
    union all
    select 'arc_tier', v.emotional_arc, v.tier, null, count(*), count(*) filter (where v.ok), null, null
      from conv v group by v.emotional_arc, v.tier
    union all
    select 'exchanges', (v.turn_count / 2)::text, null, null, count(*), count(*) filter (where v.ok), null, null
      from conv v group by v.turn_count / 2
    union all
    select 'quality', floor(v.quality_score)::integer::text, v.review_status, null, count(*),
           count(*) filter (where v.ok), null, null
      from conv v group by 2, 3
    union all
    select 'correction', r.field,
           case when jsonb_typeof(r.old_value) = 'string' then r.old_value #>> '{}' end,
           case when jsonb_typeof(r.new_value) = 'string' then r.new_value #>> '{}' end,
           count(*), count(*) filter (where v.ok), null, null
      from app_private.label_corrections r
      join conv v on v.id = r.conversation_id
     where r.source in ('human_review', 'operator_realtime')
     group by 2, 3, 4
  ),
  pending as (  -- scenarios without a conversation yet, by their dimensions
    select jsonb_build_object('tier', s.tier, 'persona', s.persona, 'emotional_arc', s.emotional_arc,
                              'topic', s.topic, 'intent', s.intent, 'tone', s.tone,
                              'outcome_type', s.outcome_type, 'context_id', s.context_id)::text as a,
           count(*)::double precision as n
      from public.scenarios s
     where 'planned' = any(p_scopes)
       and not exists (select 1 from public.conversations c where c.scenario_id = s.id and c.is_current)
     group by 1
  ),
  funnel as (  -- the whole scenario table, whatever the scope
    select x.stage as a, x.n::double precision as n
      from (select count(*) as planned,
                   count(c.id) as generated,
                   count(c.id) filter (where c.review_status = 'approved') as approved,
                   count(c.id) filter (where c.review_status = 'needs_edit') as needs_edit,
                   count(c.id) filter (where c.review_status = 'rejected') as rejected,
                   count(c.id) filter (where c.review_status = 'unreviewed') as unreviewed
              from public.scenarios s
              left join public.conversations c on c.scenario_id = s.id and c.is_current) f
     cross join lateral (values ('planned', f.planned), ('generated', f.generated), ('approved', f.approved),
                                ('needs_edit', f.needs_edit), ('rejected', f.rejected),
                                ('unreviewed', f.unreviewed)) as x(stage, n)
  ),
  statuses as (
    select s.status as a, count(*)::double precision as n from public.scenarios s group by s.status
  ),
  long (scope, section, a, b, c, n, m) as (
    select 'generated', k.section, k.a, k.b, k.c, k.g, k.gm from counted k
    union all
    select 'planned', k.section, k.a, k.b, k.c, k.g, k.gm from counted k
    union all
    select 'approved', k.section, k.a, k.b, k.c, k.o, k.om from counted k
    union all
    select 'planned', 'pending', p.a, null, null, p.n, null from pending p
    union all
    select x.scope, 'funnel', f.a, null, null, f.n, null from funnel f cross join unnest(p_scopes) as x(scope)
    union all
    select x.scope, 'status', st.a, null, null, st.n, null from statuses st cross join unnest(p_scopes) as x(scope)
  )
  select l.scope, l.section, l.a, l.b, l.c, sum(l.n), sum(l.m)
    from long l
   where l.scope = any(p_scopes)
   group by l.scope, l.section, l.a, l.b, l.c
  having sum(l.n) <> 0 or coalesce(sum(l.m), 0) <> 0;  -- zeros are what the tables assume anyway
end $$;

-- ---------------------------------------------------------------------------------------------
-- 2. A reviewer's own revisions: made in review, or a suggestion they accepted. Operators' imports
--    (operator_realtime) name an author they were given, who may be a reviewer's name.
-- ---------------------------------------------------------------------------------------------
create or replace view app_private.reviewer_revisions as
select l.* from public.label_revisions l
 where l.source in ('human_review', 'automated');
revoke all on app_private.reviewer_revisions from public, anon, authenticated, service_role;

-- The blind review's record_revision: a reviewer's value of their own is one they made in review.
create or replace function app_private.record_revision(
  p_conversation_id text, p_turn integer, p_field text, p_new_value jsonb, p_author text,
  p_reason text default '', p_source text default 'human_review', p_observed_at timestamptz default null)
returns bigint
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_turn public.conversation_turns;
  v_old jsonb;
  v_rev bigint;
  v_at timestamptz;
begin
  perform app_private.require_role('reviewer', 'revise a label');
  if p_source is null or p_source not in ('human_review', 'operator_realtime', 'automated') then
    raise exception 'unknown revision source %; expected human_review, operator_realtime or automated',
      coalesce(quote_literal(p_source), 'null') using errcode = 'invalid_parameter_value';
  end if;
  if nullif(btrim(coalesce(p_author, '')), '') is null then
    raise exception 'say who revises the label (p_author)' using errcode = 'invalid_parameter_value';
  end if;
  -- the conversation row lock orders concurrent revisions of one document
  perform 1 from public.conversations c where c.id = p_conversation_id for update;
  if not found then
    raise exception 'conversation % does not exist', p_conversation_id using errcode = 'no_data_found';
  end if;
  select * into v_turn from public.conversation_turns t where t.conversation_id = p_conversation_id and t.idx = p_turn;
  if not found then
    raise exception 'conversation % has no turn %', p_conversation_id, p_turn using errcode = 'no_data_found';
  end if;
  v_at := clock_timestamp();  -- under the lock: the history's times follow the order revisions apply in
  v_old := app_private.turn_label(v_turn, p_field);
  perform app_private.set_turn_label(p_conversation_id, p_turn, p_field, p_new_value);
  -- nothing changes: no revision, unless a reviewer makes a correction already made (a blind second
  -- reviewer does not see it), which is their value of the label as much as a change is. Whose the
  -- correction was does not matter, only that this reviewer has no value of their own yet: an import
  -- naming them is not theirs.
  if v_old is not distinct from p_new_value and not (
       p_source = 'human_review'
       and exists (select 1 from public.label_revisions lr
                    where lr.conversation_id = p_conversation_id and lr.turn_idx = p_turn and lr.field = p_field)
       and not exists (select 1 from app_private.reviewer_revisions lr
                        where lr.conversation_id = p_conversation_id and lr.turn_idx = p_turn and lr.field = p_field
                          and lr.author = btrim(p_author))) then
    return null;
  end if;

  insert into public.label_revisions (conversation_id, turn_idx, field, old_value, new_value, source, author, author_id,
                                      reason, created_at, observed_at)
  values (p_conversation_id, p_turn, p_field, v_old, p_new_value, p_source, btrim(p_author), auth.uid(),
          coalesce(p_reason, ''), v_at, p_observed_at)
  returning id into v_rev;

  update public.conversations
     set document = jsonb_set(document, '{label_history}',
           coalesce(document -> 'label_history', '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
             'turn', p_turn, 'field', p_field, 'old_value', v_old, 'new_value', p_new_value,
             'source', p_source, 'author', btrim(p_author), 'reason', coalesce(p_reason, ''), 'at', v_at)))
   where id = p_conversation_id;
  return v_rev;
end $$;
revoke all on function app_private.record_revision(text, integer, text, jsonb, text, text, text, timestamptz)
  from public, anon, authenticated, service_role;

-- The double review's agreement_labels: a reviewer's value of a label is their own last revision of it.
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
          from (select distinct on (lr.field) lr.field, lr.new_value from app_private.reviewer_revisions lr
                 where lr.conversation_id = p.conversation_id and lr.turn_idx = t.idx and lr.author = p.reviewer
                   and lr.field in ('emotion.primary', 'emotion.intensity', 'strategies.primary')
                 order by lr.field, lr.created_at desc, lr.id desc) x
      ) v on true
     order by p.conversation_id, p.reviewer, t.idx;
end $$;

-- ---------------------------------------------------------------------------------------------
-- 3. The quota since the share was set: setting it keeps, next to the share, how many first decisions
--    there had been and how many of them went to a second review (app_meta 'review.double_share':
--    decided_before, doubled_before); record_review's running quota counts from there.
-- ---------------------------------------------------------------------------------------------
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
  -- under record_review's lock, so no first decision falls between the counts and the share
  perform pg_advisory_xact_lock(hashtext('public.review_assignments'));
  insert into public.app_meta (key, value)
  select 'review.double_share', jsonb_build_object('share', p_share, 'decided_before', count(*),
                                                   'doubled_before', count(*) filter (where a.second_review))
    from public.review_assignments a
  on conflict (key) do update set value = excluded.value, updated_at = now();
  return p_share;
end $$;

-- A share set before this migration: its start is the assignments made before it was set.
update public.app_meta m
   set value = m.value || (select jsonb_build_object('decided_before', count(*),
                                                     'doubled_before', count(*) filter (where a.second_review))
                             from public.review_assignments a where a.assigned_at < m.updated_at)
 where m.key = 'review.double_share' and not m.value ? 'decided_before';

-- The double review's record_review with the quota counted since the share was set.
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
    select (m.value ->> 'share')::double precision, coalesce((m.value ->> 'decided_before')::integer, 0),
           coalesce((m.value ->> 'doubled_before')::integer, 0)
      into v_share, v_decided, v_doubled
      from public.app_meta m where m.key = 'review.double_share';
    v_share := coalesce(v_share, 0.10);
    select count(*) - coalesce(v_decided, 0), count(*) filter (where a.second_review) - coalesce(v_doubled, 0)
      into v_decided, v_doubled
      from public.review_assignments a;
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
