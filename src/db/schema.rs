// @generated automatically by Diesel CLI.

diesel::table! {
    audit_events (id) {
        id -> Int8,
        occurred_at -> Timestamptz,
        actor -> Text,
        actor_user_id -> Nullable<Uuid>,
        actor_role -> Nullable<Text>,
        org_id -> Nullable<Uuid>,
        action -> Text,
        resource_id -> Nullable<Uuid>,
        resource_name -> Nullable<Text>,
        client_ip -> Nullable<Text>,
        interface -> Text,
        result -> Text,
        details -> Jsonb,
        prev_hash -> Nullable<Bytea>,
        row_hash -> Nullable<Bytea>,
        chain_seq -> Nullable<Int8>,
    }
}

diesel::table! {
    login_throttle (username) {
        username -> Text,
        failures -> Int4,
        last_failure_at -> Timestamptz,
    }
}

diesel::table! {
    org_daily_usage (org_id, day) {
        org_id -> Uuid,
        day -> Date,
        calls -> Int4,
        submissions -> Int4,
        threshold_baseline -> Int4,
    }
}

diesel::table! {
    organizations (id) {
        id -> Uuid,
        name -> Text,
        cloud -> Text,
        subscription_expires_at -> Nullable<Timestamptz>,
        token_limit -> Int4,
        daily_quota -> Int4,
        abuse_threshold -> Int4,
        api_disabled_at -> Nullable<Timestamptz>,
        api_disabled_reason -> Nullable<Text>,
        api_disabled_by -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sandbox_api_tokens (id) {
        id -> Uuid,
        org_id -> Uuid,
        name -> Text,
        value_digest -> Bytea,
        value_ciphertext -> Bytea,
        value_hint -> Text,
        disabled_at -> Nullable<Timestamptz>,
        disabled_reason -> Nullable<Text>,
        disabled_by -> Nullable<Text>,
        created_at -> Timestamptz,
        created_by -> Text,
        last_modified_at -> Timestamptz,
        last_modified_by -> Text,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    secret_key_check (id) {
        id -> Bool,
        fingerprint -> Text,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    submissions (id) {
        id -> Int8,
        org_id -> Uuid,
        token_id -> Nullable<Uuid>,
        endpoint -> Text,
        md5 -> Text,
        sha256 -> Text,
        size_bytes -> Int8,
        file_type -> Text,
        virus_name -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    token_daily_usage (token_id, day) {
        token_id -> Uuid,
        day -> Date,
        calls -> Int4,
        submissions -> Int4,
    }
}

diesel::table! {
    user_orgs (user_id, org_id) {
        user_id -> Uuid,
        org_id -> Uuid,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        session_generation -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    web_sessions (id_hash) {
        id_hash -> Bytea,
        user_id -> Nullable<Uuid>,
        state -> Jsonb,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::joinable!(org_daily_usage -> organizations (org_id));
diesel::joinable!(sandbox_api_tokens -> organizations (org_id));
diesel::joinable!(token_daily_usage -> sandbox_api_tokens (token_id));
diesel::joinable!(user_orgs -> organizations (org_id));
diesel::joinable!(user_orgs -> users (user_id));
diesel::joinable!(web_sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    login_throttle,
    org_daily_usage,
    organizations,
    sandbox_api_tokens,
    secret_key_check,
    submissions,
    token_daily_usage,
    user_orgs,
    users,
    web_sessions,
);
