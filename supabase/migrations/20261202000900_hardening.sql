-- Hardening: the database enforces who did what. It runs after every other migration of its round on
-- purpose: its sweeps (grants, policies, foreign-key indexes, search paths) read the catalogue, so they
-- cover the tables and functions those migrations add, not a list that would go stale.
--
-- In order: who the caller is (app role from membership only, the actor of a write); the guard that
-- keeps an admin; policies split per command; grants swept from the policies, and default privileges;
-- size limits; the seed-example invariant; the write functions that take identity from the session and
-- refuse a stale decision; the review queue ordered by the decision's id; indexes on foreign keys.

-- ---------------------------------------------------------------------------------------------
-- Who the caller is. The app role comes from the database role the session runs as (PostgREST's SET
-- ROLE) and, for a signed-in person, from their membership: never from a JWT claim, which a client
-- may write itself ({"role": "service_role"} under the authenticated role).
-- ---------------------------------------------------------------------------------------------

-- The signed-in person of a hosted request, or null (a direct connection, the service role).
create or replace function app_private.signed_in_user() returns uuid
language sql stable
set search_path = public, pg_temp
as $$
  select case when current_setting('role', true) = 'authenticated' then auth.uid() end
$$;

create or replace function public.app_role() returns text
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  case coalesce(nullif(current_setting('role', true), ''), 'none')
    when 'authenticated' then
      return (select m.role from public.members m where m.user_id = app_private.signed_in_user());
    when 'service_role' then
      return 'service';
    when 'none' then
      -- no SET ROLE: a direct login (the embedded app, a worker, the CLI). Only roles that were granted
      -- EXECUTE or table rights (the owner, service_role members) ever get this far.
      return 'service';
    else
      return null;  -- anon, or a role the app does not know
  end case;
end $$;

-- Longest name, note, reason and label value a write accepts. The check constraints below carry the
-- same figures in their names; the functions check first so that the message names the field and its
-- length instead of PostgreSQL's "failing row contains (...)", which would echo the value.
create or replace function app_private.text_limit(p_what text) returns integer
language sql immutable
set search_path = public, pg_temp
as $$
  select case p_what
    when 'name' then 200 when 'email' then 320 when 'note' then 10000 when 'reason' then 2000
    when 'label value' then 500 end
$$;

-- Refuse a text longer than its limit, saying which field and how long, never what it says.
create or replace function app_private.check_size(p_field text, p_kind text, p_value text) returns void
language plpgsql immutable
set search_path = public, pg_temp
as $$
begin
  if char_length(coalesce(p_value, '')) > app_private.text_limit(p_kind) then
    raise exception '% is % characters long; the limit is %', p_field,
      to_char(char_length(p_value), 'FM999,999,999'), to_char(app_private.text_limit(p_kind), 'FM999,999')
      using errcode = 'string_data_right_truncation', hint = 'Shorten it and try again.';
  end if;
end $$;

-- Who a write is recorded for. Signed in (hosted): the member's email, whatever name was passed. A
-- direct connection or the service: the name passed (p_name), which must be given ("say who <p_doing>").
create or replace function app_private.actor(p_name text, p_param text, p_doing text) returns text
language plpgsql stable
set search_path = public, pg_temp
as $$
declare
  v_who text;
begin
  if current_setting('role', true) = 'authenticated' then
    select m.email into v_who from public.members m where m.user_id = app_private.signed_in_user();
    if v_who is null then
      raise exception 'permission denied: you are signed in but not a member of this project'
        using errcode = 'insufficient_privilege', hint = 'Ask an admin to add you to the members table.';
    end if;
    return v_who;
  end if;
  v_who := nullif(btrim(coalesce(p_name, '')), '');
  if v_who is null then
    raise exception 'say who % (%)', p_doing, p_param using errcode = 'invalid_parameter_value';
  end if;
  perform app_private.check_size('the name (' || p_param || ')', 'name', v_who);
  return v_who;
end $$;

-- ---------------------------------------------------------------------------------------------
-- A project keeps an admin, however the members table is changed (the functions, or an admin's
-- direct UPDATE or DELETE). The advisory lock makes two admins demoting each other at once take turns,
-- so the second sees the first's change and is refused.
-- ---------------------------------------------------------------------------------------------
create or replace function app_private.keep_an_admin() returns trigger
language plpgsql
set search_path = public, pg_temp
as $$
begin
  perform pg_advisory_xact_lock(7310452002);
  if not exists (select 1 from public.members m where m.role = 'admin') then
    raise exception 'this is the last admin: make another member admin first'
      using errcode = 'invalid_parameter_value';
  end if;
  return null;
end $$;

drop trigger if exists members_keep_an_admin on public.members;
create trigger members_keep_an_admin after update or delete on public.members
  for each row when (old.role = 'admin') execute function app_private.keep_an_admin();

create or replace function public.add_member(
  p_email text, p_role text default 'viewer', p_user_id uuid default null, p_display_name text default null)
returns public.members
language plpgsql volatile security definer
set search_path = public, pg_temp
as $$
declare
  v_id uuid := p_user_id;
  v_row public.members;
begin
  perform app_private.require_role('admin', 'manage members');
  perform app_private.check_member_role(p_role);
  if nullif(btrim(coalesce(p_email, '')), '') is null then
    raise exception 'the email is missing' using errcode = 'invalid_parameter_value';
  end if;
  perform app_private.check_size('the email', 'email', btrim(p_email));
  perform app_private.check_size('the display name', 'name', p_display_name);
  if v_id is null and to_regclass('auth.users') is not null then
    execute 'select u.id from auth.users u where lower(u.email) = lower($1) limit 1' into v_id using btrim(p_email);
  end if;
  if v_id is null then
    raise exception 'no user with the email % has signed up yet', btrim(p_email)
      using errcode = 'no_data_found',
            hint = 'Invite them first (Supabase dashboard: Authentication > Users > Invite), then add them again.';
  end if;
  insert into public.members (user_id, email, display_name, role)
  values (v_id, btrim(p_email), p_display_name, p_role)
  on conflict (user_id) do update
    set email = excluded.email, role = excluded.role,
        display_name = coalesce(excluded.display_name, public.members.display_name)
  returning * into v_row;
  return v_row;
end $$;

create or replace function public.set_member_role(p_user_id uuid, p_role text)
returns public.members
language plpgsql volatile security definer
set search_path = public, pg_temp
as $$
declare
  v_row public.members;
begin
  perform app_private.require_role('admin', 'manage members');
  perform app_private.check_member_role(p_role);
  update public.members m set role = p_role where m.user_id = p_user_id returning * into v_row;
  if v_row.user_id is null then
    raise exception 'no member with the user id %', p_user_id using errcode = 'no_data_found';
  end if;
  return v_row;
end $$;

create or replace function public.remove_member(p_user_id uuid) returns boolean
language plpgsql volatile security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('admin', 'manage members');
  delete from public.members m where m.user_id = p_user_id;
  return found;
end $$;

drop function if exists app_private.keep_an_admin(uuid);

-- The caller. The role is the membership's (app_role); the email a non-member signed in with is shown
-- so they can ask to be added, and is never used as an identity.
create or replace function public.whoami()
returns table (user_id uuid, email text, display_name text, role text)
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  return query
  select auth.uid(), coalesce(m.email, auth.jwt() ->> 'email'), m.display_name, public.app_role()
    from (select 1) one
    left join public.members m on m.user_id = app_private.signed_in_user();
end $$;

-- ---------------------------------------------------------------------------------------------
-- Policies: one permissive policy per role and command. A `for all` write policy also applies to
-- SELECT beside the read policy, which PostgreSQL then evaluates twice for every row read (splinter's
-- multiple_permissive_policies); it becomes one policy each for insert, update and delete.
-- ---------------------------------------------------------------------------------------------
do $$
declare
  p record;
  cmd text;
begin
  for p in
    select pol.tablename, pol.policyname, pol.roles, pol.qual, pol.with_check
      from pg_policies pol
     where pol.schemaname = 'public' and pol.cmd = 'ALL' and pol.permissive = 'PERMISSIVE'
       and exists (select 1 from pg_policies o
                    where o.schemaname = 'public' and o.tablename = pol.tablename and o.policyname <> pol.policyname
                      and o.cmd = 'SELECT' and o.permissive = 'PERMISSIVE' and o.roles && pol.roles)
  loop
    foreach cmd in array array['insert', 'update', 'delete']
    loop
      execute format('create policy %I on public.%I as permissive for %s to %s %s %s',
                     regexp_replace(p.policyname, '_(all|write)$', '') || '_' || cmd, p.tablename, cmd,
                     (select string_agg(quote_ident(r), ', ') from unnest(p.roles) r),
                     case when cmd <> 'insert' and p.qual is not null then 'using (' || p.qual || ')' else '' end,
                     case when cmd <> 'delete' then 'with check (' || coalesce(p.with_check, p.qual) || ')' else '' end);
    end loop;
    execute format('drop policy %I on public.%I', p.policyname, p.tablename);
  end loop;
end $$;

-- ---------------------------------------------------------------------------------------------
-- Grants, swept over every relation of the schema. anon: nothing. authenticated: a command on a table
-- only where a policy lets some caller do it, SELECT on the security_invoker views (a view without it
-- reads with its owner's rights, past RLS: none). Nobody but the owner holds TRUNCATE, TRIGGER or
-- REFERENCES (TRUNCATE skips RLS and the append-only triggers), nor MAINTAIN (LOCK TABLE) on 17+.
-- ---------------------------------------------------------------------------------------------
do $$
declare
  r record;
  cmd text;
  code "char";
  owner_only text := 'truncate, trigger, references'
                     || case when current_setting('server_version_num')::integer >= 170000 then ', maintain' else '' end;
begin
  for r in
    select c.oid, c.relname, c.relkind, c.reloptions
      from pg_class c
     where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
       and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
  loop
    execute format('revoke all on public.%I from public, anon, authenticated', r.relname);
    execute format('revoke %s on public.%I from service_role', owner_only, r.relname);
    if r.relkind = 'v' then
      if coalesce(r.reloptions, '{}') && array['security_invoker=on', 'security_invoker=true', 'security_invoker=1'] then
        execute format('grant select on public.%I to authenticated, service_role', r.relname);
      end if;
      continue;
    end if;
    foreach cmd in array array['select', 'insert', 'update', 'delete']
    loop
      code := case cmd when 'select' then 'r' when 'insert' then 'a' when 'update' then 'w' else 'd' end;
      if exists (select 1 from pg_policy p
                  where p.polrelid = r.oid and p.polcmd in (code, '*')
                    and ('authenticated'::regrole::oid = any (p.polroles) or 0::oid = any (p.polroles))) then
        execute format('grant %s on public.%I to authenticated', cmd, r.relname);
      end if;
    end loop;
  end loop;
  execute 'revoke all on all sequences in schema public from public, anon';

  -- new objects: no TRUNCATE, TRIGGER or REFERENCES for the API roles, nothing for anon, and no
  -- function anyone may call until a migration grants it
  execute format('alter default privileges in schema public revoke %s on tables from anon, authenticated, service_role',
                 owner_only);
  alter default privileges in schema public revoke all on tables from anon;
  alter default privileges in schema public revoke all on sequences from anon;
  alter default privileges in schema public revoke execute on functions from anon;
  alter default privileges revoke execute on functions from public;
end $$;

-- A scenario's status follows its generation and its decisions: the functions set it
-- (set_generation_status, save_generated, record_review...). A person may edit the other columns.
do $$
declare
  v_cols text;
begin
  select string_agg(quote_ident(a.attname), ', ' order by a.attnum) into v_cols
    from pg_attribute a
   where a.attrelid = 'public.scenarios'::regclass and a.attnum > 0 and not a.attisdropped
     and a.attname not in ('status', 'quality_score');
  revoke insert, update on public.scenarios from authenticated;
  if exists (select 1 from pg_policy p where p.polrelid = 'public.scenarios'::regclass and p.polcmd in ('a', '*')) then
    execute format('grant insert (%s) on public.scenarios to authenticated', v_cols);
  end if;
  if exists (select 1 from pg_policy p where p.polrelid = 'public.scenarios'::regclass and p.polcmd in ('w', '*')) then
    execute format('grant update (%s) on public.scenarios to authenticated', v_cols);
  end if;
end $$;

-- ---------------------------------------------------------------------------------------------
-- Sizes. NOT VALID: rows already stored are left as they were; every new or changed row is checked.
-- ---------------------------------------------------------------------------------------------
alter table public.reviews
  add constraint reviews_notes_at_most_10000_characters check (char_length(notes) <= 10000) not valid,
  add constraint reviews_reviewer_at_most_200_characters check (char_length(reviewer) <= 200) not valid;
alter table public.label_revisions
  add constraint label_revisions_reason_at_most_2000_characters check (char_length(reason) <= 2000) not valid,
  add constraint label_revisions_author_at_most_200_characters check (char_length(author) <= 200) not valid,
  add constraint label_revisions_values_at_most_500_characters
    check (char_length(coalesce(old_value::text, '')) <= 500 and char_length(coalesce(new_value::text, '')) <= 500) not valid;
alter table public.members
  add constraint members_email_at_most_320_characters check (char_length(email) <= 320) not valid,
  add constraint members_display_name_at_most_200_characters check (char_length(display_name) <= 200) not valid;
alter table public.conversation_turns
  add constraint conversation_turns_sub_emotion_at_most_100_characters
    check (char_length(emotion_sub_emotion) <= 100) not valid;
alter table public.generation_job_items
  add constraint generation_job_items_feedback_at_most_10000_characters check (char_length(feedback) <= 10000) not valid;
alter table public.generation_jobs
  add constraint generation_jobs_created_by_at_most_200_characters check (char_length(created_by) <= 200) not valid;
alter table public.scenarios
  add constraint scenarios_created_by_at_most_200_characters check (char_length(created_by) <= 200) not valid;
alter table public.conversation_ratings
  add constraint conversation_ratings_reason_at_most_2000_characters check (char_length(reason) <= 2000) not valid,
  add constraint conversation_ratings_rater_at_most_200_characters check (char_length(rater) <= 200) not valid;

-- ---------------------------------------------------------------------------------------------
-- A seed example is an approved conversation: a rejection or a needs-edit ends it (record_review), and
-- the table refuses anything else, so the generator, which reads the flag, shows the model only
-- approved ones.
-- ---------------------------------------------------------------------------------------------
update public.conversations
   set use_as_seed_example = false,
       document = document || jsonb_build_object('training',
         coalesce(document -> 'training', '{}'::jsonb) || '{"use_as_seed_example": false}'::jsonb)
 where use_as_seed_example and review_status <> 'approved';
alter table public.conversations
  add constraint conversations_seed_example_is_approved check (not use_as_seed_example or review_status = 'approved');

-- ---------------------------------------------------------------------------------------------
-- The writes, with identity from the session
-- ---------------------------------------------------------------------------------------------

-- Save a generated conversation. A generated document arrives unreviewed: its review, label history,
-- seed-example flag and split are the review's and the export's to set, so whatever the document says of
-- them is dropped, and the baseline's save_generated (now app_private.store_generated) stores the rest.
alter function public.save_generated(jsonb, bigint, bigint, text, jsonb) set schema app_private;
alter function app_private.save_generated(jsonb, bigint, bigint, text, jsonb) rename to store_generated;

create or replace function public.save_generated(
  p_conversation jsonb, p_item_id bigint default null, p_scenario_id bigint default null,
  p_worker text default null, p_metadata jsonb default '{}'::jsonb) returns text
language plpgsql security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('operator', 'save a generated conversation');
  if jsonb_typeof(p_conversation) is distinct from 'object' then
    raise exception 'save_generated needs a conversation document (a JSON object)' using errcode = 'invalid_parameter_value';
  end if;
  -- the blocks as an unreviewed Conversation has them (lib/core/models.py's defaults), so readers of the
  -- document find the shape they expect
  return app_private.store_generated(
    p_conversation
      || jsonb_build_object(
           'review', jsonb_build_object('status', 'unreviewed', 'reviewer', null, 'notes', null, 'reviewed_at', null),
           'label_history', '[]'::jsonb,
           'training', case when jsonb_typeof(p_conversation -> 'training') = 'object'
                            then p_conversation -> 'training' else '{}'::jsonb end
                       || jsonb_build_object('use_as_seed_example', false, 'split', null)),
    p_item_id, p_scenario_id, left(p_worker, app_private.text_limit('name')), p_metadata);
end $$;

-- One row per decision; the conversation's review_status (and its document's review block) and the
-- scenario's status are the latest decision, latest by the review's id: decisions on one conversation
-- are taken under its row lock, so ids follow the order they applied in (created_at, a transaction's
-- start, need not).
-- p_review_count: how many decisions the reviewer saw when they decided. When another decision came in
-- since, this one is refused (SQLSTATE BR409) with who made it and when, so the reviewer reloads and
-- decides on what is there now. Null: decide whatever came before (scripts, the CLI).
-- A decision other than approved ends the conversation's time as a seed example.
drop function if exists public.record_review(text, text, text, text, text);
create or replace function public.record_review(
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
  if p_review_count is not null then
    select count(*) into v_count from public.reviews r where r.conversation_id = p_conversation_id;
    if v_count <> p_review_count then
      select * into v_last from public.reviews r where r.conversation_id = p_conversation_id order by r.id desc limit 1;
      raise exception 'conversation % was changed by % at % UTC (%): reload it and decide again',
        p_conversation_id, coalesce(v_last.reviewer, 'someone'),
        to_char(v_last.created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
        coalesce(replace(v_last.decision, '_', ' '), 'a decision')
        using errcode = 'BR409', hint = 'Your decision was not recorded.';
    end if;
  end if;

  v_at := clock_timestamp();  -- under the lock: decision times follow the order decisions apply in
  insert into public.reviews (conversation_id, decision, reason_code, notes, reviewer, reviewer_id, created_at)
  values (p_conversation_id, p_decision, p_reason_code, coalesce(p_notes, ''), v_who,
          app_private.signed_in_user(), v_at)
  returning id into v_review;

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

-- Correct one label of one turn: the baseline's revise_label (now app_private.record_revision), with
-- the author from the session. Signed in, the source is a person's: 'automated' revisions come from the
-- service, 'operator_realtime' from an operator. Sizes are checked before a value reaches a message.
alter function public.revise_label(text, integer, text, jsonb, text, text, text) set schema app_private;
alter function app_private.revise_label(text, integer, text, jsonb, text, text, text) rename to record_revision;

create or replace function public.revise_label(
  p_conversation_id text, p_turn integer, p_field text, p_new_value jsonb, p_author text,
  p_reason text default '', p_source text default 'human_review') returns bigint
language plpgsql security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('reviewer', 'revise a label');
  if app_private.signed_in_user() is not null and p_source = 'automated' then
    raise exception 'permission denied: a signed-in person records human_review revisions, not automated ones'
      using errcode = 'insufficient_privilege';
  end if;
  if app_private.signed_in_user() is not null and p_source = 'operator_realtime' then
    perform app_private.require_role('operator', 'record an operator''s revision');
  end if;
  perform app_private.check_size('the reason', 'reason', p_reason);
  perform app_private.check_size('the new value of ' || coalesce(left(p_field, 40), 'the label'), 'label value',
                                 p_new_value::text);
  return app_private.record_revision(p_conversation_id, p_turn, p_field, p_new_value,
                                     app_private.actor(p_author, 'p_author', 'revises the label'),
                                     p_reason, left(p_source, 40));
end $$;

-- Mark (or unmark) a seed example: the baseline's set_seed_example (now app_private.mark_seed_example),
-- with who did it from the session.
alter function public.set_seed_example(text, boolean, text) set schema app_private;
alter function app_private.set_seed_example(text, boolean, text) rename to mark_seed_example;

create or replace function public.set_seed_example(p_conversation_id text, p_value boolean, p_by text)
returns boolean
language plpgsql security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('reviewer', 'mark a seed example');
  return app_private.mark_seed_example(p_conversation_id, p_value,
                                       app_private.actor(p_by, 'p_by', 'marks the seed example'));
end $$;

-- A person's rating of one criterion: the baseline's record_human_rating (now app_private.record_rating),
-- with the rater from the session.
alter function public.record_human_rating(text, text, integer, text, integer, boolean, text, integer[], text, text)
  set schema app_private;
alter function app_private.record_human_rating(text, text, integer, text, integer, boolean, text, integer[], text, text)
  rename to record_rating;

create or replace function public.record_human_rating(
  p_conversation_id text, p_criterion text, p_score integer, p_rater text, p_pass_at integer,
  p_hard boolean default false, p_reason text default '', p_cited_turns integer[] default '{}',
  p_rubric_id text default null, p_rubric_version text default null) returns bigint
language plpgsql security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('reviewer', 'rate a conversation');
  perform app_private.check_size('the reason', 'reason', p_reason);
  return app_private.record_rating(p_conversation_id, p_criterion, p_score,
                                   app_private.actor(p_rater, 'p_rater', 'is rating'), p_pass_at, p_hard, p_reason,
                                   p_cited_turns, p_rubric_id, p_rubric_version);
end $$;

-- The review queue (see the baseline): the latest decision is the one with the highest id, the order
-- record_review applied them in.
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
       coalesce(q.criterion_scores, '{}') as criterion_scores
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
  left join public.v_conversation_quality q on q.conversation_id = c.id;
revoke all on public.v_review_queue from public, anon;
grant select on public.v_review_queue to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Functions: anon and PUBLIC call none, the ones replaced here keep their callers, and every function
-- of ours has a fixed search_path (a trigger function without one runs with the caller's).
-- ---------------------------------------------------------------------------------------------
do $$
declare
  f record;
begin
  for f in
    select p.oid::regprocedure as sig, p.pronamespace::regnamespace::text as schema, p.proconfig
      from pg_proc p
     where p.pronamespace in ('public'::regnamespace, 'app_private'::regnamespace)
       and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
  loop
    execute format('revoke all on function %s from public, anon', f.sig);
    if f.schema = 'app_private' then
      execute format('revoke all on function %s from authenticated', f.sig);
    end if;
    if not exists (select 1 from unnest(coalesce(f.proconfig, '{}')) c where c like 'search_path=%') then
      execute format('alter function %s set search_path = public, pg_temp', f.sig);
    end if;
  end loop;
end $$;
grant execute on function public.record_review(text, text, text, text, text, integer), public.save_generated(jsonb, bigint, bigint, text, jsonb),
  public.revise_label(text, integer, text, jsonb, text, text, text), public.set_seed_example(text, boolean, text),
  public.record_human_rating(text, text, integer, text, integer, boolean, text, integer[], text, text)
  to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Every foreign key gets an index that leads with its columns: deleting or re-keying a referenced row
-- (a retired taxonomy id, a job) would otherwise scan the referencing table.
-- ---------------------------------------------------------------------------------------------
do $$
declare
  k record;
begin
  for k in
    select con.conrelid::regclass as tbl, cl.relname, con.conkey,
           (select string_agg(quote_ident(a.attname), ', ' order by u.n)
              from unnest(con.conkey) with ordinality u(attnum, n)
              join pg_attribute a on a.attrelid = con.conrelid and a.attnum = u.attnum) as cols,
           (select string_agg(a.attname, '_' order by u.n)
              from unnest(con.conkey) with ordinality u(attnum, n)
              join pg_attribute a on a.attrelid = con.conrelid and a.attnum = u.attnum) as col_names
      from pg_constraint con
      join pg_class cl on cl.oid = con.conrelid
     where con.contype = 'f' and cl.relnamespace = 'public'::regnamespace
       and not exists (select 1 from pg_index i
                        where i.indrelid = con.conrelid and i.indpred is null
                          and (i.indkey::int2[])[0:cardinality(con.conkey) - 1] @> con.conkey
                          and (i.indkey::int2[])[0:cardinality(con.conkey) - 1] <@ con.conkey)
  loop
    execute format('create index if not exists %I on %s (%s)',
                   left(k.relname || '_' || k.col_names, 59) || '_fki', k.tbl, k.cols);
  end loop;
end $$;
