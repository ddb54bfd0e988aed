-- Variation sets: scenarios planned from an approved conversation (lib/core/variation_sets.py) that keep
-- its structure and change one or more of its dimensions. A variation scenario points at the conversation
-- it varies and records what was varied, so the prompt can show the source and the Scenarios table,
-- Review and Coverage can follow the link:
--   source_conversation_id  the conversation version it varies (the one a reviewer approved)
--   variation               {"vary": [what varies], "from": {what: the source's value},
--                            "to": {what: this scenario's value}, "emotion" and "band" for an intensity band}

alter table public.scenarios add column if not exists source_conversation_id text
  references public.conversations (id);
alter table public.scenarios add column if not exists variation jsonb
  check (variation is null or jsonb_typeof(variation) = 'object');
create index if not exists scenarios_source_conversation_idx
  on public.scenarios (source_conversation_id) where source_conversation_id is not null;

-- origin 'variation' is a scenario made from a source conversation, and only such a one has a source.
alter table public.scenarios drop constraint if exists scenarios_origin_check;
alter table public.scenarios add constraint scenarios_origin_check
  check (origin in ('planned', 'seed', 'manual', 'variation'));
alter table public.scenarios drop constraint if exists scenarios_variation_has_source;
alter table public.scenarios add constraint scenarios_variation_has_source
  check ((origin = 'variation') = (source_conversation_id is not null and variation is not null));

-- The columns are appended, so the view keeps its column order (create or replace allows only that).
create or replace view public.v_scenarios with (security_invoker = on) as
select s.id, s.tier, s.persona, s.emotional_arc, s.topic, s.intent, s.tone, s.outcome_type,
       s.context_id, s.context, s.status, s.origin, s.quality_score, s.plan_seed, s.plan_batch,
       s.created_by, s.created_at, s.updated_at,
       a.start_emotion, a.end_emotion, t.cluster_id as topic_cluster,
       c.id as conversation_id, c.version as conversation_version, c.source as conversation_source,
       c.quality_score as conversation_quality, c.review_status, c.turn_count,
       c.created_at as conversation_created_at,
       s.source_conversation_id, s.variation
  from public.scenarios s
  join public.emotional_arcs a on a.id = s.emotional_arc
  join public.topics t on t.id = s.topic
  left join public.conversations c on c.scenario_id = s.id and c.is_current;

-- Add planned (or hand-made, or variation) scenarios; returns their ids in input order. Every dimension
-- must be a known, not retired taxonomy id. A variation row (p_origin 'variation') names its
-- source_conversation_id, an approved conversation, and its variation record; other rows name neither.
-- The public wrapper (20261202001000_api_wrappers.sql) keeps calling this with the same arguments.
create or replace function app_private.add_scenarios(
  p_rows jsonb, p_plan_batch text default null, p_plan_seed integer default null,
  p_origin text default 'planned', p_created_by text default null) returns setof bigint
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_problem text;
  v_variation constant boolean := coalesce(p_origin, 'planned') = 'variation';
begin
  perform app_private.require_role('operator', 'add scenarios');
  if jsonb_typeof(p_rows) is distinct from 'array' then
    raise exception 'add_scenarios: p_rows must be a list of scenario rows' using errcode = 'invalid_parameter_value';
  end if;
  select format('row %s: %s', r.n, case when d.val is null then d.dim || ' is missing'
                                       else format('unknown %s %L', d.dim, d.val) end)
    into v_problem
    from jsonb_array_elements(p_rows) with ordinality r(rw, n)
    cross join lateral (values
      ('tier', r.rw ->> 'tier', exists (select 1 from public.tiers x where x.id = r.rw ->> 'tier' and not x.retired)),
      ('persona', r.rw ->> 'persona', exists (select 1 from public.personas x where x.id = r.rw ->> 'persona' and not x.retired)),
      ('emotional_arc', r.rw ->> 'emotional_arc', exists (select 1 from public.emotional_arcs x where x.id = r.rw ->> 'emotional_arc' and not x.retired)),
      ('topic', r.rw ->> 'topic', exists (select 1 from public.topics x where x.id = r.rw ->> 'topic' and not x.retired)),
      ('intent', r.rw ->> 'intent', exists (select 1 from public.intents x where x.id = r.rw ->> 'intent' and not x.retired)),
      ('tone', r.rw ->> 'tone', exists (select 1 from public.tones x where x.id = r.rw ->> 'tone' and not x.retired)),
      ('outcome_type', r.rw ->> 'outcome_type', exists (select 1 from public.outcomes x where x.id = r.rw ->> 'outcome_type' and not x.retired)),
      ('context_id', r.rw ->> 'context_id', r.rw ->> 'context_id' is null
          or exists (select 1 from public.scenario_contexts x where x.id = r.rw ->> 'context_id' and not x.retired))
    ) d(dim, val, ok)
   where not d.ok
   order by r.n
   limit 1;
  if v_problem is not null then
    raise exception 'add_scenarios: %', v_problem using errcode = 'invalid_parameter_value';
  end if;

  select format('row %s: %s', r.n, case
           when not v_variation then 'only a variation (origin variation) names a source conversation'
           when r.rw ->> 'source_conversation_id' is null then 'a variation needs its source_conversation_id'
           when jsonb_typeof(r.rw -> 'variation') is distinct from 'object'
             then 'a variation needs its variation record (what varies, from what, to what)'
           when c.id is null then format('there is no conversation %L to vary', r.rw ->> 'source_conversation_id')
           else format('conversation %s is %s; only an approved conversation is varied',
                       c.id, replace(c.review_status, '_', ' ')) end)
    into v_problem
    from jsonb_array_elements(p_rows) with ordinality r(rw, n)
    left join public.conversations c on c.id = r.rw ->> 'source_conversation_id'
   where case when v_variation
              then c.id is null or c.review_status <> 'approved' or jsonb_typeof(r.rw -> 'variation') is distinct from 'object'
              else r.rw ->> 'source_conversation_id' is not null end
   order by r.n
   limit 1;
  if v_problem is not null then
    raise exception 'add_scenarios: %', v_problem using errcode = 'invalid_parameter_value';
  end if;

  -- identities are drawn in input order, so ordering by id gives the input order back
  return query
  with added as (
    insert into public.scenarios (tier, persona, emotional_arc, topic, intent, tone, outcome_type, context_id, context,
                                  origin, plan_batch, plan_seed, created_by, source_conversation_id, variation)
    select r.rw ->> 'tier', r.rw ->> 'persona', r.rw ->> 'emotional_arc', r.rw ->> 'topic', r.rw ->> 'intent',
           r.rw ->> 'tone', r.rw ->> 'outcome_type', r.rw ->> 'context_id', r.rw ->> 'context',
           coalesce(p_origin, 'planned'), p_plan_batch, p_plan_seed, p_created_by,
           r.rw ->> 'source_conversation_id', case when v_variation then r.rw -> 'variation' end
      from jsonb_array_elements(p_rows) with ordinality r(rw, n)
     order by r.n
    returning scenarios.id
  )
  select added.id from added order by added.id;
end $$;

-- The Scenarios table one page at a time (20261202000300_scenario_pages.sql), now also filtered by origin
-- and by the conversation a variation varies ("Variations of").
create or replace function public.scenario_page(
  p_filters jsonb default '{}'::jsonb,
  p_sort text default 'id',
  p_descending boolean default false,
  p_limit integer default 100,
  p_offset integer default 0)
returns jsonb
language plpgsql stable security invoker
set search_path = public, pg_temp
as $$
declare
  -- the columns a filter may name (identifiers only; the values always travel as parameters)
  v_filterable constant text[] := array['id', 'persona', 'start_emotion', 'topic_cluster', 'intent', 'tone',
    'topic', 'outcome_type', 'tier', 'status', 'emotional_arc', 'origin', 'source_conversation_id'];
  v_sortable constant text[] := array['id', 'status', 'persona', 'start_emotion', 'topic', 'emotional_arc',
    'tier', 'intent', 'tone', 'outcome_type', 'quality_score', 'updated_at', 'source_conversation_id'];
  v_where text := 'true';
  v_key text;
  v_values jsonb;
  v_counts jsonb;
  v_total bigint;
  v_rows jsonb;
  v_direction constant text := case when p_descending then 'desc' else 'asc' end;
  v_order text;
begin
  if p_sort is null or not p_sort = any (v_sortable) then
    raise exception using errcode = '22023',
      message = format('cannot sort scenarios by %s; sort by one of: %s',
                       coalesce(left(p_sort, 40), 'nothing'), array_to_string(v_sortable, ', '));
  end if;
  if p_limit is null or p_limit not between 1 and 1000 or p_offset is null or p_offset < 0 then
    raise exception using errcode = '22023',
      message = 'a page of scenarios holds 1 to 1000 rows and starts at row 0 or later';
  end if;
  for v_key, v_values in select e.key, e.value from jsonb_each(coalesce(p_filters, '{}'::jsonb)) e loop
    if not v_key = any (v_filterable) then
      raise exception using errcode = '22023',
        message = format('unknown scenario filter %s; filter by one of: %s',
                         left(v_key, 40), array_to_string(v_filterable, ', '));
    end if;
    if jsonb_typeof(v_values) <> 'array' then
      raise exception using errcode = '22023',
        message = format('the scenario filter %s takes a list of values', v_key);
    end if;
    continue when jsonb_array_length(v_values) = 0;
    v_where := v_where || format(
      ' and v.%I = any (array(select jsonb_array_elements_text($1 -> %L))::%s[])',
      v_key, v_key, case when v_key = 'id' then 'bigint' else 'text' end);
  end loop;

  execute format(
    'select coalesce(jsonb_object_agg(status, n), ''{}''::jsonb), coalesce(sum(n), 0)
       from (select v.status, count(*) as n from public.v_scenarios v where %s group by v.status) c',
    v_where)
    into v_counts, v_total
    using p_filters;

  v_order := format('v.%I %s nulls last, v.id %s', p_sort, v_direction, v_direction);
  execute format(
    'select coalesce(jsonb_agg(to_jsonb(v) order by %s), ''[]''::jsonb)
       from (select v.* from public.v_scenarios v where %s order by %s limit $2 offset $3) v',
    v_order, v_where, v_order)
    into v_rows
    using p_filters, p_limit, p_offset;

  return jsonb_build_object('total', v_total, 'by_status', v_counts, 'rows', v_rows);
end $$;

-- Variations per source conversation, for Coverage: how many were planned, generated and approved.
-- security invoker: it reads with the caller's rights, so the tables' policies apply.
create or replace function public.variation_counts()
returns table (source_conversation_id text, planned bigint, generated bigint, approved bigint)
language sql stable security invoker
set search_path = public, pg_temp
as $$
  select v.source_conversation_id,
         count(*) as planned,
         count(v.conversation_id) as generated,
         count(*) filter (where v.review_status = 'approved') as approved
    from public.v_scenarios v
   where v.source_conversation_id is not null
   group by v.source_conversation_id
   order by v.source_conversation_id
$$;

revoke all on function public.variation_counts() from public, anon;
grant execute on function public.variation_counts() to authenticated, service_role;
