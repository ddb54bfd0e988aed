-- The Scenarios table one page at a time: filtered, counted and sorted in the database, so a
-- session holds one page of rows instead of the whole table (100,000 scenarios were 0.6-0.8 GB
-- per session when the page loaded every row and filtered in pandas).

-- Sorting by a column other than id reads the index in order and stops at the page.
create index if not exists scenarios_updated_idx on public.scenarios (updated_at, id);
create index if not exists scenarios_quality_idx on public.scenarios (quality_score, id);

-- One page of v_scenarios rows and the counts around it, as one jsonb value:
--   {"total": rows matching the filters, "by_status": {status: rows matching},
--    "rows": [up to p_limit v_scenarios rows, in the order asked for]}
-- p_filters: {v_scenarios column: [values]}; OR within a column, AND across columns, an empty
-- list filters nothing. p_sort: a column of the table as shown; id breaks ties, so paging is stable.
-- security invoker: v_scenarios reads with the caller's rights, so its tables' policies apply.
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
    'topic', 'outcome_type', 'tier', 'status', 'emotional_arc'];
  v_sortable constant text[] := array['id', 'status', 'persona', 'start_emotion', 'topic', 'emotional_arc',
    'tier', 'intent', 'tone', 'outcome_type', 'quality_score', 'updated_at'];
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

revoke all on function public.scenario_page(jsonb, text, boolean, integer, integer) from public, anon;
grant execute on function public.scenario_page(jsonb, text, boolean, integer, integer) to authenticated, service_role;
