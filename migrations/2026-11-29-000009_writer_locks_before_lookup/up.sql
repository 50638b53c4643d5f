-- Migration 8's fast path, mended in three places.
--
-- 1. The org rows are locked BEFORE the tokens are looked up, in a statement of their own.
--    Migration 8 did both in one statement, so the lookup used a snapshot taken before the
--    lock wait: a token deleted by a transaction that held the org lock meanwhile was still
--    found, the batch went on to insert its token_daily_usage row, the foreign key refused it,
--    and every call of the batch (of every org in it) got a 503. Now the lookup's snapshot is
--    taken after the lock is held, and a delete or regenerate (each takes the org lock first)
--    has either committed, and is seen, or has not begun.
-- 2. It locks exactly the orgs that sandbox_record_batch locks (p_orgs, in id order). Migration
--    8 locked the orgs of the tokens it found, so when it fell back to the call-by-call path,
--    that path could go on to lock an org with a smaller id: two writers could deadlock.
-- 3. An org without a subscription (expiry NULL) is not "subscribed": `expires > now` is NULL
--    there, and bool_and skips NULLs, so with a second, healthy org in the same batch the
--    expired org's calls were accepted.
CREATE OR REPLACE FUNCTION sandbox_record_batch_fast(
    p_digests bytea[], p_orgs uuid[], p_endpoint text[], p_md5 text[], p_sha256 text[],
    p_size int8[], p_type text[], p_virus text[], p_now timestamptz)
RETURNS text[]
LANGUAGE plpgsql AS $fn$
DECLARE
    v_day date := (p_now AT TIME ZONE 'UTC')::date;
    v_ok boolean;
    v_orgs uuid[];
    v_calls int[];
    v_subs int[];
BEGIN
    PERFORM 1 FROM organizations WHERE id = ANY (p_orgs) ORDER BY id FOR UPDATE;

    WITH x AS MATERIALIZED (
        SELECT d.i, d.endpoint, t.id AS token_id, t.org_id, t.disabled_at IS NOT NULL AS disabled
          FROM unnest(p_digests, p_endpoint) WITH ORDINALITY AS d(digest, endpoint, i)
          LEFT JOIN sandbox_api_tokens t ON t.value_digest = d.digest
    ), per_org AS MATERIALIZED (
        SELECT org_id, count(*)::int AS calls, count(endpoint)::int AS subs,
               bool_or(disabled) AS token_disabled
          FROM x
         WHERE token_id IS NOT NULL
         GROUP BY org_id
    ), locked AS (
        -- Already locked above; this statement's snapshot was taken after that.
        SELECT o.id, o.subscription_expires_at, o.api_disabled_at IS NOT NULL AS disabled,
               o.daily_quota, o.abuse_threshold
          FROM organizations o
         WHERE o.id IN (SELECT org_id FROM per_org) AND o.id = ANY (p_orgs)
    ), usage AS (
        INSERT INTO org_daily_usage AS u (org_id, day, calls, submissions)
        SELECT l.id, v_day, p.calls, p.subs FROM locked l JOIN per_org p ON p.org_id = l.id
        ON CONFLICT (org_id, day) DO UPDATE
           SET calls = u.calls + EXCLUDED.calls, submissions = u.submissions + EXCLUDED.submissions
        RETURNING org_id, calls, submissions, threshold_baseline
    ), verdict AS (
        SELECT coalesce(bool_and(coalesce(NOT p.token_disabled AND NOT l.disabled
                                          AND l.subscription_expires_at > p_now
                                          AND u.calls - u.threshold_baseline <= l.abuse_threshold
                                          AND u.submissions <= l.daily_quota, false)), false)
               -- Every known token's org was locked (the call-by-call path refuses the others).
               AND count(*) = (SELECT count(*) FROM per_org)
               AND NOT EXISTS (SELECT 1 FROM x WHERE x.token_id IS NULL) AS ok,
               array_agg(p.org_id) AS orgs, array_agg(p.calls) AS calls,
               array_agg(p.subs) AS subs
          FROM per_org p
          JOIN usage u ON u.org_id = p.org_id
          JOIN locked l ON l.id = p.org_id
    ), recorded AS (
        INSERT INTO submissions
            (org_id, token_id, endpoint, md5, sha256, size_bytes, file_type, virus_name, created_at)
        SELECT x.org_id, x.token_id, x.endpoint, p_md5[x.i], p_sha256[x.i], p_size[x.i],
               p_type[x.i], p_virus[x.i], p_now
          FROM x, verdict
         WHERE verdict.ok AND x.endpoint IS NOT NULL
    ), token_usage AS (
        INSERT INTO token_daily_usage AS tu (token_id, day, calls, submissions)
        SELECT x.token_id, v_day, count(*), count(x.endpoint)
          FROM x, verdict
         WHERE verdict.ok
         GROUP BY x.token_id
        ON CONFLICT (token_id, day) DO UPDATE
           SET calls = tu.calls + EXCLUDED.calls,
               submissions = tu.submissions + EXCLUDED.submissions
    ), last_used AS (
        -- As in sandbox_record_batch: shown to the second, so written at most once a second.
        UPDATE sandbox_api_tokens SET last_used_at = p_now
         WHERE id IN (SELECT x.token_id FROM x, verdict WHERE verdict.ok)
           AND (last_used_at IS NULL OR last_used_at < p_now - interval '1 second')
    )
    SELECT verdict.ok, verdict.orgs, verdict.calls, verdict.subs
      INTO v_ok, v_orgs, v_calls, v_subs
      FROM verdict;

    IF v_ok THEN
        RETURN ARRAY(SELECT CASE WHEN e IS NULL THEN 'COUNTED' ELSE 'ACCEPTED' END
                       FROM unnest(p_endpoint) WITH ORDINALITY AS c(e, i) ORDER BY i);
    END IF;
    -- Undo this attempt's increments: the rows are still locked, nobody has seen them.
    UPDATE org_daily_usage d
       SET calls = d.calls - x.calls, submissions = d.submissions - x.subs
      FROM unnest(v_orgs, v_calls, v_subs) AS x(org_id, calls, subs)
     WHERE d.org_id = x.org_id AND d.day = v_day;
    RETURN sandbox_record_batch(p_digests, p_orgs, p_endpoint, p_md5, p_sha256, p_size, p_type,
                                p_virus, p_now);
END;
$fn$;
