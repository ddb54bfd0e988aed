-- Blind second review: a reviewer who makes the correction the first reviewer already made records it.
-- app_private.record_revision (behind public.revise_label, the operators' import and accepted suggestions)
-- wrote nothing when the new value was the one in force; a blind second reviewer making the first reviewer's
-- correction then had no value of their own, so agreement counted a disagreement and their blind view
-- showed the label as generated. Now a human_review revision is recorded when the value in force came from
-- another author's revision and this author has none of that turn and field; otherwise an unchanged value
-- still writes nothing (the import's "unchanged" lines, a form saved as it was).

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
  -- nothing changes: no revision, unless a reviewer makes the correction another author already made
  -- (a blind second reviewer does not see it), which is their value of the label as much as a change is
  if v_old is not distinct from p_new_value and not (
       p_source = 'human_review'
       and exists (select 1 from public.label_revisions lr
                    where lr.conversation_id = p_conversation_id and lr.turn_idx = p_turn and lr.field = p_field
                      and lr.author <> btrim(p_author))
       and not exists (select 1 from public.label_revisions lr
                        where lr.conversation_id = p_conversation_id and lr.turn_idx = p_turn and lr.field = p_field
                          and lr.author = btrim(p_author))) then
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
