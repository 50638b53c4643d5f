//! Queries on organizations.
use super::lower;
use super::models::Org;
use super::schema::organizations as o;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

pub fn find(conn: &mut PgConnection, org_id: Uuid) -> QueryResult<Option<Org>> {
    o::table
        .find(org_id)
        .select(Org::as_select())
        .first(conn)
        .optional()
}

/// Locks the org row for the rest of the transaction: every change that counts or checks the
/// org's tokens takes this lock first, so concurrent adds cannot overshoot the limit (R4).
pub fn lock(conn: &mut PgConnection, org_id: Uuid) -> QueryResult<Option<Org>> {
    o::table
        .find(org_id)
        .select(Org::as_select())
        .for_update()
        .first(conn)
        .optional()
}

pub fn find_by_name(conn: &mut PgConnection, name: &str) -> QueryResult<Option<Org>> {
    o::table
        .filter(lower(o::name).eq(lower(name)))
        .select(Org::as_select())
        .first(conn)
        .optional()
}

pub struct NewOrg<'a> {
    pub name: &'a str,
    pub cloud: &'a str,
    pub subscription_expires_at: Option<DateTime<Utc>>,
    pub token_limit: i32,
    pub daily_quota: i32,
    pub abuse_threshold: i32,
}

pub fn insert(conn: &mut PgConnection, new: &NewOrg<'_>) -> QueryResult<Org> {
    diesel::insert_into(o::table)
        .values((
            o::name.eq(new.name),
            o::cloud.eq(new.cloud),
            o::subscription_expires_at.eq(new.subscription_expires_at),
            o::token_limit.eq(new.token_limit),
            o::daily_quota.eq(new.daily_quota),
            o::abuse_threshold.eq(new.abuse_threshold),
        ))
        .returning(Org::as_returning())
        .get_result(conn)
}

/// The orgs with these ids, by name.
pub fn by_ids(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<Org>> {
    o::table
        .filter(o::id.eq_any(ids))
        .order((o::name.asc(), o::id.asc()))
        .select(Org::as_select())
        .load(conn)
}

/// A first page of orgs for pickers (support sees all orgs; the full console pages by keyset).
pub fn first_page(conn: &mut PgConnection, limit: i64) -> QueryResult<Vec<Org>> {
    o::table
        .order((o::name.asc(), o::id.asc()))
        .limit(limit)
        .select(Org::as_select())
        .load(conn)
}
