-- Who may do what: the app role of the caller, row level security on every table, and grants.
--
-- Supabase's PostgREST runs each request as `anon`, `authenticated` or `service_role` (SET ROLE)
-- with the JWT in request.jwt.claims. A direct connection (the embedded app, a worker or the CLI
-- with DATABASE_URL) has neither and owns the tables, so it is trusted like the service role.
-- Roles rank viewer < reviewer < operator < admin < service:
--   viewer reads; reviewer also records decisions and label revisions; operator also plans and
--   generates; admin also manages members and the taxonomy.

create or replace function public.app_role() returns text
language plpgsql stable security definer
set search_path = public, pg_temp
as $$
declare
  -- the JWT's role wins; without claims, the database role of the session (SET ROLE)
  who text := coalesce(nullif(auth.jwt() ->> 'role', ''),
                       nullif(current_setting('role', true), ''),
                       'none');
begin
  if who = 'service_role' then
    return 'service';
  elsif who = 'authenticated' then
    return (select m.role from public.members m where m.user_id = auth.uid());
  elsif who = 'none' then
    -- no SET ROLE and no claims: a direct login. Only roles that were granted EXECUTE or table
    -- rights (the owner, service_role members) ever get this far.
    return 'service';
  end if;
  return null;  -- anon, or an unknown role
end $$;

create or replace function public.role_rank(p_role text) returns integer
language sql immutable
set search_path = public, pg_temp
as $$
  select case p_role
    when 'viewer' then 1 when 'reviewer' then 2 when 'operator' then 3
    when 'admin' then 4 when 'service' then 5 else 0 end
$$;

-- true when the caller's app role is p_role or above
create or replace function public.has_role(p_role text) returns boolean
language sql stable
set search_path = public, pg_temp
as $$
  select coalesce(public.role_rank(public.app_role()) >= public.role_rank(p_role), false)
$$;

-- Raise a clear "permission denied" (SQLSTATE 42501) unless the caller has p_role or above.
create or replace function app_private.require_role(p_role text, p_action text) returns void
language plpgsql stable
set search_path = public, pg_temp
as $$
declare
  actual text := public.app_role();
begin
  if coalesce(public.role_rank(actual), 0) < public.role_rank(p_role) then
    raise exception 'permission denied: to % you need the % role (you are %)',
      p_action, p_role, coalesce(actual, 'not a member')
      using errcode = 'insufficient_privilege',
            hint = 'Ask an admin to give you that role in the members table.';
  end if;
end $$;

-- ---------------------------------------------------------------------------------------------
-- Row level security. service_role bypasses RLS on Supabase (and in the shim); its policies are
-- spelled out anyway so the intent reads in one place.
-- ---------------------------------------------------------------------------------------------
do $$
declare
  t text;
begin
  foreach t in array array[
    'tiers', 'emotions', 'strategies', 'personas', 'emotional_arcs', 'topic_clusters', 'topics',
    'intents', 'tones', 'outcomes', 'scenario_contexts', 'scenarios', 'prompt_templates',
    'generation_jobs', 'generation_job_items', 'conversations', 'conversation_turns',
    'conversation_metadata', 'label_revisions', 'reviews', 'generation_logs', 'members', 'app_meta']
  loop
    execute format('alter table public.%I enable row level security', t);
    execute format('create policy %I on public.%I for all to service_role using (true) with check (true)',
                   t || '_service_all', t);
    execute format('create policy %I on public.%I for select to authenticated using ((select public.has_role(''viewer'')))',
                   t || '_members_read', t);
  end loop;

  -- the taxonomy and app facts: admins
  foreach t in array array[
    'tiers', 'emotions', 'strategies', 'personas', 'emotional_arcs', 'topic_clusters', 'topics',
    'intents', 'tones', 'outcomes', 'scenario_contexts', 'app_meta', 'members']
  loop
    execute format('create policy %I on public.%I for all to authenticated '
                   'using ((select public.has_role(''admin''))) with check ((select public.has_role(''admin'')))',
                   t || '_admin_write', t);
  end loop;

  -- planning and generating: operators insert and update; only admins delete
  foreach t in array array[
    'scenarios', 'prompt_templates', 'generation_jobs', 'generation_job_items', 'generation_logs']
  loop
    execute format('create policy %I on public.%I for insert to authenticated with check ((select public.has_role(''operator'')))',
                   t || '_operator_insert', t);
    execute format('create policy %I on public.%I for update to authenticated '
                   'using ((select public.has_role(''operator''))) with check ((select public.has_role(''operator'')))',
                   t || '_operator_update', t);
    execute format('create policy %I on public.%I for delete to authenticated using ((select public.has_role(''admin'')))',
                   t || '_admin_delete', t);
  end loop;

  -- conversations change only through the functions (save_generated, record_review,
  -- revise_label), which keep document, turns and history in step; admins may repair by hand.
  foreach t in array array['conversations', 'conversation_turns', 'conversation_metadata']
  loop
    execute format('create policy %I on public.%I for all to authenticated '
                   'using ((select public.has_role(''admin''))) with check ((select public.has_role(''admin'')))',
                   t || '_admin_write', t);
  end loop;
  -- reviews and label_revisions: no write policy at all. record_review() and revise_label()
  -- insert them after their own role check, and a trigger forbids updates and deletes.
end $$;

-- ---------------------------------------------------------------------------------------------
-- Grants. Supabase grants everything on new objects to anon, authenticated and service_role
-- by default; state ours explicitly so the outcome is the same on a plain PostgreSQL.
-- ---------------------------------------------------------------------------------------------
grant usage on schema public to anon, authenticated, service_role;
revoke all on all tables in schema public from anon;
grant select, insert, update, delete on all tables in schema public to authenticated, service_role;
revoke insert, update, delete on public.reviews, public.label_revisions from authenticated;
grant usage, select on all sequences in schema public to authenticated, service_role;
revoke all on all sequences in schema public from anon;

revoke all on function public.app_role() from public, anon;
revoke all on function public.has_role(text) from public, anon;
revoke all on function public.role_rank(text) from public, anon;
grant execute on function public.app_role() to authenticated, service_role;
grant execute on function public.has_role(text) to authenticated, service_role;
grant execute on function public.role_rank(text) to authenticated, service_role;
