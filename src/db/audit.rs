//! Audit events (SPEC §7). Written inside the transaction of the change they describe; the
//! database refuses to update or delete them.
use super::schema::audit_events;
use crate::domain::audit::{AuditAction, CLI_ACTOR, SYSTEM_ACTOR};
use crate::domain::role::Role;
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    Ui,
    Api,
    Cli,
    System,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Ui => "UI",
            Interface::Api => "API",
            Interface::Cli => "CLI",
            Interface::System => "SYSTEM",
        }
    }
}

/// Who performs a change, and through which interface.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub name: String,
    pub role: Option<Role>,
    pub interface: Interface,
    pub client_ip: Option<String>,
}

impl Actor {
    pub fn system() -> Self {
        Actor {
            user_id: None,
            name: SYSTEM_ACTOR.into(),
            role: None,
            interface: Interface::System,
            client_ip: None,
        }
    }

    pub fn cli() -> Self {
        Actor {
            user_id: None,
            name: CLI_ACTOR.into(),
            role: None,
            interface: Interface::Cli,
            client_ip: None,
        }
    }
}

pub struct Event<'a> {
    pub org_id: Option<Uuid>,
    pub action: AuditAction,
    pub resource: Option<(Uuid, &'a str)>,
    pub success: bool,
    pub details: Value,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
struct NewEvent<'a> {
    actor: &'a str,
    actor_user_id: Option<Uuid>,
    actor_role: Option<&'a str>,
    org_id: Option<Uuid>,
    action: &'a str,
    resource_id: Option<Uuid>,
    resource_name: Option<&'a str>,
    client_ip: Option<&'a str>,
    interface: &'a str,
    result: &'a str,
    details: &'a Value,
}

pub fn record(conn: &mut PgConnection, actor: &Actor, event: Event<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values(NewEvent {
            actor: &actor.name,
            actor_user_id: actor.user_id,
            actor_role: actor.role.map(Role::as_str),
            org_id: event.org_id,
            action: event.action.as_str(),
            resource_id: event.resource.map(|r| r.0),
            resource_name: event.resource.map(|r| r.1),
            client_ip: actor.client_ip.as_deref(),
            interface: actor.interface.as_str(),
            result: if event.success { "SUCCESS" } else { "FAILURE" },
            details: &event.details,
        })
        .execute(conn)?;
    Ok(())
}

/// An audit event as listed (the hash chain columns stay out).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
pub struct EventRow {
    pub id: i64,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub actor_role: Option<String>,
    pub org_id: Option<Uuid>,
    pub action: String,
    pub resource_id: Option<Uuid>,
    pub resource_name: Option<String>,
    pub client_ip: Option<String>,
    pub interface: String,
    pub result: String,
    pub details: Value,
}

/// Newest first, `offset` rows in (the API's `?page=`); the same filters as `page`.
pub fn list(
    conn: &mut PgConnection,
    f: &Filter,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    filtered(f)
        .order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
}

/// The first row whose hash or link does not match, as `audit verify` reports it.
#[derive(Debug, QueryableByName)]
pub struct BrokenLink {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub org_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    pub chain_seq: Option<i64>,
}

/// Recomputes every chain (migration 5's `audit_row_digest`). The first row of a chain may point
/// at a row the retention purge removed; every later row must hash to its stored hash, link to
/// its predecessor and follow it without a gap.
pub fn verify(conn: &mut PgConnection) -> QueryResult<Option<BrokenLink>> {
    diesel::sql_query(
        "SELECT id, org_id, chain_seq FROM (
             SELECT a.id, a.org_id, a.chain_seq, a.row_hash, a.prev_hash,
                    audit_row_digest(a.prev_hash, a) AS expected,
                    lag(a.row_hash) OVER w AS prev_actual,
                    lag(a.chain_seq) OVER w AS prev_seq,
                    row_number() OVER w AS n
               FROM audit_events a
             WINDOW w AS (PARTITION BY a.org_id ORDER BY a.chain_seq, a.id)
         ) x
         WHERE row_hash IS DISTINCT FROM expected
            OR (n > 1 AND (prev_hash IS DISTINCT FROM prev_actual
                           OR chain_seq IS DISTINCT FROM prev_seq + 1))
         ORDER BY id
         LIMIT 1",
    )
    .get_result(conn)
    .optional()
}

pub fn count(conn: &mut PgConnection) -> QueryResult<i64> {
    use super::schema::audit_events::dsl::*;
    audit_events.count().get_result(conn)
}

/// Retention (SPEC §7): deletes events older than `days`. The only deletion the append-only
/// trigger lets through, and only within this transaction.
pub fn purge_older_than(conn: &mut PgConnection, days: i64) -> QueryResult<usize> {
    conn.transaction(|conn| {
        diesel::sql_query("SET LOCAL sandbox_portal.audit_purge = 'on'").execute(conn)?;
        diesel::sql_query(
            "DELETE FROM audit_events WHERE occurred_at < now() - make_interval(days => $1)",
        )
        .bind::<diesel::sql_types::Integer, _>(i32::try_from(days).unwrap_or(i32::MAX))
        .execute(conn)
    })
}

/// What the audit log page, its CSV export and the API filter on.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `None`: every org (support); else only these orgs' events.
    pub orgs: Option<Vec<Uuid>>,
    pub action: Option<String>,
    pub actor: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl Filter {
    /// The filters as a person or a script types them (the page's form, the CSV link, the
    /// API's query string, all with these names), read one way for every interface (R13).
    /// `orgs` is what the caller's role lets them see; `action` is already checked against the
    /// known actions. The error is a message for the person who typed the filter.
    pub fn from_typed(
        orgs: Option<Vec<Uuid>>,
        action: Option<String>,
        user: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Filter, String> {
        let actor = typed(user).map(str::to_owned);
        if actor
            .as_deref()
            .is_some_and(|a| a.chars().any(char::is_control))
        {
            return Err("The user filter cannot contain control characters.".into());
        }
        let from = day("from", from)?;
        let to = day("to", to)?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err("The date range ends before it starts.".into());
        }
        let midnight = |d: chrono::NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        Ok(Filter {
            orgs,
            action,
            actor,
            from: from.and_then(midnight),
            // `to` includes that whole day.
            until: to.and_then(|d| d.succ_opt()).and_then(midnight),
        })
    }
}

/// A filter left empty (or only spaces) is no filter.
fn typed(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty())
}

fn day(field: &str, raw: Option<&str>) -> Result<Option<chrono::NaiveDate>, String> {
    use chrono::Datelike;
    typed(raw)
        .map(|s| {
            let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                format!("The \"{field}\" date must look like 2026-11-28 (year-month-day).")
            })?;
            // Years PostgreSQL and people both understand.
            if (1970..=9999).contains(&d.year()) {
                Ok(d)
            } else {
                Err(format!(
                    "The \"{field}\" date must be in a year from 1970 to 9999."
                ))
            }
        })
        .transpose()
}

/// The rows `f` selects, in no particular order.
fn filtered(f: &Filter) -> audit_events::BoxedQuery<'static, diesel::pg::Pg> {
    use audit_events as a;
    let mut q = a::table.into_boxed();
    match f.orgs.as_deref() {
        // An equality, not `= ANY`: PostgreSQL then reads that org's events already in order
        // from an (org_id, …) index instead of walking every org's events and filtering.
        Some([one]) => q = q.filter(a::org_id.eq(*one)),
        Some(ids) => q = q.filter(a::org_id.eq_any(ids.to_vec())),
        None => {}
    }
    if let Some(action) = &f.action {
        q = q.filter(a::action.eq(action.clone()));
    }
    if let Some(actor) = &f.actor {
        // Usernames are unique without regard to case; so is this filter.
        q = q.filter(super::lower(a::actor).eq(super::lower(actor.clone())));
    }
    if let Some(from) = f.from {
        q = q.filter(a::occurred_at.ge(from));
    }
    if let Some(until) = f.until {
        q = q.filter(a::occurred_at.lt(until));
    }
    q
}

/// One keyset page, newest first, strictly older than `before` (time, id): index-backed at any
/// depth, unlike an offset.
pub fn page(
    conn: &mut PgConnection,
    f: &Filter,
    before: Option<(chrono::DateTime<chrono::Utc>, i64)>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    use audit_events as a;
    let mut q = filtered(f);
    if let Some((t, id)) = before {
        // A row comparison is an index bound; the equivalent OR was a filter, so every page
        // re-read all newer events and a full CSV export was quadratic.
        q = q.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>(
                "(audit_events.occurred_at, audit_events.id) < (",
            )
            .bind::<diesel::sql_types::Timestamptz, _>(t)
            .sql(", ")
            .bind::<diesel::sql_types::BigInt, _>(id)
            .sql(")"),
        );
    }
    q.order((a::occurred_at.desc(), a::id.desc()))
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
}
