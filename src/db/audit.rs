//! Audit events (SPEC §7). Written inside the transaction of the change they describe; the
//! database refuses to update or delete them.
use super::schema::audit_events;
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
            name: "system".into(),
            role: None,
            interface: Interface::System,
            client_ip: None,
        }
    }

    pub fn cli() -> Self {
        Actor {
            user_id: None,
            name: "cli".into(),
            role: None,
            interface: Interface::Cli,
            client_ip: None,
        }
    }
}

pub struct Event<'a> {
    pub org_id: Option<Uuid>,
    pub action: &'a str,
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
            action: event.action,
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

/// Newest first. `orgs`: `None` for every org (support), else only events of these orgs.
pub fn list(
    conn: &mut PgConnection,
    orgs: Option<&[Uuid]>,
    action: Option<&str>,
    offset: i64,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut q = audit_events::table.into_boxed();
    if let Some(ids) = orgs {
        q = q.filter(audit_events::org_id.eq_any(ids.to_vec()));
    }
    if let Some(a) = action {
        q = q.filter(audit_events::action.eq(a.to_owned()));
    }
    q.order((audit_events::occurred_at.desc(), audit_events::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(EventRow::as_select())
        .load(conn)
}
