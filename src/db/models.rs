//! Row types. Read models of tokens never carry the ciphertext (DESIGN: secrets stay out of
//! read models).
use super::schema::*;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = organizations)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    pub cloud: String,
    pub subscription_expires_at: Option<DateTime<Utc>>,
    pub token_limit: i32,
    pub daily_quota: i32,
    pub abuse_threshold: i32,
    pub api_disabled_at: Option<DateTime<Utc>>,
    pub api_disabled_reason: Option<String>,
    pub api_disabled_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub session_generation: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = sandbox_api_tokens)]
pub struct Token {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub value_hint: String,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub disabled_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub last_modified_at: DateTime<Utc>,
    pub last_modified_by: String,
    pub last_used_at: Option<DateTime<Utc>>,
}
