-- The submission writer's two batch statements as PL/pgSQL functions: PL/pgSQL keeps their
-- plans for the life of the connection, where raw SQL from diesel is parsed and planned for
-- every batch. Each statement inside still takes a fresh snapshot (READ COMMITTED), so the
-- token check after the lock sees everything committed before the lock was taken.

CREATE FUNCTION sandbox_lock_orgs(p_orgs uuid[], p_day date)
RETURNS TABLE (id uuid, subscription_expires_at timestamptz, api_disabled boolean,
               daily_quota integer, abuse_threshold integer, calls integer, submissions integer,
               threshold_baseline integer)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY WITH locked AS (
        SELECT id, subscription_expires_at, api_disabled_at IS NOT NULL AS api_disabled,
               daily_quota, abuse_threshold
          FROM organizations WHERE id = ANY(p_orgs) ORDER BY id FOR UPDATE
    ), usage AS (
        INSERT INTO org_daily_usage (org_id, day) SELECT id, p_day FROM locked
        ON CONFLICT (org_id, day) DO UPDATE SET calls = org_daily_usage.calls
        RETURNING org_id, calls, submissions, threshold_baseline
    )
    SELECT l.id, l.subscription_expires_at, l.api_disabled, l.daily_quota, l.abuse_threshold,
           u.calls, u.submissions, u.threshold_baseline
      FROM locked l JOIN usage u ON u.org_id = l.id;
END;
$fn$;

CREATE FUNCTION sandbox_write_batch(
    p_org uuid[], p_token uuid[], p_endpoint text[], p_md5 text[], p_sha256 text[],
    p_size int8[], p_type text[], p_virus text[], p_now timestamptz, p_day date,
    p_use_token uuid[], p_use_calls int4[], p_use_subs int4[],
    p_org_list uuid[], p_org_calls int4[], p_org_subs int4[])
RETURNS void
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
BEGIN
    WITH ins AS (
        INSERT INTO submissions
            (org_id, token_id, endpoint, md5, sha256, size_bytes, file_type, virus_name, created_at)
        SELECT o, t, e, m, s, z, f, v, p_now
          FROM unnest(p_org::uuid[], p_token::uuid[], p_endpoint::text[], p_md5::text[], p_sha256::text[], p_size::int8[],
                      p_type::text[], p_virus::text[]) AS x(o, t, e, m, s, z, f, v)
    ), token_use AS (
        INSERT INTO token_daily_usage (token_id, day, calls, submissions)
        SELECT t, p_day, c, s FROM unnest(p_use_token::uuid[], p_use_calls::int4[], p_use_subs::int4[]) AS x(t, c, s)
        ON CONFLICT (token_id, day) DO UPDATE
           SET calls = token_daily_usage.calls + EXCLUDED.calls,
               submissions = token_daily_usage.submissions + EXCLUDED.submissions
    ), last_used AS (
        UPDATE sandbox_api_tokens SET last_used_at = p_now WHERE id = ANY(p_use_token)
    )
    UPDATE org_daily_usage d SET calls = x.c, submissions = x.s
      FROM unnest(p_org_list::uuid[], p_org_calls::int4[], p_org_subs::int4[]) AS x(o, c, s)
     WHERE d.org_id = x.o AND d.day = p_day;
END;
$fn$;
