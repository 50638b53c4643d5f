//! Queries on users, their org grants and the failed-login throttle.
use super::lower;
use super::models::User;
use super::schema::{login_throttle as lt, user_orgs as uo, users as u};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

pub fn find_by_username(conn: &mut PgConnection, username: &str) -> QueryResult<Option<User>> {
    u::table
        .filter(lower(u::username).eq(lower(username)))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn find(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<Option<User>> {
    u::table
        .find(user_id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn org_ids(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<Vec<Uuid>> {
    uo::table
        .filter(uo::user_id.eq(user_id))
        .select(uo::org_id)
        .load(conn)
}

pub fn insert(
    conn: &mut PgConnection,
    username: &str,
    password_hash: &str,
    role: &str,
    org_ids: &[Uuid],
) -> QueryResult<User> {
    let user: User = diesel::insert_into(u::table)
        .values((
            u::username.eq(username),
            u::password_hash.eq(password_hash),
            u::role.eq(role),
        ))
        .returning(User::as_returning())
        .get_result(conn)?;
    let grants: Vec<_> = org_ids
        .iter()
        .map(|org| (uo::user_id.eq(user.id), uo::org_id.eq(*org)))
        .collect();
    diesel::insert_into(uo::table)
        .values(grants)
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(user)
}

/// Counts this attempt as a failure up front, unless the backoff still runs: then the seconds
/// left. The row lock makes parallel attempts take turns; a successful login clears the row.
pub fn reserve_attempt(
    conn: &mut PgConnection,
    username_key: &str,
    backoff_secs: impl Fn(i32) -> i64,
) -> QueryResult<Option<i64>> {
    // A row to lock even for a first attempt, so a first burst takes turns too.
    diesel::insert_into(lt::table)
        .values(lt::username.eq(username_key))
        .on_conflict_do_nothing()
        .execute(conn)?;
    let state: Option<(i32, DateTime<Utc>)> = lt::table
        .find(username_key)
        .select((lt::failures, lt::last_failure_at))
        .for_update()
        .first(conn)
        .optional()?;
    if let Some((failures, last)) = state {
        let wait = backoff_secs(failures) - (Utc::now() - last).num_seconds();
        if wait > 0 {
            return Ok(Some(wait));
        }
    }
    record_failure(conn, username_key)?;
    Ok(None)
}

pub fn record_failure(conn: &mut PgConnection, username_key: &str) -> QueryResult<()> {
    diesel::insert_into(lt::table)
        .values((lt::username.eq(username_key), lt::failures.eq(1)))
        .on_conflict(lt::username)
        .do_update()
        .set((
            lt::failures.eq(lt::failures + 1),
            lt::last_failure_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets throttle rows whose last failure is older than `quiet`: the longest backoff is a
/// minute, and without this every name ever typed at the login form (each its own row) would
/// stay in the table for good.
pub fn purge_stale_throttles(
    conn: &mut PgConnection,
    quiet: chrono::Duration,
) -> QueryResult<usize> {
    diesel::delete(lt::table.filter(lt::last_failure_at.lt(Utc::now() - quiet))).execute(conn)
}

pub fn clear_failures(conn: &mut PgConnection, username_key: &str) -> QueryResult<()> {
    diesel::delete(lt::table.find(username_key)).execute(conn)?;
    Ok(())
}
