//! Queries on sandbox_api_tokens, always scoped by the owning org inside the query.
use super::models::Token;
use super::schema::{sandbox_api_tokens as t, token_daily_usage as u};
use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use std::collections::HashMap;
use uuid::Uuid;

pub fn list(conn: &mut PgConnection, org_id: Uuid) -> QueryResult<Vec<Token>> {
    t::table
        .filter(t::org_id.eq(org_id))
        .order((t::created_at.asc(), t::id.asc()))
        .select(Token::as_select())
        .load(conn)
}

pub fn find(conn: &mut PgConnection, org_id: Uuid, token_id: Uuid) -> QueryResult<Option<Token>> {
    t::table
        .filter(t::org_id.eq(org_id).and(t::id.eq(token_id)))
        .select(Token::as_select())
        .first(conn)
        .optional()
}

/// The encrypted value, for reveal only.
pub fn sealed_value(
    conn: &mut PgConnection,
    org_id: Uuid,
    token_id: Uuid,
) -> QueryResult<Option<Vec<u8>>> {
    t::table
        .filter(t::org_id.eq(org_id).and(t::id.eq(token_id)))
        .select(t::value_ciphertext)
        .first(conn)
        .optional()
}

pub fn names(conn: &mut PgConnection, org_id: Uuid) -> QueryResult<Vec<String>> {
    t::table
        .filter(t::org_id.eq(org_id))
        .select(t::name)
        .load(conn)
}

pub struct NewToken<'a> {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: &'a str,
    pub digest: &'a [u8],
    pub sealed: &'a [u8],
    pub hint: &'a str,
    pub by: &'a str,
}

pub fn insert(conn: &mut PgConnection, new: NewToken<'_>) -> QueryResult<Token> {
    diesel::insert_into(t::table)
        .values((
            t::id.eq(new.id),
            t::org_id.eq(new.org_id),
            t::name.eq(new.name),
            t::value_digest.eq(new.digest),
            t::value_ciphertext.eq(new.sealed),
            t::value_hint.eq(new.hint),
            t::created_by.eq(new.by),
            t::last_modified_by.eq(new.by),
        ))
        .returning(Token::as_returning())
        .get_result(conn)
}

/// The name of the org's token that `name` would duplicate (names are unique without regard
/// to case), leaving out `except` (the token being renamed).
pub fn name_taken(
    conn: &mut PgConnection,
    org_id: Uuid,
    name: &str,
    except: Option<Uuid>,
) -> QueryResult<Option<String>> {
    let mut q = t::table
        .filter(t::org_id.eq(org_id))
        .filter(super::lower(t::name).eq(super::lower(name)))
        .select(t::name)
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(t::id.ne(id));
    }
    q.first(conn).optional()
}

pub fn rename(
    conn: &mut PgConnection,
    org_id: Uuid,
    token_id: Uuid,
    name: &str,
    by: &str,
) -> QueryResult<Token> {
    diesel::update(t::table.filter(t::org_id.eq(org_id).and(t::id.eq(token_id))))
        .set((
            t::name.eq(name),
            t::last_modified_by.eq(by),
            t::last_modified_at.eq(diesel::dsl::now),
        ))
        .returning(Token::as_returning())
        .get_result(conn)
}

pub fn replace_value(
    conn: &mut PgConnection,
    org_id: Uuid,
    token_id: Uuid,
    digest: &[u8],
    sealed: &[u8],
    hint: &str,
    by: &str,
) -> QueryResult<Token> {
    diesel::update(t::table.filter(t::org_id.eq(org_id).and(t::id.eq(token_id))))
        .set((
            t::value_digest.eq(digest),
            t::value_ciphertext.eq(sealed),
            t::value_hint.eq(hint),
            t::last_modified_by.eq(by),
            t::last_modified_at.eq(diesel::dsl::now),
        ))
        .returning(Token::as_returning())
        .get_result(conn)
}

pub fn delete(conn: &mut PgConnection, org_id: Uuid, token_id: Uuid) -> QueryResult<usize> {
    diesel::delete(t::table.filter(t::org_id.eq(org_id).and(t::id.eq(token_id)))).execute(conn)
}

pub fn set_disabled(
    conn: &mut PgConnection,
    org_id: Uuid,
    token_id: Uuid,
    disabled: Option<(&str, &str)>,
) -> QueryResult<Token> {
    let (at, reason, by) = match disabled {
        Some((reason, by)) => (Some(Utc::now()), Some(reason), Some(by)),
        None => (None, None, None),
    };
    diesel::update(t::table.filter(t::org_id.eq(org_id).and(t::id.eq(token_id))))
        .set((
            t::disabled_at.eq(at),
            t::disabled_reason.eq(reason),
            t::disabled_by.eq(by),
        ))
        .returning(Token::as_returning())
        .get_result(conn)
}

/// Finds the token a presented value belongs to, by its keyed digest.
pub fn find_by_digest(conn: &mut PgConnection, digest: &[u8]) -> QueryResult<Option<Token>> {
    t::table
        .filter(t::value_digest.eq(digest))
        .select(Token::as_select())
        .first(conn)
        .optional()
}

/// Calls per token and day from `since` on (days without calls have no row).
pub fn calls_since(
    conn: &mut PgConnection,
    token_ids: &[Uuid],
    since: NaiveDate,
) -> QueryResult<Vec<(Uuid, NaiveDate, i32)>> {
    u::table
        .filter(u::token_id.eq_any(token_ids).and(u::day.ge(since)))
        .select((u::token_id, u::day, u::calls))
        .load(conn)
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub fn any_disabled(conn: &mut PgConnection, org_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        t::table.filter(t::org_id.eq(org_id).and(t::disabled_at.is_not_null())),
    ))
    .get_result(conn)
}

pub fn count(conn: &mut PgConnection, org_id: Uuid) -> QueryResult<i64> {
    t::table
        .filter(t::org_id.eq(org_id))
        .count()
        .get_result(conn)
}

/// How many tokens each of the given orgs has.
pub fn counts_by_org(conn: &mut PgConnection, org_ids: &[Uuid]) -> QueryResult<HashMap<Uuid, i64>> {
    let rows: Vec<(Uuid, i64)> = t::table
        .filter(t::org_id.eq_any(org_ids))
        .group_by(t::org_id)
        .select((t::org_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
