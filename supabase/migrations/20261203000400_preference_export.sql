-- The preference export and the contrastive coverage read the accepted contrastive responses
-- (20261203000100_contrastive_responses.sql). Both are read as the caller (security invoker): the rows a
-- member may see are the rows they get, and no role check is needed for a read.

-- The accepted pairs of the given conversations (an export's batch: the conversations it selected), each
-- with what a preference record is built from: the failed text (rejected), the conversation's turn it
-- replaces (chosen), the system prompt and the turns before it (the prompt). A pair on a version that a
-- regeneration replaced is left out (its turn may read differently in the current one), and so is one whose
-- turn is missing, is not the assistant's, or reads the same as the failure (no preference to learn).
create or replace function public.export_preference_pairs(p_conversation_ids text[])
returns table (
  id bigint,
  conversation_id text,
  version integer,
  turn_idx integer,
  failure_kind text,
  why text,
  rejected text,
  chosen text,
  system_prompt text,
  before jsonb,
  reviewed_by text,
  reviewed_at timestamptz,
  review_note text,
  model text,
  created_at timestamptz
)
language sql stable security invoker
set search_path = public, pg_temp
as $$
  select r.id, r.conversation_id, c.version, r.turn_idx, r.failure_kind, r.why, r.text, t.text,
         coalesce(c.document->>'system_prompt', ''),
         coalesce((select jsonb_agg(jsonb_build_object('role', p.role, 'text', p.text) order by p.idx)
                     from public.conversation_turns p
                    where p.conversation_id = r.conversation_id and p.idx < r.turn_idx), '[]'::jsonb),
         r.reviewed_by, r.reviewed_at, r.review_note, r.model, r.created_at
    from public.contrastive_responses r
    join public.conversations c on c.id = r.conversation_id and c.is_current
    join public.conversation_turns t
      on t.conversation_id = r.conversation_id and t.idx = r.turn_idx and t.role = 'assistant'
   where r.status = 'accepted'
     and r.conversation_id = any(p_conversation_ids)
     and btrim(r.text) <> btrim(t.text)
   order by r.conversation_id, r.turn_idx, r.id
$$;

revoke all on function public.export_preference_pairs(text[]) from public, anon;
grant execute on function public.export_preference_pairs(text[]) to authenticated, service_role;

-- Accepted pairs per (emotion of the user turn the failed answer replies to, failure kind): what Coverage
-- holds against failures.yaml's target_pairs_per_emotion. The emotion is the label in force
-- (conversation_turns keeps it). Current versions only; p_approved_only: of approved conversations only,
-- as an export takes them by default, else of every conversation not rejected.
create or replace function public.contrastive_pair_counts(p_approved_only boolean default true)
returns table (emotion text, failure_kind text, n integer)
language sql stable security invoker
set search_path = public, pg_temp
as $$
  select u.emotion_primary, r.failure_kind, count(*)::integer
    from public.contrastive_responses r
    join public.conversations c on c.id = r.conversation_id and c.is_current
    join public.conversation_turns u
      on u.conversation_id = r.conversation_id and u.idx = r.turn_idx - 1 and u.role = 'user'
   where r.status = 'accepted'
     and (c.review_status = 'approved' or (not p_approved_only and c.review_status <> 'rejected'))
   group by u.emotion_primary, r.failure_kind
   order by u.emotion_primary, r.failure_kind
$$;

revoke all on function public.contrastive_pair_counts(boolean) from public, anon;
grant execute on function public.contrastive_pair_counts(boolean) to authenticated, service_role;
