-- The current conversations' turn texts in order, one row per conversation, with the scenario cell
-- it belongs to: what the near-duplicate search and the diversity figures read
-- (lib/core/similarity.py, lib/coverage/diversity.py). The search itself runs in Python on MinHash
-- sketches, so nothing is stored: the view is read again when the data changes.
create or replace view public.v_conversation_texts with (security_invoker = on) as
select c.id, c.scenario_id, c.created_at, c.review_status, c.source,
       s.tier, s.persona, s.emotional_arc, s.topic,
       array_agg(t.role order by t.idx) as roles,
       array_agg(t.text order by t.idx) as texts
  from public.conversations c
  join public.scenarios s on s.id = c.scenario_id
  join public.conversation_turns t on t.conversation_id = c.id
 where c.is_current
 group by c.id, s.id;

revoke all on public.v_conversation_texts from anon;
grant select on public.v_conversation_texts to authenticated, service_role;

-- Changes when a conversation's text can have changed (one added, regenerated or removed), and not
-- when it is reviewed: Review keys the near-duplicate search on it, so a decision does not search
-- again. Read as the caller (security invoker), so the rows it sees are the rows the view shows.
create or replace function public.conversation_texts_version() returns text
language sql stable security invoker
set search_path = public, pg_temp
as $$
  select count(*) || ':' || coalesce(max(c.created_at)::text, '') || ':' || coalesce(max(c.id), '')
    from public.conversations c
   where c.is_current
$$;

revoke all on function public.conversation_texts_version() from public, anon;
grant execute on function public.conversation_texts_version() to authenticated, service_role;
