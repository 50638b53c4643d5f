-- Back to migration 7's sandbox_record_batch, exactly: its THRESHOLD_DISABLE row names no resource.
CREATE OR REPLACE FUNCTION sandbox_record_batch(
    p_digests bytea[], p_orgs uuid[], p_endpoint text[], p_md5 text[], p_sha256 text[],
    p_size int8[], p_type text[], p_virus text[], p_now timestamptz)
RETURNS text[]
LANGUAGE plpgsql AS $fn$
DECLARE
    v_day date := (p_now AT TIME ZONE 'UTC')::date;
    v_out text[] := '{}';
    -- Per org of the batch, by position in o_id.
    o_id uuid[];
    o_expires timestamptz[];
    o_disabled boolean[];
    o_quota int[];
    o_threshold int[];
    o_calls int[];
    o_subs int[];
    o_baseline int[];
    o_newly boolean[];
    -- Per token used in the batch, by position in u_id.
    u_id uuid[] := '{}';
    u_calls int[] := '{}';
    u_subs int[] := '{}';
    -- Accepted submissions.
    a_i int[] := '{}';
    a_org uuid[] := '{}';
    a_token uuid[] := '{}';
    r record;
    k int;
    j int;
    v_outcome text;
BEGIN
    WITH locked AS (
        SELECT id, subscription_expires_at, api_disabled_at IS NOT NULL AS disabled,
               daily_quota, abuse_threshold
          FROM organizations
         WHERE id = ANY (p_orgs)
         ORDER BY id
           FOR UPDATE
    ), usage AS (
        INSERT INTO org_daily_usage (org_id, day)
        SELECT id, v_day FROM locked
        ON CONFLICT (org_id, day) DO UPDATE SET calls = org_daily_usage.calls
        RETURNING org_id, calls, submissions, threshold_baseline
    )
    SELECT array_agg(l.id ORDER BY l.id), array_agg(l.subscription_expires_at ORDER BY l.id),
           array_agg(l.disabled ORDER BY l.id), array_agg(l.daily_quota ORDER BY l.id),
           array_agg(l.abuse_threshold ORDER BY l.id), array_agg(u.calls ORDER BY l.id),
           array_agg(u.submissions ORDER BY l.id), array_agg(u.threshold_baseline ORDER BY l.id),
           array_agg(false)
      INTO o_id, o_expires, o_disabled, o_quota, o_threshold, o_calls, o_subs, o_baseline, o_newly
      FROM locked l JOIN usage u ON u.org_id = l.id;

    FOR r IN
        SELECT d.i, t.id AS token_id, t.org_id, t.disabled_at IS NOT NULL AS disabled
          FROM unnest(p_digests) WITH ORDINALITY AS d(digest, i)
          LEFT JOIN sandbox_api_tokens t ON t.value_digest = d.digest
         ORDER BY d.i
    LOOP
        k := CASE WHEN r.token_id IS NULL THEN NULL ELSE array_position(o_id, r.org_id) END;
        IF k IS NULL THEN
            v_out := v_out || 'UNKNOWN'::text;
            CONTINUE;
        END IF;
        -- Every call of a known token counts towards R10, refused or not.
        o_calls[k] := o_calls[k] + 1;
        j := array_position(u_id, r.token_id);
        IF j IS NULL THEN
            u_id := u_id || r.token_id;
            u_calls := u_calls || 0;
            u_subs := u_subs || 0;
            j := cardinality(u_id);
        END IF;
        u_calls[j] := u_calls[j] + 1;
        IF r.disabled OR o_disabled[k] THEN
            v_outcome := 'DISABLED';
        ELSIF o_expires[k] IS NULL OR o_expires[k] <= p_now THEN
            v_outcome := 'EXPIRED';
        ELSIF o_calls[k] - o_baseline[k] > o_threshold[k] THEN
            o_disabled[k] := true;
            o_newly[k] := true;
            v_outcome := 'THRESHOLD_EXCEEDED';
        ELSIF p_endpoint[r.i] IS NULL THEN
            v_outcome := 'COUNTED';
        ELSIF o_subs[k] >= o_quota[k] THEN
            v_outcome := 'QUOTA_EXCEEDED';
        ELSE
            o_subs[k] := o_subs[k] + 1;
            u_subs[j] := u_subs[j] + 1;
            a_i := a_i || r.i::int;
            a_org := a_org || r.org_id;
            a_token := a_token || r.token_id;
            v_outcome := 'ACCEPTED';
        END IF;
        v_out := v_out || v_outcome;
    END LOOP;

    WITH recorded AS (
        INSERT INTO submissions
            (org_id, token_id, endpoint, md5, sha256, size_bytes, file_type, virus_name, created_at)
        SELECT a.org, a.token, p_endpoint[a.i], p_md5[a.i], p_sha256[a.i], p_size[a.i], p_type[a.i],
               p_virus[a.i], p_now
          FROM unnest(a_i, a_org, a_token) AS a(i, org, token)
    ), token_usage AS (
        INSERT INTO token_daily_usage (token_id, day, calls, submissions)
        SELECT u.id, v_day, u.c, u.s FROM unnest(u_id, u_calls, u_subs) AS u(id, c, s)
        ON CONFLICT (token_id, day) DO UPDATE
           SET calls = token_daily_usage.calls + EXCLUDED.calls,
               submissions = token_daily_usage.submissions + EXCLUDED.submissions
    ), last_used AS (
        -- "Last used" is shown to the second; rewriting the token row for every batch would
        -- cost more than it tells.
        UPDATE sandbox_api_tokens SET last_used_at = p_now
         WHERE id = ANY (u_id)
           AND (last_used_at IS NULL OR last_used_at < p_now - interval '1 second')
    )
    UPDATE org_daily_usage d SET calls = x.c, submissions = x.s
      FROM unnest(o_id, o_calls, o_subs) AS x(o, c, s)
     WHERE d.org_id = x.o AND d.day = v_day;

    -- R10: disabled once, by the system, in the transaction that counted the crossing call.
    FOR k IN 1 .. coalesce(cardinality(o_id), 0) LOOP
        CONTINUE WHEN NOT o_newly[k];
        UPDATE organizations
           SET api_disabled_at = p_now, api_disabled_reason = 'API call threshold exceeded',
               api_disabled_by = 'system'
         WHERE id = o_id[k] AND api_disabled_at IS NULL;
        INSERT INTO audit_events (actor, org_id, action, interface, result, details, occurred_at)
        VALUES ('system', o_id[k], 'THRESHOLD_DISABLE', 'SYSTEM', 'SUCCESS',
                jsonb_build_object('reason', 'API call threshold exceeded',
                                   'callsToday', o_calls[k], 'abuseThreshold', o_threshold[k]),
                p_now);
        PERFORM pg_notify('sandbox_token_changes', o_id[k]::text);
    END LOOP;

    RETURN v_out;
END;
$fn$;
