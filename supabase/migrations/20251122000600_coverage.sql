-- Coverage: every count the coverage page shows, computed here, in one call, so the page never
-- loads turns into pandas (lib/coverage.py compares these counts with taxonomy/targets.yaml).
--
-- public.coverage_counts(p_scopes, p_min_turns, p_max_turns) returns long rows
-- (scope, section, a, b, c, n, m) for each scope asked for:
--   'approved'   the current version of every approved conversation (the seeds are approved);
--   'generated'  the current version of every conversation, whatever its review status;
--   'planned'    every scenario row: the ones with a conversation as 'generated' counts them, the
--                others estimated from what the generator will be asked to write:
--                - length: the turn count lib.prompting.target_turns picks (a hash of the scenario
--                  dimensions over the even counts inside the quality rules p_min_turns..p_max_turns);
--                - user turn emotions: the first is the arc's start emotion, the last its end emotion,
--                  each one between takes the emotion of the last milestone its position (j / (k-1))
--                  has reached;
--                - assistant turn strategies: the reply to a user turn of emotion e counts
--                  1 / len(suited_strategies) towards each strategy suited to e (so estimates can be
--                  fractional); supporting strategies, quality scores and corrections are not estimated.
-- lib/coverage.py holds the same estimate in Python (for the plan preview); a test keeps the two equal.
-- All three scopes come from one pass over the turns of the current conversations.
--
-- sections (a, b, c = keys; n, m = numbers; rows whose numbers are all 0 are left out):
--   total            a = conversations | estimated | user_turns | assistant_turns          n
--   emotion          a = emotion of a user turn         n = user turns, m = conversations with it
--   strategy         a = primary strategy of a reply    n = replies, m = uses as a supporting strategy
--   emotion_strategy a = emotion of the user turn answered, b = the reply's primary strategy   n
--   persona_topic    a = persona, b = topic             n = conversations
--   arc_tier         a = emotional arc, b = tier        n = conversations
--   exchanges        a = turns / 2 (whole exchanges)    n = conversations
--   quality          a = floor(quality score) or null, b = review status   n = conversations
--   correction       a = label field, b = old label, c = new label (null for numbers and lists)
--                    n = corrections by people (source human_review or operator_realtime)
--   funnel           a = planned | generated | approved | needs_edit | rejected | unreviewed   n = scenarios
--                    (the whole table, the same in every scope)
--   status           a = scenario status                n = scenarios

-- The turn count lib.prompting.target_turns gives a scenario: an even count in the quality rules,
-- chosen by sha256 of the dimensions joined with '|'. Horner's rule keeps the modulus exact
-- without a 256-bit integer.
create or replace function app_private.coverage_target_turns(
  p_key text, p_min_turns integer, p_max_turns integer) returns integer
language plpgsql immutable
set search_path = public, pg_temp
as $$
declare
  v_lo integer := p_min_turns + p_min_turns % 2;
  v_hi integer := p_max_turns - p_max_turns % 2;
  v_n integer;
  v_hash bytea;
  v_r integer := 0;
begin
  if v_hi < v_lo then
    return p_min_turns;
  end if;
  v_n := (v_hi - v_lo) / 2 + 1;
  v_hash := sha256(convert_to(p_key, 'UTF8'));
  for i in 0 .. length(v_hash) - 1 loop
    v_r := (v_r * 256 + get_byte(v_hash, i)) % v_n;
  end loop;
  return v_lo + 2 * v_r;
end $$;

-- The estimated emotion of each user turn of an arc's conversation with p_exchanges exchanges.
create or replace function app_private.coverage_arc_profile(p_exchanges integer[])
returns table (arc text, exchanges integer, turn integer, emotion text)
language sql stable
set search_path = public, pg_temp
as $$
  select a.id, k.k, j.j,
         case when j.j = 0 then a.start_emotion
              when j.j = k.k - 1 then a.end_emotion
              else coalesce((select ms.m ->> 'emotion'
                               from jsonb_array_elements(coalesce(a.data -> 'milestones', '[]'::jsonb))
                                    with ordinality as ms(m, n)
                              where (ms.m ->> 'position')::double precision <= j.j::double precision / (k.k - 1)
                              order by (ms.m ->> 'position')::double precision desc, ms.n desc
                              limit 1),
                             a.start_emotion)
         end
    from public.emotional_arcs a
   cross join (select distinct x as k from unnest(p_exchanges) x where x >= 1) k
   cross join lateral generate_series(0, k.k - 1) as j(j)
$$;

-- The turn labels the counts read, in (conversation_id, idx) order, without the turn text: an
-- index-only scan instead of reading every turn's text, and no sort before pairing a reply with
-- the user turn it answers.
create index if not exists conversation_turns_coverage_idx
  on public.conversation_turns (conversation_id, idx)
  include (role, emotion_primary, strategy_primary, strategies_supporting);

create or replace function public.coverage_counts(
  p_scopes text[] default array['approved', 'generated', 'planned'], p_min_turns integer default 8,
  p_max_turns integer default 16)
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
  if p_min_turns is null or p_max_turns is null or p_min_turns < 2 or p_max_turns < p_min_turns then
    raise exception 'coverage_counts: the turn range % to % is not valid (min_turns >= 2, max_turns >= min_turns)',
      p_min_turns, p_max_turns using errcode = 'invalid_parameter_value';
  end if;

  -- One pass over the current conversations and their turns counts 'generated' (every row) and
  -- 'approved' (the rows flagged ok) together; 'planned' is 'generated' plus the estimate rows.
  return query
  with conv as materialized (
    select c.id, c.review_status = 'approved' as ok, c.review_status, c.turn_count, c.quality_score,
           s.tier, s.persona, s.emotional_arc, s.topic
      from public.conversations c
      join public.scenarios s on s.id = c.scenario_id
     where c.is_current
  ),
  -- scenarios without a conversation yet, with the length the generator will ask for
  est as materialized (
    select s.id, s.tier, s.persona, s.emotional_arc, s.topic,
           app_private.coverage_target_turns(
             concat_ws('|', s.tier, s.persona, s.emotional_arc, s.topic, s.intent, s.tone, s.outcome_type,
                       coalesce(s.context_id, '')),
             p_min_turns, p_max_turns) / 2 as k
      from public.scenarios s
     where 'planned' = any(p_scopes)
       and not exists (select 1 from public.conversations c where c.scenario_id = s.id and c.is_current)
  ),
  est_users as materialized (  -- (scenario, emotion) -> estimated user turns
    select est.id, p.emotion, count(*)::double precision as users
      from est
      join app_private.coverage_arc_profile(array(select distinct est.k from est)) p
        on p.arc = est.emotional_arc and p.exchanges = est.k
     group by est.id, p.emotion
  ),
  suited as materialized (
    select e.id as emotion, x.strategy,
           1.0::double precision / jsonb_array_length(e.data -> 'suited_strategies') as share
      from public.emotions e
     cross join lateral jsonb_array_elements_text(e.data -> 'suited_strategies') as x(strategy)
     where jsonb_typeof(e.data -> 'suited_strategies') = 'array'
       and jsonb_array_length(e.data -> 'suited_strategies') > 0
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
  dims as (  -- one row per conversation counted, real (ok = approved) or estimated (ok = null)
    select conv.ok, conv.tier, conv.persona, conv.emotional_arc, conv.topic, conv.turn_count / 2 as exchanges from conv
    union all
    select null, est.tier, est.persona, est.emotional_arc, est.topic, est.k from est
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
    select 'persona_topic', d.persona, d.topic, null, count(*), count(*) filter (where d.ok), null, null
      from dims d where d.ok is not null group by d.persona, d.topic
    union all
    select 'arc_tier', d.emotional_arc, d.tier, null, count(*), count(*) filter (where d.ok), null, null
      from dims d where d.ok is not null group by d.emotional_arc, d.tier
    union all
    select 'exchanges', d.exchanges::text, null, null, count(*), count(*) filter (where d.ok), null, null
      from dims d where d.ok is not null group by d.exchanges
    union all
    select 'quality', floor(v.quality_score)::integer::text, v.review_status, null, count(*),
           count(*) filter (where v.ok), null, null
      from conv v group by 2, 3
    union all
    select 'correction', r.field,
           case when jsonb_typeof(r.old_value) = 'string' then r.old_value #>> '{}' end,
           case when jsonb_typeof(r.new_value) = 'string' then r.new_value #>> '{}' end,
           count(*), count(*) filter (where v.ok), null, null
      from public.label_revisions r
      join conv v on v.id = r.conversation_id
     where r.source in ('human_review', 'operator_realtime')
     group by 2, 3, 4
  ),
  estimated (section, a, b, n, m) as (  -- what the scenarios not generated yet add to 'planned'
    select 'total', 'conversations', null::text, count(*)::double precision, null::double precision from est
    union all
    select 'total', 'estimated', null, count(*), null from est
    union all
    select 'total', x.role, null, coalesce(sum(u.users), 0), null
      from est_users u cross join (values ('user_turns'), ('assistant_turns')) as x(role) group by x.role
    union all
    select 'emotion', u.emotion, null, sum(u.users), count(*) from est_users u group by u.emotion
    union all
    select 'strategy', s.strategy, null, sum(u.users * s.share), 0
      from est_users u join suited s on s.emotion = u.emotion group by s.strategy
    union all
    select 'emotion_strategy', u.emotion, s.strategy, sum(u.users * s.share), null
      from est_users u join suited s on s.emotion = u.emotion group by u.emotion, s.strategy
    union all
    select 'persona_topic', d.persona, d.topic, count(*), null from dims d where d.ok is null group by d.persona, d.topic
    union all
    select 'arc_tier', d.emotional_arc, d.tier, count(*), null from dims d where d.ok is null group by d.emotional_arc, d.tier
    union all
    select 'exchanges', d.exchanges::text, null, count(*), null from dims d where d.ok is null group by d.exchanges
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
    select 'planned', e.section, e.a, e.b, null, e.n, e.m from estimated e
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

-- Changes whenever anything coverage_counts reads changes (a conversation saved, reviewed or
-- relabelled, a scenario added or its status moved, the taxonomy synced): the page keeps the
-- counts of one version and recounts only when this changes. A few milliseconds.
create or replace function public.coverage_version() returns text
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('viewer', 'read the coverage counts');
  return concat_ws('/',
    (select count(*) || ':' || coalesce(max(c.updated_at)::text, '') from public.conversations c),
    (select count(*) || ':' || coalesce(max(s.updated_at)::text, '') from public.scenarios s),
    (select coalesce(max(r.id), 0)::text from public.label_revisions r),
    (select coalesce(m.value ->> 'sha256', '') from public.app_meta m where m.key = 'taxonomy'));
end $$;

revoke all on function public.coverage_version() from public, anon;
grant execute on function public.coverage_version() to authenticated, service_role;
revoke all on function public.coverage_counts(text[], integer, integer) from public, anon;
grant execute on function public.coverage_counts(text[], integer, integer) to authenticated, service_role;
revoke execute on function app_private.coverage_target_turns(text, integer, integer) from public, anon, authenticated;
revoke execute on function app_private.coverage_arc_profile(integer[]) from public, anon, authenticated;
