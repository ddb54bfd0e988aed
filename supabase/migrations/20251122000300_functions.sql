-- The atomic writes. Every write that touches several rows, or must not interleave with another
-- one, is a function here; the psycopg store calls them with `select fn(p_x => ...)`, the
-- supabase-py store with rpc(). They run as their owner (security definer) after checking the
-- caller's app role, so authenticated users need no write policy on the tables they touch.
--
-- Lock order, to stay free of deadlocks: job items, then scenarios, then conversations, then jobs.

-- =============================================================================================
-- Internal helpers (app_private: not callable by API users)
-- =============================================================================================

-- The status a scenario shows when nothing is in flight: from its current conversation.
create or replace function app_private.scenario_status_for(p_scenario_id bigint) returns text
language sql stable
set search_path = public, pg_temp
as $$
  select coalesce(
    (select case c.review_status when 'unreviewed' then 'generated' else c.review_status end
       from public.conversations c
      where c.scenario_id = p_scenario_id and c.is_current),
    'not_generated')
$$;

-- A conversation must be about the scenario it is saved under.
create or replace function app_private.check_dimensions(p_scenario public.scenarios, p_dims jsonb) returns void
language plpgsql stable
set search_path = public, pg_temp
as $$
declare
  k text;
  row_json jsonb := to_jsonb(p_scenario);
begin
  foreach k in array array['tier', 'persona', 'emotional_arc', 'topic', 'intent', 'tone', 'outcome_type', 'context_id']
  loop
    if (row_json ->> k) is distinct from (p_dims ->> k) then
      raise exception 'conversation does not match scenario #%: % is % in the conversation but % in the scenario',
        p_scenario.id, k, coalesce(p_dims ->> k, 'missing'), coalesce(row_json ->> k, 'empty')
        using errcode = 'invalid_parameter_value';
    end if;
  end loop;
end $$;

-- Change one label in force on a turn, after checking the value. Used by revise_label and by
-- the import of a document that already carries label_history.
create or replace function app_private.set_turn_label(
  p_conversation_id text, p_turn integer, p_field text, p_value jsonb) returns void
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_role text;
  v_text text;
  v_num double precision;
  v_arr text[];
  v_unknown text;
begin
  select t.role into v_role from public.conversation_turns t
   where t.conversation_id = p_conversation_id and t.idx = p_turn;
  if not found then
    raise exception 'conversation % has no turn %', p_conversation_id, p_turn using errcode = 'no_data_found';
  end if;
  if p_field not in ('emotion.primary', 'emotion.secondary', 'emotion.intensity', 'emotion.valence',
                     'emotion.arousal', 'strategies.primary', 'strategies.supporting') then
    raise exception 'unknown label field %; expected one of emotion.primary, emotion.secondary, emotion.intensity, emotion.valence, emotion.arousal, strategies.primary, strategies.supporting', quote_literal(p_field)
      using errcode = 'invalid_parameter_value';
  end if;
  if (p_field like 'emotion.%') <> (v_role = 'user') then
    raise exception '% is not a label of a % turn (turn % of %)', p_field, v_role, p_turn, p_conversation_id
      using errcode = 'invalid_parameter_value';
  end if;

  if p_field in ('emotion.primary', 'emotion.secondary', 'strategies.primary') then
    if p_value is null or jsonb_typeof(p_value) = 'null' then
      if p_field <> 'emotion.secondary' then
        raise exception '% cannot be empty', p_field using errcode = 'invalid_parameter_value';
      end if;
    elsif jsonb_typeof(p_value) <> 'string' then
      raise exception '% must be a taxonomy id, not %', p_field, p_value using errcode = 'invalid_parameter_value';
    else
      v_text := p_value #>> '{}';
      if p_field like 'emotion.%' and not exists (select 1 from public.emotions e where e.id = v_text and not e.retired) then
        raise exception 'unknown emotion %', quote_literal(v_text) using errcode = 'invalid_parameter_value';
      elsif p_field = 'strategies.primary' and not exists (select 1 from public.strategies s where s.id = v_text and not s.retired) then
        raise exception 'unknown strategy %', quote_literal(v_text) using errcode = 'invalid_parameter_value';
      end if;
    end if;
    if p_field = 'emotion.primary' then
      update public.conversation_turns set emotion_primary = v_text where conversation_id = p_conversation_id and idx = p_turn;
    elsif p_field = 'emotion.secondary' then
      update public.conversation_turns set emotion_secondary = v_text where conversation_id = p_conversation_id and idx = p_turn;
    else
      update public.conversation_turns set strategy_primary = v_text where conversation_id = p_conversation_id and idx = p_turn;
    end if;

  elsif p_field in ('emotion.intensity', 'emotion.valence', 'emotion.arousal') then
    if jsonb_typeof(p_value) is distinct from 'number' then
      raise exception '% must be a number, not %', p_field, coalesce(p_value::text, 'empty') using errcode = 'invalid_parameter_value';
    end if;
    v_num := (p_value #>> '{}')::double precision;
    if p_field = 'emotion.valence' and v_num not between -1 and 1 then
      raise exception 'emotion.valence must be between -1 and 1, not %', v_num using errcode = 'invalid_parameter_value';
    elsif p_field <> 'emotion.valence' and v_num not between 0 and 1 then
      raise exception '% must be between 0 and 1, not %', p_field, v_num using errcode = 'invalid_parameter_value';
    end if;
    if p_field = 'emotion.intensity' then
      update public.conversation_turns set emotion_intensity = v_num where conversation_id = p_conversation_id and idx = p_turn;
    elsif p_field = 'emotion.valence' then
      update public.conversation_turns set emotion_valence = v_num where conversation_id = p_conversation_id and idx = p_turn;
    else
      update public.conversation_turns set emotion_arousal = v_num where conversation_id = p_conversation_id and idx = p_turn;
    end if;

  else  -- strategies.supporting
    if jsonb_typeof(p_value) is distinct from 'array' then
      raise exception 'strategies.supporting must be a list of strategy ids, not %', coalesce(p_value::text, 'empty')
        using errcode = 'invalid_parameter_value';
    end if;
    v_arr := array(select jsonb_array_elements_text(p_value));
    select string_agg(quote_literal(s), ', ') into v_unknown
      from unnest(v_arr) s
     where not exists (select 1 from public.strategies x where x.id = s and not x.retired);
    if v_unknown is not null then
      raise exception 'unknown strategy %', v_unknown using errcode = 'invalid_parameter_value';
    end if;
    update public.conversation_turns set strategies_supporting = v_arr where conversation_id = p_conversation_id and idx = p_turn;
  end if;
end $$;

-- The value of a label in force on a turn row, as JSON (the shape label_history uses).
create or replace function app_private.turn_label(p_turn public.conversation_turns, p_field text) returns jsonb
language sql immutable
set search_path = public, pg_temp
as $$
  select case p_field
    when 'emotion.primary' then to_jsonb(p_turn.emotion_primary)
    when 'emotion.secondary' then to_jsonb(p_turn.emotion_secondary)
    when 'emotion.intensity' then to_jsonb(p_turn.emotion_intensity)
    when 'emotion.valence' then to_jsonb(p_turn.emotion_valence)
    when 'emotion.arousal' then to_jsonb(p_turn.emotion_arousal)
    when 'strategies.primary' then to_jsonb(p_turn.strategy_primary)
    when 'strategies.supporting' then to_jsonb(p_turn.strategies_supporting)
  end
$$;

-- Store a Conversation document as the new current version of a scenario: the conversation
-- row, its turns, its metadata, and the revisions its label_history already carries.
create or replace function app_private.insert_conversation(
  p_scenario_id bigint, p_doc jsonb, p_source text, p_job_item_id bigint, p_metadata jsonb) returns text
language plpgsql
set search_path = public, pg_temp
as $$
declare
  v_id text := p_doc ->> 'id';
  v_turns jsonb := p_doc -> 'turns';
  v_prev text;
  v_version integer;
  v_template bigint;
  r record;
begin
  if v_id is null or btrim(v_id) = '' then
    raise exception 'the conversation document has no id' using errcode = 'invalid_parameter_value';
  end if;
  if jsonb_typeof(v_turns) is distinct from 'array' or jsonb_array_length(v_turns) = 0 then
    raise exception 'conversation % has no turns', v_id using errcode = 'invalid_parameter_value';
  end if;

  -- versions of one scenario are numbered under its row lock
  perform 1 from public.scenarios s where s.id = p_scenario_id for update;
  if not found then
    raise exception 'scenario #% does not exist', p_scenario_id using errcode = 'no_data_found';
  end if;
  select c.id into v_prev from public.conversations c where c.scenario_id = p_scenario_id and c.is_current;
  select coalesce(max(c.version), 0) + 1 into v_version from public.conversations c where c.scenario_id = p_scenario_id;
  if v_prev is not null then
    update public.conversations set is_current = false where id = v_prev;
  end if;

  select t.id into v_template from public.prompt_templates t
   where t.name = p_doc #>> '{provenance,template_name}'
     and t.version = p_doc #>> '{provenance,template_version}'
     and t.sha256 = p_doc #>> '{provenance,template_sha256}';

  insert into public.conversations (
    id, scenario_id, version, is_current, previous_version_id, source, document, turn_count,
    quality_score, review_status, use_as_seed_example, model, prompt_template_id, job_item_id,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd)
  values (
    v_id, p_scenario_id, v_version, true, v_prev, p_source, p_doc, jsonb_array_length(v_turns),
    (p_doc #>> '{quality,score}')::double precision,
    coalesce(p_doc #>> '{review,status}', 'unreviewed'),
    coalesce((p_doc #>> '{training,use_as_seed_example}')::boolean, false),
    p_doc #>> '{provenance,model}', v_template, p_job_item_id,
    coalesce((p_doc #>> '{provenance,usage,input_tokens}')::integer, 0),
    coalesce((p_doc #>> '{provenance,usage,output_tokens}')::integer, 0),
    coalesce((p_doc #>> '{provenance,usage,cache_read_input_tokens}')::integer, 0),
    coalesce((p_doc #>> '{provenance,usage,cache_creation_input_tokens}')::integer, 0),
    coalesce((p_doc #>> '{provenance,cost_usd}')::numeric, 0));

  insert into public.conversation_turns (
    conversation_id, idx, role, text, emotion_primary, emotion_secondary, emotion_intensity,
    emotion_valence, emotion_arousal, strategy_primary, strategies_supporting, labels)
  select v_id, (t.ord - 1)::integer, t.turn ->> 'role', coalesce(t.turn ->> 'text', ''),
         t.turn #>> '{emotion,primary}', t.turn #>> '{emotion,secondary}',
         (t.turn #>> '{emotion,intensity}')::double precision,
         (t.turn #>> '{emotion,valence}')::double precision,
         (t.turn #>> '{emotion,arousal}')::double precision,
         t.turn #>> '{strategies,primary}',
         array(select jsonb_array_elements_text(coalesce(t.turn #> '{strategies,supporting}', '[]'::jsonb))),
         t.turn - 'role' - 'text'
    from jsonb_array_elements(v_turns) with ordinality as t(turn, ord);

  -- revisions the document already carries (a seed reviewed by its authors, an imported file)
  for r in
    select h.rev, h.n from jsonb_array_elements(coalesce(p_doc -> 'label_history', '[]'::jsonb)) with ordinality as h(rev, n)
     order by (h.rev ->> 'at')::timestamptz nulls first, h.n
  loop
    perform app_private.set_turn_label(v_id, (r.rev ->> 'turn')::integer, r.rev ->> 'field', r.rev -> 'new_value');
    insert into public.label_revisions (conversation_id, turn_idx, field, old_value, new_value, source, author, reason, created_at)
    values (v_id, (r.rev ->> 'turn')::integer, r.rev ->> 'field', r.rev -> 'old_value', r.rev -> 'new_value',
            coalesce(r.rev ->> 'source', 'human_review'), coalesce(nullif(r.rev ->> 'author', ''), 'unknown'),
            coalesce(r.rev ->> 'reason', ''), coalesce((r.rev ->> 'at')::timestamptz, now()));
  end loop;

  insert into public.conversation_metadata (conversation_id, key, value)
  select v_id, m.key, m.value
    from (
      select 'provenance.template' as key,
             jsonb_build_object('name', p_doc #> '{provenance,template_name}',
                                'version', p_doc #> '{provenance,template_version}',
                                'sha256', p_doc #> '{provenance,template_sha256}') as value
       where p_doc #>> '{provenance,template_name}' is not null
      union all
      select 'provenance.parameters', p_doc #> '{provenance,parameters}'
       where coalesce(p_doc #> '{provenance,parameters}', '{}'::jsonb) <> '{}'::jsonb
      union all
      select 'provenance.usage', p_doc #> '{provenance,usage}'
       where p_doc #> '{provenance,usage}' is not null
      union all
      select e.key, e.value from jsonb_each(coalesce(p_metadata, '{}'::jsonb)) e
    ) m
  on conflict (conversation_id, key) do update set value = excluded.value;

  return v_id;
end $$;

-- A job is completed when none of its items is pending or claimed. The job row lock makes two
-- workers finishing the last two items see each other's result.
create or replace function app_private.finish_job_if_done(p_job_id bigint) returns void
language plpgsql
set search_path = public, pg_temp
as $$
begin
  perform 1 from public.generation_jobs j where j.id = p_job_id for update;
  update public.generation_jobs j
     set status = 'completed', finished_at = now()
   where j.id = p_job_id and j.status in ('queued', 'running')
     and not exists (select 1 from public.generation_job_items i
                      where i.job_id = p_job_id and i.status in ('pending', 'claimed'));
end $$;

-- =============================================================================================
-- Taxonomy and planning
-- =============================================================================================

-- Upsert every taxonomy table from one JSON object {table: [rows]} and retire the ids that
-- are gone (never delete: old scenarios keep valid references). A table missing from the
-- object is left alone. Rows carry every column but retired and updated_at.
create or replace function public.sync_taxonomy(p_taxonomy jsonb, p_sha256 text default null) returns jsonb
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  t text;
  v_rows jsonb;
  v_cols text;
  v_excluded text;
  v_ids text[];
  v_n integer;
  v_retired integer;
  v_counts jsonb := '{}'::jsonb;
begin
  perform app_private.require_role('admin', 'sync the taxonomy');
  -- referenced tables first
  foreach t in array array['tiers', 'emotions', 'strategies', 'personas', 'emotional_arcs', 'topic_clusters',
                           'topics', 'intents', 'tones', 'outcomes', 'scenario_contexts']
  loop
    if not (p_taxonomy ? t) then
      continue;
    end if;
    v_rows := p_taxonomy -> t;
    if jsonb_typeof(v_rows) <> 'array' then
      raise exception 'sync_taxonomy: % must be a list of rows', t using errcode = 'invalid_parameter_value';
    end if;
    select string_agg(quote_ident(c.column_name), ', ' order by c.ordinal_position),
           string_agg('excluded.' || quote_ident(c.column_name), ', ' order by c.ordinal_position)
      into v_cols, v_excluded
      from information_schema.columns c
     where c.table_schema = 'public' and c.table_name = t and c.column_name not in ('retired', 'updated_at');
    execute format(
      'insert into public.%1$I as x (%2$s, retired, updated_at) '
      'select %2$s, false, now() from jsonb_populate_recordset(null::public.%1$I, $1) '
      'on conflict (id) do update set (%2$s, retired, updated_at) = (select %3$s, false, now())',
      t, v_cols, v_excluded) using v_rows;
    get diagnostics v_n = row_count;
    v_ids := array(select r ->> 'id' from jsonb_array_elements(v_rows) r);
    execute format('update public.%I set retired = true, updated_at = now() where not retired and id <> all($1)', t)
      using v_ids;
    get diagnostics v_retired = row_count;
    v_counts := v_counts || jsonb_build_object(t, jsonb_build_object('rows', v_n, 'retired', v_retired));
  end loop;
  if p_sha256 is not null then
    insert into public.app_meta (key, value) values ('taxonomy', jsonb_build_object('sha256', p_sha256, 'synced_at', now(), 'counts', v_counts))
    on conflict (key) do update set value = excluded.value, updated_at = now();
  end if;
  return v_counts;
end $$;

-- Add planned (or hand-made) scenarios; returns their ids in input order. Every dimension must
-- be a known, not retired taxonomy id.
create or replace function public.add_scenarios(
  p_rows jsonb, p_plan_batch text default null, p_plan_seed integer default null,
  p_origin text default 'planned', p_created_by text default null) returns setof bigint
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_problem text;
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

  -- identities are drawn in input order, so ordering by id gives the input order back
  return query
  with added as (
    insert into public.scenarios (tier, persona, emotional_arc, topic, intent, tone, outcome_type, context_id, context,
                                  origin, plan_batch, plan_seed, created_by)
    select r.rw ->> 'tier', r.rw ->> 'persona', r.rw ->> 'emotional_arc', r.rw ->> 'topic', r.rw ->> 'intent',
           r.rw ->> 'tone', r.rw ->> 'outcome_type', r.rw ->> 'context_id', r.rw ->> 'context',
           coalesce(p_origin, 'planned'), p_plan_batch, p_plan_seed, p_created_by
      from jsonb_array_elements(p_rows) with ordinality r(rw, n)
     order by r.n
    returning scenarios.id
  )
  select added.id from added order by added.id;
end $$;

-- =============================================================================================
-- Conversations: seeds and generated ones
-- =============================================================================================

-- Import a seed conversation (idempotent by its id). It is attached to a scenario with exactly
-- its dimensions that has no conversation yet, or to a new scenario row (origin 'seed'). The
-- scenario's status follows the seed's review (the seeds come approved by their authors).
create or replace function public.import_seed(p_conversation jsonb) returns jsonb
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_id text := p_conversation ->> 'id';
  v_dims jsonb := p_conversation -> 'scenario';
  v_scenario bigint;
  v_existing bigint;
  v_review jsonb := p_conversation -> 'review';
begin
  perform app_private.require_role('admin', 'import seed conversations');
  select c.scenario_id into v_existing from public.conversations c where c.id = v_id;
  if found then
    return jsonb_build_object('conversation_id', v_id, 'scenario_id', v_existing, 'created', false);
  end if;
  if p_conversation #>> '{provenance,source}' is distinct from 'seed' then
    raise exception 'conversation % is not a seed (provenance.source is %)', v_id,
      coalesce(p_conversation #>> '{provenance,source}', 'missing') using errcode = 'invalid_parameter_value';
  end if;

  select s.id into v_scenario
    from public.scenarios s
   where s.tier = v_dims ->> 'tier' and s.persona = v_dims ->> 'persona'
     and s.emotional_arc = v_dims ->> 'emotional_arc' and s.topic = v_dims ->> 'topic'
     and s.intent = v_dims ->> 'intent' and s.tone = v_dims ->> 'tone'
     and s.outcome_type = v_dims ->> 'outcome_type'
     and s.context_id is not distinct from (v_dims ->> 'context_id')
     and s.status = 'not_generated'
     and not exists (select 1 from public.conversations c where c.scenario_id = s.id)
   order by s.id
   limit 1
   for update skip locked;
  if v_scenario is null then
    select id into v_scenario
      from public.add_scenarios(jsonb_build_array(v_dims), p_origin => 'seed', p_created_by => 'seed import') as a(id);
  end if;

  perform app_private.insert_conversation(v_scenario, p_conversation, 'seed', null, null);

  -- the seed's own review is its first decision, so "current status = latest decision" holds
  if coalesce(v_review ->> 'status', 'unreviewed') <> 'unreviewed' then
    insert into public.reviews (conversation_id, decision, reason_code, notes, reviewer, created_at)
    values (v_id, v_review ->> 'status',
            case when v_review ->> 'status' = 'rejected' then 'other' end,
            coalesce(v_review ->> 'notes', ''), coalesce(nullif(v_review ->> 'reviewer', ''), 'seed authors'),
            coalesce((v_review ->> 'reviewed_at')::timestamptz, now()));
  end if;
  update public.scenarios
     set status = app_private.scenario_status_for(v_scenario),
         quality_score = (p_conversation #>> '{quality,score}')::double precision
   where id = v_scenario;
  return jsonb_build_object('conversation_id', v_id, 'scenario_id', v_scenario, 'created', true);
end $$;

-- Save a generated conversation as the new current version of its scenario, with its turns,
-- and close its job item. Idempotent: saving the same item (or the same conversation id) again
-- returns the conversation stored the first time. Returns the conversation id.
create or replace function public.save_generated(
  p_conversation jsonb, p_item_id bigint default null, p_scenario_id bigint default null,
  p_worker text default null, p_metadata jsonb default '{}'::jsonb) returns text
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_item public.generation_job_items;
  v_scenario public.scenarios;
  v_scenario_id bigint;
  v_id text := p_conversation ->> 'id';
  v_owner bigint;
  v_new boolean := false;
begin
  perform app_private.require_role('operator', 'save a generated conversation');
  if p_item_id is not null then
    select * into v_item from public.generation_job_items i where i.id = p_item_id for update;
    if not found then
      raise exception 'job item % does not exist', p_item_id using errcode = 'no_data_found';
    end if;
    if v_item.conversation_id is not null then
      return v_item.conversation_id;  -- saved before: a retry after a lost reply, or a second worker
    end if;
    if p_scenario_id is not null and p_scenario_id <> v_item.scenario_id then
      raise exception 'job item % is for scenario #%, not #%', p_item_id, v_item.scenario_id, p_scenario_id
        using errcode = 'invalid_parameter_value';
    end if;
    v_scenario_id := v_item.scenario_id;
  elsif p_scenario_id is null then
    raise exception 'save_generated needs p_item_id or p_scenario_id' using errcode = 'invalid_parameter_value';
  else
    v_scenario_id := p_scenario_id;
  end if;

  if p_conversation #>> '{provenance,source}' is distinct from 'generated' then
    raise exception 'conversation % is not a generated one (provenance.source is %)', v_id,
      coalesce(p_conversation #>> '{provenance,source}', 'missing') using errcode = 'invalid_parameter_value';
  end if;

  select c.scenario_id into v_owner from public.conversations c where c.id = v_id;
  if found then
    if v_owner <> v_scenario_id then
      raise exception 'conversation id % is already used by scenario #%', v_id, v_owner using errcode = 'unique_violation';
    end if;
  else
    select * into v_scenario from public.scenarios s where s.id = v_scenario_id;
    if not found then
      raise exception 'scenario #% does not exist', v_scenario_id using errcode = 'no_data_found';
    end if;
    perform app_private.check_dimensions(v_scenario, p_conversation -> 'scenario');
    perform app_private.insert_conversation(v_scenario_id, p_conversation, 'generated', p_item_id, p_metadata);
    if p_worker is not null then
      insert into public.conversation_metadata (conversation_id, key, value)
      values (v_id, 'worker', to_jsonb(p_worker)) on conflict do nothing;
    end if;
    v_new := true;
  end if;

  if v_new then
    update public.scenarios
       set status = case when status in ('queued', 'generating') and p_item_id is null then status
                         else app_private.scenario_status_for(v_scenario_id) end,
           quality_score = (p_conversation #>> '{quality,score}')::double precision
     where id = v_scenario_id;
  end if;

  if p_item_id is not null then
    update public.generation_job_items
       set status = 'succeeded', conversation_id = v_id, error = null, lease_expires_at = null,
           finished_at = now(),
           input_tokens = input_tokens + coalesce((p_conversation #>> '{provenance,usage,input_tokens}')::integer, 0),
           output_tokens = output_tokens + coalesce((p_conversation #>> '{provenance,usage,output_tokens}')::integer, 0),
           cost_usd = cost_usd + coalesce((p_conversation #>> '{provenance,cost_usd}')::numeric, 0)
     where id = p_item_id;
    perform app_private.finish_job_if_done(v_item.job_id);
  end if;
  return v_id;
end $$;

-- =============================================================================================
-- Review
-- =============================================================================================

-- One row per decision; the conversation's review_status (and its document's review block)
-- and the scenario's status are the latest decision. Returns the review id.
create or replace function public.record_review(
  p_conversation_id text, p_decision text, p_reviewer text,
  p_reason_code text default null, p_notes text default '') returns bigint
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_conv public.conversations;
  v_review bigint;
  v_at timestamptz;
begin
  perform app_private.require_role('reviewer', 'record a review decision');
  if p_decision is null or p_decision not in ('approved', 'needs_edit', 'rejected') then
    raise exception 'unknown decision %; expected approved, needs_edit or rejected', coalesce(quote_literal(p_decision), 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if p_decision = 'rejected' and p_reason_code is null then
    raise exception 'a rejection needs a reason (p_reason_code)' using errcode = 'invalid_parameter_value',
      hint = 'One of inaccurate_financial_content, emotion_not_realistic, off_voice, arc_not_realized, unsafe_advice, other.';
  end if;
  if nullif(btrim(coalesce(p_reviewer, '')), '') is null then
    raise exception 'say who is reviewing (p_reviewer)' using errcode = 'invalid_parameter_value';
  end if;
  select * into v_conv from public.conversations c where c.id = p_conversation_id for update;
  if not found then
    raise exception 'conversation % does not exist', p_conversation_id using errcode = 'no_data_found';
  end if;

  insert into public.reviews (conversation_id, decision, reason_code, notes, reviewer, reviewer_id)
  values (p_conversation_id, p_decision, p_reason_code, coalesce(p_notes, ''), btrim(p_reviewer), auth.uid())
  returning id, created_at into v_review, v_at;

  update public.conversations
     set review_status = p_decision,
         document = jsonb_set(document, '{review}', jsonb_build_object(
           'status', p_decision, 'reviewer', btrim(p_reviewer),
           'notes', nullif(coalesce(p_notes, ''), ''), 'reviewed_at', v_at))
   where id = p_conversation_id;

  -- a scenario being regenerated keeps showing that; otherwise it shows the decision
  if v_conv.is_current then
    update public.scenarios set status = p_decision
     where id = v_conv.scenario_id and status not in ('queued', 'generating');
  end if;
  return v_review;
end $$;

-- Correct one label of one turn. The label in force changes (turn columns), the change is a
-- label_revisions row (old and new value), and the document's label_history gets it too, so
-- exports carry it. Returns the revision id, or null when the value is already in force.
create or replace function public.revise_label(
  p_conversation_id text, p_turn integer, p_field text, p_new_value jsonb, p_author text,
  p_reason text default '', p_source text default 'human_review') returns bigint
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
  v_old := app_private.turn_label(v_turn, p_field);
  perform app_private.set_turn_label(p_conversation_id, p_turn, p_field, p_new_value);
  if v_old is not distinct from p_new_value then
    return null;
  end if;

  insert into public.label_revisions (conversation_id, turn_idx, field, old_value, new_value, source, author, author_id, reason)
  values (p_conversation_id, p_turn, p_field, v_old, p_new_value, p_source, btrim(p_author), auth.uid(), coalesce(p_reason, ''))
  returning id, created_at into v_rev, v_at;

  update public.conversations
     set document = jsonb_set(document, '{label_history}',
           coalesce(document -> 'label_history', '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
             'turn', p_turn, 'field', p_field, 'old_value', v_old, 'new_value', p_new_value,
             'source', p_source, 'author', btrim(p_author), 'reason', coalesce(p_reason, ''), 'at', v_at)))
   where id = p_conversation_id;
  return v_rev;
end $$;

-- =============================================================================================
-- Generation jobs
-- =============================================================================================

-- A job with one item per scenario. Scenarios already pending or claimed in another job are
-- left out (they are being generated); if that leaves nothing, it is an error.
create or replace function public.create_job(
  p_scenario_ids bigint[], p_kind text default 'realtime', p_model text default null,
  p_settings jsonb default '{}'::jsonb, p_created_by text default null, p_feedback text default null,
  p_max_attempts integer default 3) returns bigint
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_job bigint;
  v_missing text;
  v_n integer;
begin
  perform app_private.require_role('operator', 'start a generation job');
  if p_kind is null or p_kind not in ('realtime', 'batch') then
    raise exception 'unknown job kind %; expected realtime or batch', coalesce(quote_literal(p_kind), 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if coalesce(cardinality(p_scenario_ids), 0) = 0 then
    raise exception 'a job needs at least one scenario' using errcode = 'invalid_parameter_value';
  end if;
  select string_agg('#' || x, ', ' order by x) into v_missing
    from unnest(p_scenario_ids) x where not exists (select 1 from public.scenarios s where s.id = x);
  if v_missing is not null then
    raise exception 'scenarios % do not exist', v_missing using errcode = 'no_data_found';
  end if;

  insert into public.generation_jobs (kind, model, settings, created_by)
  values (p_kind, p_model, coalesce(p_settings, '{}'::jsonb), p_created_by)
  returning id into v_job;

  insert into public.generation_job_items (job_id, scenario_id, feedback, previous_conversation_id, max_attempts)
  select v_job, s.id, p_feedback, c.id, greatest(coalesce(p_max_attempts, 3), 1)
    from public.scenarios s
    left join public.conversations c on c.scenario_id = s.id and c.is_current
   where s.id = any(p_scenario_ids)
     and not exists (select 1 from public.generation_job_items o
                      where o.scenario_id = s.id and o.status in ('pending', 'claimed'))
   order by s.id;
  get diagnostics v_n = row_count;
  if v_n = 0 then
    raise exception 'nothing to generate: every chosen scenario is already in a running job' using errcode = 'invalid_parameter_value';
  end if;
  update public.generation_jobs set total_items = v_n where id = v_job;
  update public.scenarios s set status = 'queued'
   where s.id in (select i.scenario_id from public.generation_job_items i where i.job_id = v_job);
  return v_job;
end $$;

-- Claim up to p_limit items for a worker, with a lease of p_lease_seconds. Pending items come
-- first in job and item order; an item whose lease expired (its worker died) is claimed again
-- while it has attempts left. `for update skip locked` keeps two workers off the same item.
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

-- Extend the leases a worker still holds. Returns the ids it still holds: an item missing from
-- the answer was lost (its lease expired and another worker took it, or the job was stopped).
create or replace function public.heartbeat_job_items(
  p_worker text, p_item_ids bigint[], p_lease_seconds integer default 300) returns bigint[]
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_ids bigint[];
begin
  perform app_private.require_role('operator', 'send a worker heartbeat');
  with held as (
    update public.generation_job_items i
       set lease_expires_at = now() + make_interval(secs => greatest(p_lease_seconds, 1)), heartbeat_at = now()
     where i.id = any(p_item_ids) and i.status = 'claimed' and i.lease_owner = btrim(p_worker)
    returning i.id
  )
  select coalesce(array_agg(id order by id), '{}') into v_ids from held;
  return v_ids;
end $$;

-- Mark a claimed item failed with its reason, or put it back in the queue (p_retry) while it
-- has attempts left. Returns the item's new status.
create or replace function public.fail_job_item(
  p_item_id bigint, p_error text, p_worker text default null, p_retry boolean default false,
  p_cost_usd numeric default 0, p_input_tokens integer default 0, p_output_tokens integer default 0) returns text
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_item public.generation_job_items;
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
  v_status := case when p_retry and v_item.attempts < v_item.max_attempts and v_item.status <> 'cancelled'
                   then 'pending' else 'failed' end;
  update public.generation_job_items
     set status = v_status, error = coalesce(p_error, 'failed without a reason'),
         lease_expires_at = null,
         finished_at = case when v_status = 'failed' then now() end,
         cost_usd = cost_usd + coalesce(p_cost_usd, 0),
         input_tokens = input_tokens + coalesce(p_input_tokens, 0),
         output_tokens = output_tokens + coalesce(p_output_tokens, 0)
   where id = p_item_id;
  -- a failed regeneration leaves an existing conversation's status as it was
  update public.scenarios s
     set status = case when v_status = 'pending' then 'queued'
                       when app_private.scenario_status_for(s.id) = 'not_generated' then 'failed'
                       else app_private.scenario_status_for(s.id) end
   where s.id = v_item.scenario_id;
  perform app_private.finish_job_if_done(v_item.job_id);
  return v_status;
end $$;

-- Items whose lease expired go back to pending, or fail once their attempts are used up.
-- Returns how many items changed.
create or replace function public.requeue_expired_items() returns integer
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_items bigint[];
  v_jobs bigint[];
  j bigint;
begin
  perform app_private.require_role('operator', 'requeue expired work');
  with expired as (
    select i.id from public.generation_job_items i
     where i.status = 'claimed' and i.lease_expires_at < now()
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
    from public.generation_job_items i
   where i.id = any(v_items) and s.id = i.scenario_id;
  v_jobs := array(select distinct i.job_id from public.generation_job_items i where i.id = any(v_items) order by 1);
  foreach j in array v_jobs loop
    perform app_private.finish_job_if_done(j);
  end loop;
  return cardinality(v_items);
end $$;

-- Stop: no new item is claimed, and items not yet started are cancelled. Items in flight finish
-- (their workers save or fail them as usual). Returns how many items were cancelled.
create or replace function public.stop_job(p_job_id bigint) returns integer
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_items bigint[];
begin
  perform app_private.require_role('operator', 'stop a generation job');
  -- items first (skip the ones a worker is claiming right now: they are in flight), then the job
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
  update public.generation_jobs set status = 'stopped', finished_at = now()
   where id = p_job_id and status in ('queued', 'running');
  if not found and not exists (select 1 from public.generation_jobs where id = p_job_id) then
    raise exception 'generation job % does not exist', p_job_id using errcode = 'no_data_found';
  end if;
  return cardinality(v_items);
end $$;

-- Resume a stopped job (its cancelled items are queued again), or retry its failed items
-- (p_failed => true; their attempts start over). Returns how many items were queued.
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
  if cardinality(v_items) > 0 then
    update public.generation_jobs
       set status = case when started_at is null then 'queued' else 'running' end, finished_at = null
     where id = p_job_id;
  end if;
  return cardinality(v_items);
end $$;

-- Record a prompt template version (idempotent); returns its id.
create or replace function public.upsert_prompt_template(
  p_name text, p_version text, p_sha256 text, p_body text, p_tier text default null) returns bigint
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_id bigint;
begin
  perform app_private.require_role('operator', 'record a prompt template');
  insert into public.prompt_templates (name, version, sha256, tier, body)
  values (p_name, p_version, p_sha256, p_tier, p_body)
  on conflict (name, version, sha256) do nothing
  returning id into v_id;
  if v_id is null then
    select t.id into v_id from public.prompt_templates t
     where t.name = p_name and t.version = p_version and t.sha256 = p_sha256;
  end if;
  return v_id;
end $$;

-- =============================================================================================
-- Who may call what: API users reach these only as authenticated or service_role, and each
-- function checks the app role inside. anon calls nothing.
-- =============================================================================================
revoke all on schema app_private from anon, authenticated;
revoke execute on all functions in schema app_private from public, anon, authenticated;

revoke all on function public.sync_taxonomy(jsonb, text) from public, anon;
revoke all on function public.add_scenarios(jsonb, text, integer, text, text) from public, anon;
revoke all on function public.import_seed(jsonb) from public, anon;
revoke all on function public.save_generated(jsonb, bigint, bigint, text, jsonb) from public, anon;
revoke all on function public.record_review(text, text, text, text, text) from public, anon;
revoke all on function public.revise_label(text, integer, text, jsonb, text, text, text) from public, anon;
revoke all on function public.create_job(bigint[], text, text, jsonb, text, text, integer) from public, anon;
revoke all on function public.claim_job_items(text, integer, integer, bigint) from public, anon;
revoke all on function public.heartbeat_job_items(text, bigint[], integer) from public, anon;
revoke all on function public.fail_job_item(bigint, text, text, boolean, numeric, integer, integer) from public, anon;
revoke all on function public.requeue_expired_items() from public, anon;
revoke all on function public.stop_job(bigint) from public, anon;
revoke all on function public.resume_job(bigint, boolean) from public, anon;
revoke all on function public.upsert_prompt_template(text, text, text, text, text) from public, anon;

grant execute on function public.sync_taxonomy(jsonb, text) to authenticated, service_role;
grant execute on function public.add_scenarios(jsonb, text, integer, text, text) to authenticated, service_role;
grant execute on function public.import_seed(jsonb) to authenticated, service_role;
grant execute on function public.save_generated(jsonb, bigint, bigint, text, jsonb) to authenticated, service_role;
grant execute on function public.record_review(text, text, text, text, text) to authenticated, service_role;
grant execute on function public.revise_label(text, integer, text, jsonb, text, text, text) to authenticated, service_role;
grant execute on function public.create_job(bigint[], text, text, jsonb, text, text, integer) to authenticated, service_role;
grant execute on function public.claim_job_items(text, integer, integer, bigint) to authenticated, service_role;
grant execute on function public.heartbeat_job_items(text, bigint[], integer) to authenticated, service_role;
grant execute on function public.fail_job_item(bigint, text, text, boolean, numeric, integer, integer) to authenticated, service_role;
grant execute on function public.requeue_expired_items() to authenticated, service_role;
grant execute on function public.stop_job(bigint) to authenticated, service_role;
grant execute on function public.resume_job(bigint, boolean) to authenticated, service_role;
grant execute on function public.upsert_prompt_template(text, text, text, text, text) to authenticated, service_role;
