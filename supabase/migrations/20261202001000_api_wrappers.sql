-- The API out of the exposed schema (Supabase's linter, lint 0029).
--
-- The app's API is security-definer functions, each checking the caller's role first
-- (app_private.require_role). Supabase's linter flags every definer function that signed-in users can
-- execute in an exposed schema, and the remedy it names is to move them out of it. So every security-definer
-- function of public moves to app_private (not exposed through PostgREST) under the same name, keeping its
-- body, owner, search_path and grants, and public gets a thin SECURITY INVOKER wrapper with the same name,
-- arguments, defaults and result that calls it. PostgREST and the app keep calling public.<name>.
--
-- A later migration that changes one of these functions must replace app_private.<name>; the wrapper in
-- public stays as it is (re-create it only when the arguments or the result change). A new definer function
-- added to public by a later migration is flagged by the linter test until it gets the same treatment.

-- The API roles need to reach app_private through the wrappers. Its helpers (require_role, actor, ...) run
-- inside the definer functions as their owner and need no grant, so no other function there may stay
-- callable by an API role (a few kept a service_role grant from before they were moved there).
grant usage on schema app_private to authenticated, service_role;

do $move$
declare
  f record;
  v_call text;
  v_args text;
  v_grantee record;
  v_path text := current_setting('search_path');
  v_taken name[];
  v_unnamed boolean;
begin
  -- every type and default below is written schema-qualified, as the wrappers' empty search_path needs
  perform set_config('search_path', '', true);

  for f in
    select p.oid, p.proname
      from pg_catalog.pg_proc p
     where p.pronamespace = 'app_private'::regnamespace
       and not exists (select 1 from pg_catalog.pg_proc w
                        where w.pronamespace = 'public'::regnamespace and w.proname = p.proname)
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role',
                   f.oid::regprocedure);
  end loop;

  -- the names app_private had before: a function moving there must not join one of them as an overload
  select array_agg(p.proname) into v_taken from pg_catalog.pg_proc p where p.pronamespace = 'app_private'::regnamespace;

  for f in
    select p.oid, p.proname, p.proretset, p.prorettype, p.provolatile, p.proisstrict, p.prokind,
           p.proacl, p.proowner,
           pg_catalog.pg_get_function_arguments(p.oid) as args,
           pg_catalog.pg_get_function_identity_arguments(p.oid) as identity,
           pg_catalog.pg_get_function_result(p.oid) as result,
           pg_catalog.obj_description(p.oid, 'pg_proc') as note,
           p.oid::regprocedure::text as signature
      from pg_catalog.pg_proc p
     where p.pronamespace = 'public'::regnamespace and p.prosecdef
       and not exists (select 1 from pg_catalog.pg_depend d
                        where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
     order by p.proname, p.oid
  loop
    if f.proname = any(v_taken) then
      raise exception 'app_private already has a function named %, so % cannot move there',
        f.proname, f.signature
        using hint = 'Rename one of them in a migration before this one.';
    end if;
    if f.prokind <> 'f' then
      raise exception '% is a security-definer %, not a function: move it out of public by hand',
        f.signature, case f.prokind when 'p' then 'procedure' else 'routine' end;
    end if;

    -- named arguments, so the call means the same whatever defaults the moved function has
    select coalesce(string_agg(
             case when a.mode = 'v' then 'variadic ' else '' end
             || pg_catalog.quote_ident(a.name) || ' => ' || pg_catalog.quote_ident(a.name), ', ' order by a.n), ''),
           coalesce(bool_or(coalesce(a.name, '') = ''), false)
      into v_args, v_unnamed
      from pg_catalog.pg_proc p,
           unnest(p.proargnames, coalesce(p.proargmodes, array_fill('i'::"char", array[p.pronargs])))
             with ordinality as a(name, mode, n)
     where p.oid = f.oid and a.mode in ('i', 'b', 'v');
    if v_unnamed then
      raise exception '% has an unnamed argument: name it before it moves to app_private', f.signature;
    end if;

    execute format('alter function %s set schema app_private', f.signature);

    v_call := format('app_private.%I(%s)', f.proname, v_args);
    v_call := case when f.proretset or f.prorettype = 'record'::regtype
                   then 'select * from ' || v_call else 'select ' || v_call end;
    execute format(
      'create function public.%I(%s) returns %s language sql %s %s security invoker set search_path = '''' '
      'as %L',
      f.proname, f.args, f.result,
      case f.provolatile when 'i' then 'immutable' when 's' then 'stable' else 'volatile' end,
      case when f.proisstrict then 'strict' else 'called on null input' end,
      v_call);
    execute format('alter function public.%I(%s) owner to %s', f.proname, f.identity, f.proowner::regrole);

    -- the wrapper is callable by exactly the roles that could call the function before
    execute format('revoke all on function public.%I(%s) from public, anon, authenticated, service_role',
                   f.proname, f.identity);
    for v_grantee in
      select distinct a.grantee
        from aclexplode(coalesce(f.proacl, acldefault('f', f.proowner))) a
       where a.privilege_type = 'EXECUTE' and a.grantee <> f.proowner
    loop
      execute format('grant execute on function public.%I(%s) to %s', f.proname, f.identity,
                     case when v_grantee.grantee = 0 then 'public' else v_grantee.grantee::regrole::text end);
    end loop;
    if f.note is not null then
      execute format('comment on function public.%I(%s) is %L', f.proname, f.identity, f.note);
    end if;
  end loop;

  perform set_config('search_path', v_path, true);
end
$move$;
