-- Label revisions from every source, through the one function that records them
-- (app_private.record_revision, behind public.revise_label):
-- - operator_realtime: corrections operators made in a live product, imported from a file in one call
--   (import_label_revisions). lib/review/operator_import.py validates the whole file first; this function
--   writes every line in one transaction or none. The operator's own time of the correction, when the file
--   gives one, is kept as observed_at: created_at stays the time it was recorded, because the order of
--   created_at is the order revisions apply in (lib/core/labels.py).
-- - automated: the judge's label findings and the integrity checks that name a better value become
--   suggestions (label_suggestions). A reviewer accepts (a revision with source 'automated', recorded
--   for the reviewer who accepted: decided_by on the suggestion and author on the revision) or
--   dismisses them. A suggestion made for a value that is no longer in force is stale: it cannot be
--   accepted, only dismissed.
-- - label_drift: the corrections counted by day, source, model and prompt version, for the drift chart.

-- ---------------------------------------------------------------------------------------------
-- The operator's time of a correction, and record_revision able to keep it.
-- ---------------------------------------------------------------------------------------------
alter table public.label_revisions add column if not exists observed_at timestamptz;

drop function if exists app_private.record_revision(text, integer, text, jsonb, text, text, text);
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
  if v_old is not distinct from p_new_value then
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

-- ---------------------------------------------------------------------------------------------
-- Operator corrections, imported. p_rows: [{line, conversation_id, turn, field, new_value, author, reason,
-- observed_at}], in the order of the file. The author is the operator named in the file (who made the
-- correction live); author_id is whoever imports it. An operator's role is needed to import: a reviewer's
-- own corrections are human_review.
-- ---------------------------------------------------------------------------------------------
create or replace function app_private.import_label_revisions(p_rows jsonb) returns jsonb
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  r jsonb;
  v_rev bigint;
  v_written integer := 0;
  v_unchanged integer := 0;
  v_line text;
begin
  perform app_private.require_role('operator', 'import operator corrections');
  if p_rows is null or jsonb_typeof(p_rows) <> 'array' then
    raise exception 'import_label_revisions needs a JSON array of corrections' using errcode = 'invalid_parameter_value';
  end if;
  for r in select value from jsonb_array_elements(p_rows) loop
    v_line := coalesce(r ->> 'line', '?');
    begin
      perform app_private.check_size('the reason', 'reason', r ->> 'reason');
      perform app_private.check_size('the author', 'name', r ->> 'author');
      perform app_private.check_size('the new value', 'label value', (r -> 'new_value')::text);
      v_rev := app_private.record_revision(
        r ->> 'conversation_id', (r ->> 'turn')::integer, r ->> 'field', r -> 'new_value', r ->> 'author',
        coalesce(r ->> 'reason', ''), 'operator_realtime', (r ->> 'observed_at')::timestamptz);
    exception when others then
      raise exception 'line %: %', v_line, sqlerrm using errcode = sqlstate;
    end;
    if v_rev is null then
      v_unchanged := v_unchanged + 1;
    else
      v_written := v_written + 1;
    end if;
  end loop;
  return jsonb_build_object('written', v_written, 'unchanged', v_unchanged,
                            'conversations', (select count(distinct x ->> 'conversation_id')
                                                from jsonb_array_elements(p_rows) x));
end $$;

create or replace function public.import_label_revisions(p_rows jsonb) returns jsonb
language sql volatile security invoker set search_path = ''
as $$ select app_private.import_label_revisions(p_rows => p_rows) $$;

-- ---------------------------------------------------------------------------------------------
-- Suggested revisions. One row per (conversation version, turn, field, origin, value it was made for,
-- suggested value): a later judge run that suggests the same again adds nothing, and a dismissed suggestion
-- stays dismissed until the label it was made for changes.
-- ---------------------------------------------------------------------------------------------
create table if not exists public.label_suggestions (
  id              bigint generated always as identity primary key,
  conversation_id text not null references public.conversations (id),
  turn_idx        integer not null check (turn_idx >= 0),
  field           text not null
                  constraint label_suggestions_field_check check (field in (
                    'emotion.primary', 'emotion.secondary', 'emotion.sub_emotion', 'emotion.intensity',
                    'emotion.valence', 'emotion.arousal', 'strategies.primary', 'strategies.supporting')),
  current_value   jsonb,  -- the value in force when it was suggested
  suggested_value jsonb,
  reason          text not null default '' check (char_length(reason) <= 2000),
  origin          text not null constraint label_suggestions_origin_check check (origin in ('judge', 'check')),
  origin_ref      text check (char_length(origin_ref) <= 200),  -- the judge's finding id, or the check's name
  status          text not null default 'open'
                  constraint label_suggestions_status_check check (status in ('open', 'accepted', 'dismissed')),
  decided_by      text check (char_length(decided_by) <= 200),
  decided_by_id   uuid,
  decided_at      timestamptz,
  revision_id     bigint references public.label_revisions (id),
  created_at      timestamptz not null default now(),
  constraint label_suggestions_decided check ((status = 'open') = (decided_by is null and decided_at is null)),
  constraint label_suggestions_accepted_has_revision check ((status = 'accepted') = (revision_id is not null)),
  foreign key (conversation_id, turn_idx) references public.conversation_turns (conversation_id, idx)
);
create unique index if not exists label_suggestions_once_idx
  on public.label_suggestions (conversation_id, turn_idx, field, origin, coalesce(current_value, 'null'::jsonb),
                               coalesce(suggested_value, 'null'::jsonb));
create index if not exists label_suggestions_open_idx on public.label_suggestions (conversation_id) where status = 'open';
create index if not exists label_suggestions_revision_idx on public.label_suggestions (revision_id)
  where revision_id is not null;

alter table public.label_suggestions enable row level security;
drop policy if exists label_suggestions_service_all on public.label_suggestions;
drop policy if exists label_suggestions_members_read on public.label_suggestions;
create policy label_suggestions_service_all on public.label_suggestions
  for all to service_role using (true) with check (true);
create policy label_suggestions_members_read on public.label_suggestions
  for select to authenticated using ((select public.has_role('viewer')));
revoke all on public.label_suggestions from public, anon, authenticated;
grant select on public.label_suggestions to authenticated;
grant select, insert, update, delete on public.label_suggestions to service_role;

-- A label value compared as the turn columns hold it: JSON null and no value are the same.
create or replace function app_private.same_label(p_a jsonb, p_b jsonb) returns boolean
language sql immutable
set search_path = public, pg_temp
as $$ select coalesce(p_a, 'null'::jsonb) = coalesce(p_b, 'null'::jsonb) $$;
revoke all on function app_private.same_label(jsonb, jsonb) from public, anon, authenticated, service_role;

-- The judge's label findings become suggestions as they are saved, whoever saves them: those on a turn
-- that holds the field (a finding elsewhere is the judge's mistake, and must not fail the judge's save).
create or replace function app_private.suggest_from_finding() returns trigger
language plpgsql
set search_path = public, pg_temp
as $$
begin
  if not app_private.same_label(new.current_value, new.suggested_value)
     and exists (select 1 from public.conversation_turns t
                  where t.conversation_id = new.conversation_id and t.idx = new.turn_idx
                    and (new.field like 'emotion.%') = (t.role = 'user')) then
    insert into public.label_suggestions (conversation_id, turn_idx, field, current_value, suggested_value, reason,
                                          origin, origin_ref)
    values (new.conversation_id, new.turn_idx, new.field, new.current_value, new.suggested_value,
            left(new.reason, 2000), 'judge', new.id::text)
    on conflict do nothing;
  end if;
  return null;
end $$;
revoke all on function app_private.suggest_from_finding() from public, anon, authenticated, service_role;
drop trigger if exists conversation_label_findings_suggest on public.conversation_label_findings;
create trigger conversation_label_findings_suggest after insert on public.conversation_label_findings
  for each row execute function app_private.suggest_from_finding();

-- the findings of each conversation's latest judge run, saved before this migration
insert into public.label_suggestions (conversation_id, turn_idx, field, current_value, suggested_value, reason,
                                      origin, origin_ref)
select f.conversation_id, f.turn_idx, f.field, f.current_value, f.suggested_value, left(f.reason, 2000), 'judge',
       f.id::text
  from public.conversation_label_findings f
 where not app_private.same_label(f.current_value, f.suggested_value)
   and f.run_id = (select r.run_id from public.conversation_ratings r
                    where r.conversation_id = f.conversation_id and r.source = 'judge'
                    order by r.created_at desc, r.id desc limit 1)
   and exists (select 1 from public.conversation_turns t
                where t.conversation_id = f.conversation_id and t.idx = f.turn_idx
                  and (f.field like 'emotion.%') = (t.role = 'user'))
on conflict do nothing;

-- The integrity checks' suggestions for one conversation (lib/review/suggestions.py computes them from the
-- labels in force). Operators (and the service) propose: a reviewer who could propose a value and then
-- accept it would record an 'automated' revision of their own making. Returns how many were new.
create or replace function app_private.propose_label_suggestions(p_conversation_id text, p_suggestions jsonb)
returns integer
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  s jsonb;
  v_turn public.conversation_turns;
  v_new integer := 0;
  v_count integer;
begin
  perform app_private.require_role('operator', 'propose label suggestions');
  if p_suggestions is null or jsonb_typeof(p_suggestions) <> 'array' then
    raise exception 'propose_label_suggestions needs a JSON array of suggestions' using errcode = 'invalid_parameter_value';
  end if;
  for s in select value from jsonb_array_elements(p_suggestions) loop
    select * into v_turn from public.conversation_turns t
     where t.conversation_id = p_conversation_id and t.idx = (s ->> 'turn')::integer;
    if not found then
      raise exception 'conversation % has no turn %', p_conversation_id, s ->> 'turn' using errcode = 'no_data_found';
    end if;
    if coalesce(s ->> 'field', '') not like 'emotion.%' and coalesce(s ->> 'field', '') not like 'strategies.%'
       or (s ->> 'field' like 'emotion.%') <> (v_turn.role = 'user') then
      raise exception '% is not a label of turn % of % (a % turn)', coalesce(left(s ->> 'field', 40), 'null'), v_turn.idx,
        p_conversation_id, v_turn.role using errcode = 'invalid_parameter_value';
    end if;
    perform app_private.check_size('the reason', 'reason', s ->> 'reason');
    perform app_private.check_size('the check''s name', 'name', s ->> 'check');
    -- a suggestion is made for the value in force now, whatever the caller believed it was
    if app_private.same_label(app_private.turn_label(v_turn, s ->> 'field'), s -> 'suggested_value') then
      continue;
    end if;
    insert into public.label_suggestions (conversation_id, turn_idx, field, current_value, suggested_value, reason,
                                          origin, origin_ref)
    values (p_conversation_id, v_turn.idx, s ->> 'field', app_private.turn_label(v_turn, s ->> 'field'),
            s -> 'suggested_value', coalesce(s ->> 'reason', ''), 'check', s ->> 'check')
    on conflict do nothing;
    get diagnostics v_count = row_count;
    v_new := v_new + v_count;
  end loop;
  return v_new;
end $$;

create or replace function public.propose_label_suggestions(p_conversation_id text, p_suggestions jsonb)
returns integer
language sql volatile security invoker set search_path = ''
as $$ select app_private.propose_label_suggestions(p_conversation_id => p_conversation_id,
                                                    p_suggestions => p_suggestions) $$;

-- The suggestions on a conversation, open ones first. stale: open, but the value in force is no longer
-- the one it was made for (someone revised the label since).
create or replace function app_private.label_suggestions_of(p_conversation_id text)
returns table (id bigint, turn_idx integer, field text, current_value jsonb, suggested_value jsonb, reason text,
               origin text, origin_ref text, status text, decided_by text, decided_at timestamptz,
               revision_id bigint, created_at timestamptz, in_force jsonb, stale boolean)
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('viewer', 'read the label suggestions');
  return query
  select s.id, s.turn_idx, s.field, s.current_value, s.suggested_value, s.reason, s.origin, s.origin_ref, s.status,
         s.decided_by, s.decided_at, s.revision_id, s.created_at, app_private.turn_label(t, s.field),
         s.status = 'open' and not app_private.same_label(app_private.turn_label(t, s.field), s.current_value)
    from public.label_suggestions s
    join public.conversation_turns t on t.conversation_id = s.conversation_id and t.idx = s.turn_idx
   where s.conversation_id = p_conversation_id
   order by s.status <> 'open', s.turn_idx, s.field <> 'emotion.primary', s.field, s.id;
end $$;

create or replace function public.label_suggestions_of(p_conversation_id text)
returns table (id bigint, turn_idx integer, field text, current_value jsonb, suggested_value jsonb, reason text,
               origin text, origin_ref text, status text, decided_by text, decided_at timestamptz,
               revision_id bigint, created_at timestamptz, in_force jsonb, stale boolean)
language sql stable security invoker set search_path = ''
as $$ select * from app_private.label_suggestions_of(p_conversation_id => p_conversation_id) $$;

-- Accept or dismiss suggestions, all or none. Accepting one records a revision with source 'automated' by
-- the reviewer who accepts (from the session when signed in), the suggestion's reason kept with it; a
-- stale or already decided one refuses the whole call (SQLSTATE BR409). A family's primary emotion is
-- accepted before its sub-emotion, which must fit it. Returns the ids of the revisions written.
create or replace function app_private.decide_label_suggestions(p_ids bigint[], p_decision text, p_by text)
returns bigint[]
language plpgsql security definer
set search_path = public, pg_temp
as $$
declare
  v_who text;
  s public.label_suggestions;
  v_turn public.conversation_turns;
  v_rev bigint;
  v_revs bigint[] := '{}';
begin
  perform app_private.require_role('reviewer', 'decide on label suggestions');
  if p_decision is null or p_decision not in ('accepted', 'dismissed') then
    raise exception 'decide a label suggestion as accepted or dismissed, not %', coalesce(quote_literal(p_decision), 'null')
      using errcode = 'invalid_parameter_value';
  end if;
  if p_ids is null or cardinality(p_ids) = 0 then
    raise exception 'name the label suggestions to decide (p_ids)' using errcode = 'invalid_parameter_value';
  end if;
  v_who := app_private.actor(p_by, 'p_by', 'decides on the suggestion');
  select min(i) into v_rev from unnest(p_ids) i where not exists (select 1 from public.label_suggestions x where x.id = i);
  if v_rev is not null then
    raise exception 'no label suggestion has the id %', v_rev using errcode = 'no_data_found';
  end if;
  -- the conversations' row locks order this against revisions of the same turns
  perform 1 from public.conversations c
   where c.id in (select x.conversation_id from public.label_suggestions x where x.id = any(p_ids))
   order by c.id for update;
  for s in select * from public.label_suggestions x where x.id = any(p_ids)
            order by x.conversation_id, x.turn_idx, x.field <> 'emotion.primary', x.field, x.id for update loop
    if s.status <> 'open' then
      raise exception 'suggestion #% was already % by % at %', s.id, s.status, s.decided_by,
        to_char(s.decided_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
        using errcode = 'BR409', hint = 'Reload the conversation.';
    end if;
    if p_decision = 'accepted' then
      select * into v_turn from public.conversation_turns t where t.conversation_id = s.conversation_id and t.idx = s.turn_idx;
      if not app_private.same_label(app_private.turn_label(v_turn, s.field), s.current_value) then
        raise exception 'suggestion #% for % of turn % is stale: it was made for %, and the label is now %',
          s.id, s.field, s.turn_idx, app_private.label_text(s.current_value),
          app_private.label_text(app_private.turn_label(v_turn, s.field))
          using errcode = 'BR409', hint = 'Someone revised the label since; dismiss the suggestion or correct the label by hand.';
      end if;
      v_rev := app_private.record_revision(
        s.conversation_id, s.turn_idx, s.field, s.suggested_value, v_who,
        left(case s.origin when 'judge' then 'Judge''s suggestion' else 'Integrity check' end
             || case when s.reason <> '' then ': ' || s.reason else '' end, 2000),
        'automated');
      v_revs := v_revs || v_rev;
    end if;
    update public.label_suggestions
       set status = p_decision, decided_by = v_who, decided_by_id = auth.uid(), decided_at = clock_timestamp(),
           revision_id = v_rev
     where id = s.id;
    v_rev := null;
  end loop;
  return v_revs;
end $$;

create or replace function public.decide_label_suggestions(p_ids bigint[], p_decision text, p_by text)
returns bigint[]
language sql volatile security invoker set search_path = ''
as $$ select app_private.decide_label_suggestions(p_ids => p_ids, p_decision => p_decision, p_by => p_by) $$;

-- ---------------------------------------------------------------------------------------------
-- Label drift: the corrections counted per (day, field, from, to, source, model, prompt template and
-- version). p_source: only that source.
-- ---------------------------------------------------------------------------------------------
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
    from public.label_revisions l
    join public.conversations c on c.id = l.conversation_id
    left join public.prompt_templates t on t.id = c.prompt_template_id
   where p_source is null or l.source = p_source
   group by 1, 2, 3, 4, 5, 6, 7
   order by 1, 8 desc, 2, 3, 4, 5, 6, 7;
end $$;

create or replace function public.label_drift(p_source text default null)
returns table (day date, field text, from_value text, to_value text, source text, model text, template text,
               corrections bigint, conversations bigint)
language sql stable security invoker set search_path = ''
as $$ select * from app_private.label_drift(p_source => p_source) $$;

-- The wrappers are the API: signed-in members and the service call them; the definer functions behind them
-- are callable by exactly the same roles (the wrappers run as the caller).
do $$
declare
  f text;
begin
  foreach f in array array[
    'import_label_revisions(jsonb)', 'propose_label_suggestions(text, jsonb)', 'label_suggestions_of(text)',
    'decide_label_suggestions(bigint[], text, text)', 'label_drift(text)']
  loop
    execute format('revoke all on function public.%s from public, anon', f);
    execute format('revoke all on function app_private.%s from public, anon', f);
    execute format('grant execute on function public.%s to authenticated, service_role', f);
    execute format('grant execute on function app_private.%s to authenticated, service_role', f);
  end loop;
end $$;
