-- The whole data model of SPEC §2: organizations, users, tokens, usage, submissions, audit, sessions.

CREATE TABLE organizations (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                    text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    cloud                   text NOT NULL DEFAULT 'zscaler.net' CHECK (length(cloud) BETWEEN 1 AND 200),
    -- NULL: the org has no Sandbox subscription (R8 treats it like an expired one).
    subscription_expires_at timestamptz,
    token_limit             integer NOT NULL DEFAULT 5 CHECK (token_limit BETWEEN 0 AND 100),
    daily_quota             integer NOT NULL DEFAULT 100 CHECK (daily_quota >= 0),
    abuse_threshold         integer NOT NULL DEFAULT 1000 CHECK (abuse_threshold >= 0),
    -- Org-level provider disable (R10): a flag on the org so that token churn cannot clear it.
    api_disabled_at         timestamptz,
    api_disabled_reason     text,
    api_disabled_by         text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    CHECK ((api_disabled_at IS NULL) = (api_disabled_reason IS NULL))
);
CREATE UNIQUE INDEX organizations_name_key ON organizations (lower(name));
-- Keyset pagination of the support console orders by (name, id).
CREATE INDEX organizations_name_id_idx ON organizations (name, id);

CREATE TABLE users (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username           text NOT NULL CHECK (length(username) BETWEEN 1 AND 100),
    password_hash      text NOT NULL,
    role               text NOT NULL CHECK (role IN ('org_admin', 'org_viewer', 'connector_admin', 'partner_viewer', 'support')),
    disabled           boolean NOT NULL DEFAULT false,
    -- Bumped on disable and role change; sessions carry the value they were issued with.
    session_generation integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

-- Which organizations a user may see (support: none listed, sees all).
CREATE TABLE user_orgs (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, org_id)
);
CREATE INDEX user_orgs_org_idx ON user_orgs (org_id);

CREATE TABLE sandbox_api_tokens (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id           uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 10 AND name = btrim(name)),
    -- HMAC-SHA256 of the value under a key derived from SECRET_KEY: lookups never use plaintext.
    value_digest     bytea NOT NULL UNIQUE CHECK (length(value_digest) = 32),
    -- nonce || AES-256-GCM ciphertext, bound to the token id as associated data.
    value_ciphertext bytea NOT NULL,
    -- The last characters of the value, for the masked display.
    value_hint       text NOT NULL,
    disabled_at      timestamptz,
    disabled_reason  text,
    disabled_by      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text NOT NULL,
    last_modified_at timestamptz NOT NULL DEFAULT now(),
    last_modified_by text NOT NULL,
    last_used_at     timestamptz,
    CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
);
CREATE UNIQUE INDEX sandbox_api_tokens_org_name_key ON sandbox_api_tokens (org_id, lower(name));

-- Per token and UTC day: every API call and every accepted submission.
CREATE TABLE token_daily_usage (
    token_id    uuid NOT NULL REFERENCES sandbox_api_tokens (id) ON DELETE CASCADE,
    day         date NOT NULL,
    calls       integer NOT NULL DEFAULT 0,
    submissions integer NOT NULL DEFAULT 0,
    PRIMARY KEY (token_id, day)
);

-- Per org and UTC day, surviving token deletion: what R10 and R11 count.
CREATE TABLE org_daily_usage (
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day         date NOT NULL,
    calls       integer NOT NULL DEFAULT 0,
    submissions integer NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, day)
);

CREATE TABLE submissions (
    id         bigserial PRIMARY KEY,
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    token_id   uuid REFERENCES sandbox_api_tokens (id) ON DELETE SET NULL,
    endpoint   text NOT NULL CHECK (endpoint IN ('submit', 'discan')),
    md5        text NOT NULL,
    sha256     text NOT NULL,
    size_bytes bigint NOT NULL,
    file_type  text NOT NULL,
    virus_name text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX submissions_org_created_idx ON submissions (org_id, created_at);

CREATE TABLE audit_events (
    id            bigserial PRIMARY KEY,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,
    actor_user_id uuid,
    actor_role    text,
    org_id        uuid,
    action        text NOT NULL,
    resource_id   uuid,
    resource_name text,
    client_ip     text,
    interface     text NOT NULL CHECK (interface IN ('UI', 'API', 'CLI', 'SYSTEM')),
    result        text NOT NULL CHECK (result IN ('SUCCESS', 'FAILURE')),
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Tamper evidence: hash of this row chained to the previous row of the same org.
    prev_hash     bytea,
    row_hash      bytea
);
CREATE INDEX audit_events_org_time_idx ON audit_events (org_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at DESC, id DESC);

-- The audit trail is append-only in the database itself; only a retention purge, which sets
-- sandbox_portal.audit_purge for its own transaction, may delete old rows.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('sandbox_portal.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- Server-side web sessions (actix-session store). The id is a SHA-256 of the cookie's key.
CREATE TABLE web_sessions (
    id_hash    bytea PRIMARY KEY,
    user_id    uuid REFERENCES users (id) ON DELETE CASCADE,
    state      jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);
CREATE INDEX web_sessions_user_idx ON web_sessions (user_id);

-- Failed-login backoff, keyed by the name typed (known or not, so it reveals nothing).
CREATE TABLE login_throttle (
    username        text PRIMARY KEY,
    failures        integer NOT NULL DEFAULT 0,
    last_failure_at timestamptz NOT NULL DEFAULT now()
);
