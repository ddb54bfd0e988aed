-- Hosted mode (issue 10): what the supabase-py adapter needs beyond the existing functions, and
-- members management for admins.
--
-- - store_info(), scenario_status_counts(), generation_stats(): the reads PostgresStore does in
--   one SQL query (counts over many tables, group by, averages) that PostgREST cannot express
--   (aggregates are off on Supabase by default). The same SQL, behind the viewer role check.
-- - whoami(): the signed-in user's membership (any signed-in user may ask who they are).
-- - add_member(), set_member_role(), remove_member(): admins manage the members table; the last
--   admin can be neither demoted nor removed, so a project never locks itself out.

-- =============================================================================================
-- Reads
-- =============================================================================================
create or replace function public.store_info() returns jsonb
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
declare
  v_counts jsonb;
  v_migrations text[] := '{}';
  v_more text[];
begin
  perform app_private.require_role('viewer', 'read the database summary');
  select jsonb_build_object(
    'scenarios', (select count(*) from public.scenarios),
    'conversations', (select count(*) from public.conversations),
    'conversation_turns', (select count(*) from public.conversation_turns),
    'reviews', (select count(*) from public.reviews),
    'label_revisions', (select count(*) from public.label_revisions),
    'generation_jobs', (select count(*) from public.generation_jobs),
    'generation_job_items', (select count(*) from public.generation_job_items),
    'generation_logs', (select count(*) from public.generation_logs),
    'prompt_templates', (select count(*) from public.prompt_templates),
    'members', (select count(*) from public.members)) into v_counts;
  -- the app's ledger (embedded, DATABASE_URL) and the Supabase CLI's (`supabase db push`)
  if to_regclass('public.schema_migrations') is not null then
    execute 'select coalesce(array_agg(version::text order by version), ''{}'') from public.schema_migrations'
      into v_migrations;
  end if;
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    execute 'select coalesce(array_agg(version::text order by version), ''{}'') from supabase_migrations.schema_migrations'
      into v_more;
    select coalesce(array_agg(distinct v order by v), '{}') into v_migrations
      from unnest(v_migrations || v_more) v;
  end if;
  return jsonb_build_object('server_version', 'PostgreSQL ' || current_setting('server_version'),
                            'counts', v_counts, 'migrations', to_jsonb(v_migrations));
end $$;

create or replace function public.scenario_status_counts()
returns table (status text, n bigint)
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  perform app_private.require_role('viewer', 'count scenarios by status');
  return query
  select s.status, count(*) from public.scenarios s group by s.status order by 2 desc, 1;
end $$;

-- The averages of lib/store/postgres.py PostgresStore.generation_stats, in one call.
create or replace function public.generation_stats(p_model text default null, p_recent integer default 200)
returns jsonb
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
declare
  v jsonb;
begin
  perform app_private.require_role('viewer', 'read the generation averages');
  with conv as (
    select c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.cost_usd
      from public.conversations c where c.source = 'generated'
       and (p_model is null or c.model = p_model or c.model like p_model || '-%')
     order by c.created_at desc limit p_recent),
  calls as (
    select l.outcome, l.duration_ms, l.output_tokens from public.generation_logs l
     where l.outcome in ('ok', 'repaired', 'invalid', 'truncated', 'refused')
       and (p_model is null or l.model = p_model or l.model like p_model || '-%')
     order by l.id desc limit p_recent * 4),
  items as (
    select i.status from public.generation_job_items i where i.status in ('succeeded', 'failed')
     order by i.finished_at desc nulls last limit p_recent * 2)
  select jsonb_build_object(
    'conversations', (select count(*) from conv),
    'input_tokens', (select avg(input_tokens)::float from conv),
    'output_tokens', (select avg(output_tokens)::float from conv),
    'cache_read_tokens', (select avg(cache_read_tokens)::float from conv),
    'cache_write_tokens', (select avg(cache_write_tokens)::float from conv),
    'cost_usd', (select avg(cost_usd)::float from conv),
    'calls', (select count(*) from calls),
    'successes', (select count(*) filter (where outcome in ('ok', 'repaired')) from calls),
    'call_seconds', (select avg(duration_ms)::float / 1000 from calls),
    'call_output_tokens', (select avg(output_tokens)::float from calls),
    'failure_rate', (select count(*) filter (where status = 'failed')::float / nullif(count(*), 0) from items),
    'rate_limits', (select l.parameters -> 'rate_limits' from public.generation_logs l
                     where l.parameters ? 'rate_limits' order by l.id desc limit 1)) into v;
  return v;
end $$;

-- =============================================================================================
-- Members
-- =============================================================================================
-- The caller: user id, email, display name and app role (null role: signed in, not a member).
create or replace function public.whoami()
returns table (user_id uuid, email text, display_name text, role text)
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
begin
  return query
  select auth.uid(), coalesce(m.email, auth.jwt() ->> 'email'), m.display_name, public.app_role()
    from (select 1) one
    left join public.members m on m.user_id = auth.uid();
end $$;

create or replace function app_private.check_member_role(p_role text) returns void
language plpgsql immutable
set search_path = public, pg_temp
as $$
begin
  if p_role is null or p_role not in ('admin', 'operator', 'reviewer', 'viewer') then
    raise exception 'unknown role %: expected admin, operator, reviewer or viewer', coalesce(quote_literal(p_role), 'null')
      using errcode = 'invalid_parameter_value';
  end if;
end $$;

-- Refuse a change that would leave no admin.
create or replace function app_private.keep_an_admin(p_user_id uuid) returns void
language plpgsql
set search_path = public, pg_temp
as $$
begin
  if exists (select 1 from public.members m where m.user_id = p_user_id and m.role = 'admin')
     and (select count(*) from public.members m where m.role = 'admin') <= 1 then
    raise exception 'this is the last admin: make another member admin first'
      using errcode = 'invalid_parameter_value';
  end if;
end $$;

-- Add (or update) a member. p_user_id: the Supabase Auth user; when null it is looked up by
-- email in auth.users (the person must have signed up or been invited first).
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
  if v_id is null and to_regclass('auth.users') is not null then
    execute 'select u.id from auth.users u where lower(u.email) = lower($1) limit 1' into v_id using btrim(p_email);
  end if;
  if v_id is null then
    raise exception 'no user with the email % has signed up yet', btrim(p_email)
      using errcode = 'no_data_found',
            hint = 'Invite them first (Supabase dashboard: Authentication > Users > Invite), then add them again.';
  end if;
  if exists (select 1 from public.members m where m.user_id = v_id and m.role = 'admin') and p_role <> 'admin' then
    perform app_private.keep_an_admin(v_id);
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
  if p_role <> 'admin' then
    perform app_private.keep_an_admin(p_user_id);
  end if;
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
  perform app_private.keep_an_admin(p_user_id);
  delete from public.members m where m.user_id = p_user_id;
  return found;
end $$;

-- =============================================================================================
-- Who may call what
-- =============================================================================================
revoke execute on function app_private.check_member_role(text) from public, anon, authenticated;
revoke execute on function app_private.keep_an_admin(uuid) from public, anon, authenticated;

revoke all on function public.store_info() from public, anon;
revoke all on function public.scenario_status_counts() from public, anon;
revoke all on function public.generation_stats(text, integer) from public, anon;
revoke all on function public.whoami() from public, anon;
revoke all on function public.add_member(text, text, uuid, text) from public, anon;
revoke all on function public.set_member_role(uuid, text) from public, anon;
revoke all on function public.remove_member(uuid) from public, anon;

grant execute on function public.store_info() to authenticated, service_role;
grant execute on function public.scenario_status_counts() to authenticated, service_role;
grant execute on function public.generation_stats(text, integer) to authenticated, service_role;
grant execute on function public.whoami() to authenticated, service_role;
grant execute on function public.add_member(text, text, uuid, text) to authenticated, service_role;
grant execute on function public.set_member_role(uuid, text) to authenticated, service_role;
grant execute on function public.remove_member(uuid) to authenticated, service_role;
