//! Server-side web sessions. Only a SHA-256 of the session key is stored, so a database dump
//! does not hand out live sessions.
use super::schema::web_sessions as s;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

pub fn load(conn: &mut PgConnection, id_hash: &[u8]) -> QueryResult<Option<Value>> {
    s::table
        .filter(
            s::id_hash
                .eq(id_hash)
                .and(s::expires_at.gt(diesel::dsl::now)),
        )
        .select(s::state)
        .first(conn)
        .optional()
}

pub fn insert(
    conn: &mut PgConnection,
    id_hash: &[u8],
    user_id: Option<Uuid>,
    state: &Value,
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(s::table)
        .values((
            s::id_hash.eq(id_hash),
            s::user_id.eq(user_id),
            s::state.eq(state),
            s::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Returns false when the session no longer exists (expired, logged out, revoked).
pub fn update(
    conn: &mut PgConnection,
    id_hash: &[u8],
    user_id: Option<Uuid>,
    state: &Value,
    expires_at: DateTime<Utc>,
) -> QueryResult<bool> {
    let n = diesel::update(
        s::table.filter(
            s::id_hash
                .eq(id_hash)
                .and(s::expires_at.gt(diesel::dsl::now)),
        ),
    )
    .set((
        s::user_id.eq(user_id),
        s::state.eq(state),
        s::expires_at.eq(expires_at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn touch(
    conn: &mut PgConnection,
    id_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(s::table.filter(s::id_hash.eq(id_hash)))
        .set(s::expires_at.eq(expires_at))
        .execute(conn)?;
    Ok(())
}

pub fn delete(conn: &mut PgConnection, id_hash: &[u8]) -> QueryResult<()> {
    diesel::delete(s::table.filter(s::id_hash.eq(id_hash))).execute(conn)?;
    Ok(())
}

/// Ends every session of a user at once (disable, role change).
pub fn delete_for_user(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<usize> {
    diesel::delete(s::table.filter(s::user_id.eq(user_id))).execute(conn)
}

pub fn purge_expired(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::delete(s::table.filter(s::expires_at.le(diesel::dsl::now))).execute(conn)
}
