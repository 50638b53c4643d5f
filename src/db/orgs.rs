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

/// The schema's column defaults, for callers that let them apply.
pub const DEFAULT_CLOUD: &str = "zscaler.net";
pub const DEFAULT_TOKEN_LIMIT: i32 = 5;
pub const DEFAULT_DAILY_QUOTA: i32 = 100;
pub const DEFAULT_ABUSE_THRESHOLD: i32 = 1000;

/// PostgreSQL text cannot hold NUL, so no name contains one; and a query that carries one is
/// refused by the server (an error, not an empty answer). Searches for one therefore match
/// nothing, without asking: a search box answers "no match" rather than scold a typo.
fn matches_nothing(s: &str) -> bool {
    s.contains('\0')
}

/// One numbered page of orgs by (name, id), optionally those whose name starts with `prefix`:
/// the API's `?search=`, the same rule as the console's keyset pages (`page_after`, R13).
pub fn search(
    conn: &mut PgConnection,
    prefix: Option<&str>,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<Org>> {
    if prefix.is_some_and(matches_nothing) {
        return Ok(Vec::new());
    }
    let mut q = o::table.into_boxed();
    if let Some(p) = prefix {
        q = q.filter(lower(o::name).like(name_prefix(p)));
    }
    q.order((o::name.asc(), o::id.asc()))
        .offset(offset)
        .limit(limit)
        .select(Org::as_select())
        .load(conn)
}

/// The LIKE pattern for names starting with `prefix`, any case, against `lower(name)`. Every
/// name search goes through here, so the console and the API cannot drift apart (R13).
fn name_prefix(prefix: &str) -> String {
    format!("{}%", escape_like(&prefix.to_lowercase()))
}

/// What the user typed is matched literally: `%` and `_` are not wildcards.
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub fn set_subscription(
    conn: &mut PgConnection,
    org_id: Uuid,
    expires_at: Option<DateTime<Utc>>,
) -> QueryResult<Org> {
    diesel::update(o::table.find(org_id))
        .set(o::subscription_expires_at.eq(expires_at))
        .returning(Org::as_returning())
        .get_result(conn)
}

pub struct Limits {
    pub token_limit: i32,
    pub daily_quota: i32,
    pub abuse_threshold: i32,
}

pub fn set_limits(conn: &mut PgConnection, org_id: Uuid, limits: &Limits) -> QueryResult<Org> {
    diesel::update(o::table.find(org_id))
        .set((
            o::token_limit.eq(limits.token_limit),
            o::daily_quota.eq(limits.daily_quota),
            o::abuse_threshold.eq(limits.abuse_threshold),
        ))
        .returning(Org::as_returning())
        .get_result(conn)
}

/// Org-level provider disable (R10): `Some((reason, by))` disables, `None` re-enables.
pub fn set_api_disabled(
    conn: &mut PgConnection,
    org_id: Uuid,
    disabled: Option<(&str, &str)>,
) -> QueryResult<Org> {
    let (at, reason, by) = match disabled {
        Some((reason, by)) => (Some(Utc::now()), Some(reason), Some(by)),
        None => (None, None, None),
    };
    diesel::update(o::table.find(org_id))
        .set((
            o::api_disabled_at.eq(at),
            o::api_disabled_reason.eq(reason),
            o::api_disabled_by.eq(by),
        ))
        .returning(Org::as_returning())
        .get_result(conn)
}

/// (calls, submissions) of an org on a UTC day; zeros when nothing was counted.
pub fn usage_on(
    conn: &mut PgConnection,
    org_id: Uuid,
    day: chrono::NaiveDate,
) -> QueryResult<(i32, i32)> {
    use super::schema::org_daily_usage as u;
    Ok(u::table
        .find((org_id, day))
        .select((u::calls, u::submissions))
        .first(conn)
        .optional()?
        .unwrap_or((0, 0)))
}

/// Today's calls that count towards R10: those since support last re-enabled the org.
pub fn threshold_count_on(
    conn: &mut PgConnection,
    org_id: Uuid,
    day: chrono::NaiveDate,
) -> QueryResult<i32> {
    use super::schema::org_daily_usage as u;
    Ok(u::table
        .find((org_id, day))
        .select(u::calls - u::threshold_baseline)
        .first(conn)
        .optional()?
        .unwrap_or(0))
}

/// R10 after a re-enable: today's threshold count starts again from the calls made so far.
pub fn restart_threshold_count(
    conn: &mut PgConnection,
    org_id: Uuid,
    day: chrono::NaiveDate,
) -> QueryResult<()> {
    use super::schema::org_daily_usage as u;
    diesel::insert_into(u::table)
        .values((u::org_id.eq(org_id), u::day.eq(day)))
        .on_conflict((u::org_id, u::day))
        .do_update()
        .set(u::threshold_baseline.eq(u::calls))
        .execute(conn)?;
    Ok(())
}

/// One keyset page of orgs by (name, id), optionally those whose name starts with `prefix`
/// (case-insensitive): both index-backed, so it stays fast at any number of orgs.
pub fn page_after(
    conn: &mut PgConnection,
    prefix: Option<&str>,
    after: Option<(&str, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<Org>> {
    keyset_page(conn, prefix, after.map(|c| (Side::After, c)), limit)
}

/// The page that ends just before `before`, read backwards from it (the same index, walked
/// the other way) and returned in name order, so "Previous page" costs what "Next page" does.
pub fn page_before(
    conn: &mut PgConnection,
    prefix: Option<&str>,
    before: (&str, Uuid),
    limit: i64,
) -> QueryResult<Vec<Org>> {
    let mut page = keyset_page(conn, prefix, Some((Side::Before, before)), limit)?;
    page.reverse();
    Ok(page)
}

/// Which side of the cursor a keyset page lies on.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    After,
    Before,
}

/// Rows after the cursor come in ascending order, rows before it in descending order (nearest
/// first), so that `limit` keeps the rows next to the cursor either way.
fn keyset_page(
    conn: &mut PgConnection,
    prefix: Option<&str>,
    cursor: Option<(Side, (&str, Uuid))>,
    limit: i64,
) -> QueryResult<Vec<Org>> {
    if prefix.is_some_and(matches_nothing)
        || cursor.is_some_and(|(_, (name, _))| matches_nothing(name))
    {
        return Ok(Vec::new());
    }
    let mut q = o::table.into_boxed();
    if let Some(p) = prefix {
        q = q.filter(lower(o::name).like(name_prefix(p)));
    }
    let backwards = cursor.is_some_and(|(side, _)| side == Side::Before);
    if let Some((side, (name, id))) = cursor {
        let op = if side == Side::Before { "<" } else { ">" };
        // A row comparison is an index bound on (name, id); the equivalent OR was a filter.
        q = q.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
                "(organizations.name, organizations.id) {op} ("
            ))
            .bind::<diesel::sql_types::Text, _>(name.to_owned())
            .sql(", ")
            .bind::<diesel::sql_types::Uuid, _>(id)
            .sql(")"),
        );
    }
    q = if backwards {
        q.order((o::name.desc(), o::id.desc()))
    } else {
        q.order((o::name.asc(), o::id.asc()))
    };
    q.limit(limit).select(Org::as_select()).load(conn)
}
