-- Review and approval (issue 7), on top of the first migrations:
-- - the sub-emotion becomes a label a reviewer can correct (emotion.sub_emotion), like the others:
--   a column in force on conversation_turns, revisions in label_revisions;
-- - v_review_queue: one row per conversation version with what the review queue filters on and
--   shows (scenario dimensions, latest decision, who reviewed it, the version it replaced);
-- - set_seed_example(): "Mark as seed example", in the column and in the document;
-- - label_correction_stats(): the most frequent corrections (from -> to), overall or by topic,
--   persona, tier or arc: the "self-healing labels" analytics.

-- =============================================================================================
-- emotion.sub_emotion as a revisable label
-- =============================================================================================
alter table public.conversation_turns add column if not exists emotion_sub_emotion text;

update public.conversation_turns
   set emotion_sub_emotion = labels #>> '{emotion,sub_emotion}'
 where role = 'user' and emotion_sub_emotion is null;

-- insert_conversation() writes the turn columns it knows; the sub-emotion in force starts as the
-- first-pass label, which `labels` keeps.
create or replace function app_private.fill_sub_emotion() returns trigger
language plpgsql
set search_path = public, pg_temp
as $$
begin
  if new.role = 'user' and new.emotion_sub_emotion is null then
    new.emotion_sub_emotion := new.labels #>> '{emotion,sub_emotion}';
  end if;
  return new;
end $$;

create trigger conversation_turns_sub_emotion before insert on public.conversation_turns
  for each row execute function app_private.fill_sub_emotion();

alter table public.label_revisions drop constraint if exists label_revisions_field_check;
alter table public.label_revisions add constraint label_revisions_field_check check (field in (
  'emotion.primary', 'emotion.secondary', 'emotion.sub_emotion', 'emotion.intensity', 'emotion.valence',
  'emotion.arousal', 'strategies.primary', 'strategies.supporting'));

-- The two label helpers learn the new field by wrapping the originals (renamed *_base), so their
-- checks for every other field stay in one place. revise_label() and insert_conversation() call
-- them by name and so reach the wrappers.
alter function app_private.set_turn_label(text, integer, text, jsonb) rename to set_turn_label_base;
alter function app_private.turn_label(public.conversation_turns, text) rename to turn_label_base;

create or replace function app_private.set_turn_label(
  p_conversation_id text, p_turn integer, p_field text, p_value jsonb) returns void
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_role text;
  v_primary text;
  v_text text;
  v_known text;
begin
  if p_field is distinct from 'emotion.sub_emotion' then
    perform app_private.set_turn_label_base(p_conversation_id, p_turn, p_field, p_value);
    return;
  end if;
  select t.role, t.emotion_primary into v_role, v_primary from public.conversation_turns t
   where t.conversation_id = p_conversation_id and t.idx = p_turn;
  if not found then
    raise exception 'conversation % has no turn %', p_conversation_id, p_turn using errcode = 'no_data_found';
  end if;
  if v_role <> 'user' then
    raise exception 'emotion.sub_emotion is not a label of an assistant turn (turn % of %)', p_turn, p_conversation_id
      using errcode = 'invalid_parameter_value';
  end if;
  if p_value is null or jsonb_typeof(p_value) = 'null' then
    v_text := null;  -- a sub-emotion is optional
  elsif jsonb_typeof(p_value) <> 'string' then
    raise exception 'emotion.sub_emotion must be a sub-emotion id, not %', p_value using errcode = 'invalid_parameter_value';
  else
    v_text := p_value #>> '{}';
    -- it must belong to the family in force (revise the primary first when both change)
    if not exists (select 1 from public.emotions e
                    where e.id = v_primary and coalesce(e.data -> 'sub_emotions', '[]'::jsonb) ? v_text) then
      select string_agg(s, ', ') into v_known
        from public.emotions e, jsonb_array_elements_text(coalesce(e.data -> 'sub_emotions', '[]'::jsonb)) s
       where e.id = v_primary;
      raise exception 'unknown sub-emotion % for the % emotion of turn %', quote_literal(v_text), v_primary, p_turn
        using errcode = 'invalid_parameter_value',
              hint = 'Expected one of ' || coalesce(v_known, 'none') || '.';
    end if;
  end if;
  update public.conversation_turns set emotion_sub_emotion = v_text
   where conversation_id = p_conversation_id and idx = p_turn;
end $$;

create or replace function app_private.turn_label(p_turn public.conversation_turns, p_field text) returns jsonb
language sql immutable
set search_path = public, pg_temp
as $$
  select case when p_field = 'emotion.sub_emotion' then to_jsonb(p_turn.emotion_sub_emotion)
              else app_private.turn_label_base(p_turn, p_field) end
$$;

-- =============================================================================================
-- The review queue
-- =============================================================================================

-- One row per conversation version. The queue shows current versions; an earlier version is
-- reachable from the one that replaced it (previous_version_id, next_version_id).
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
       coalesce(l.revision_count, 0) as label_revision_count
  from public.conversations c
  join public.scenarios s on s.id = c.scenario_id
  join public.emotional_arcs a on a.id = s.emotional_arc
  left join public.prompt_templates t on t.id = c.prompt_template_id
  left join public.conversations n on n.previous_version_id = c.id
  left join lateral (
    select (array_agg(rv.reviewer order by rv.created_at desc, rv.id desc))[1] as last_reviewer,
           max(rv.created_at) as last_decision_at,
           count(*) as review_count,
           array_agg(distinct rv.reviewer) as reviewers
      from public.reviews rv
     where rv.conversation_id = c.id
  ) r on true
  left join lateral (
    select count(*) as revision_count from public.label_revisions lr where lr.conversation_id = c.id
  ) l on true;

revoke all on public.v_review_queue from anon;
grant select on public.v_review_queue to authenticated, service_role;

create index if not exists conversations_previous_version_idx
  on public.conversations (previous_version_id) where previous_version_id is not null;
create index if not exists label_revisions_conversation_idx on public.label_revisions (conversation_id);

-- =============================================================================================
-- Seed examples
-- =============================================================================================

-- Mark (or unmark) a conversation as a seed example: the prompts show the current seed examples
-- to the model (store.seed_examples()). Only an approved conversation may become one. The column
-- and the document's training.use_as_seed_example change together; who did it is kept in
-- conversation_metadata ('review.seed_example'). Returns the new value.
create or replace function public.set_seed_example(p_conversation_id text, p_value boolean, p_by text)
returns boolean
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_conv public.conversations;
begin
  perform app_private.require_role('reviewer', 'mark a seed example');
  if p_value is null then
    raise exception 'set_seed_example needs p_value true or false' using errcode = 'invalid_parameter_value';
  end if;
  if nullif(btrim(coalesce(p_by, '')), '') is null then
    raise exception 'say who marks the seed example (p_by)' using errcode = 'invalid_parameter_value';
  end if;
  select * into v_conv from public.conversations c where c.id = p_conversation_id for update;
  if not found then
    raise exception 'conversation % does not exist', p_conversation_id using errcode = 'no_data_found';
  end if;
  if p_value and v_conv.review_status <> 'approved' then
    raise exception 'conversation % is %, and only an approved conversation can be a seed example',
      p_conversation_id, replace(v_conv.review_status, '_', ' ')
      using errcode = 'invalid_parameter_value', hint = 'Approve it first.';
  end if;
  update public.conversations
     set use_as_seed_example = p_value,
         document = document || jsonb_build_object('training',
           coalesce(document -> 'training', '{}'::jsonb) || jsonb_build_object('use_as_seed_example', p_value))
   where id = p_conversation_id;
  insert into public.conversation_metadata (conversation_id, key, value)
  values (p_conversation_id, 'review.seed_example',
          jsonb_build_object('value', p_value, 'by', btrim(p_by), 'at', now()))
  on conflict (conversation_id, key) do update set value = excluded.value;
  return p_value;
end $$;

-- =============================================================================================
-- Label analytics
-- =============================================================================================

-- A label value as one short text: an id as is, a number rounded to 2 places, a list joined
-- (sorted), nothing as '(none)'.
create or replace function app_private.label_text(p_value jsonb) returns text
language sql immutable
set search_path = public, pg_temp
as $$
  select case
    when p_value is null or jsonb_typeof(p_value) = 'null' then '(none)'
    when jsonb_typeof(p_value) = 'string' then p_value #>> '{}'
    when jsonb_typeof(p_value) = 'number' then trim(trailing '.' from trim(trailing '0' from
                                                 round((p_value #>> '{}')::numeric, 2)::text))
    when jsonb_typeof(p_value) = 'array' then coalesce(
      (select string_agg(x, ', ' order by x) from jsonb_array_elements_text(p_value) x), '(none)')
    else p_value::text
  end
$$;

-- The corrections, counted: one row per (field, from, to[, group]) with how often, in how many
-- conversations, by how many people, and when last. p_by: null (overall), 'topic', 'persona',
-- 'tier' or 'emotional_arc'. p_source: only revisions from that source (e.g. 'human_review').
create or replace function public.label_correction_stats(p_by text default null, p_source text default null)
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
    from public.label_revisions l
    join public.conversations c on c.id = l.conversation_id
    join public.scenarios s on s.id = c.scenario_id
   where p_source is null or l.source = p_source
   group by 1, 2, 3, 4
   order by 5 desc, 8 desc, 1, 2, 3, 4;
end $$;

-- =============================================================================================
-- Who may call what
-- =============================================================================================
revoke execute on function app_private.fill_sub_emotion() from public, anon, authenticated;
revoke execute on function app_private.set_turn_label(text, integer, text, jsonb) from public, anon, authenticated;
revoke execute on function app_private.turn_label(public.conversation_turns, text) from public, anon, authenticated;
revoke execute on function app_private.label_text(jsonb) from public, anon, authenticated;

revoke all on function public.set_seed_example(text, boolean, text) from public, anon;
revoke all on function public.label_correction_stats(text, text) from public, anon;
grant execute on function public.set_seed_example(text, boolean, text) to authenticated, service_role;
grant execute on function public.label_correction_stats(text, text) to authenticated, service_role;
