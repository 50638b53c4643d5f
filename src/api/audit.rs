//! `/auditLogs` (SPEC §7): org admins and viewers read their org's events, support every org's,
//! with the audit log page's filters (action, user, dates; the org for support).
use super::http::{PAGE_SIZE, QueryParams, json, offset_of, split_page};
use crate::auth::extract::{Authorized, ViewAuditLog, org_id_param};
use crate::db::audit::{self, EventRow, Filter};
use crate::error::{AppError, ErrorBody};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct AuditQuery {
    /// From 1 (the newest events); 50 per page. 0 is a 400.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Only this action, e.g. `REVEAL_TOKEN`.
    pub action: Option<String>,
    /// Only events of this actor: a username (any case), `system` or `cli`.
    pub user: Option<String>,
    /// Only events on or after this UTC day, e.g. `2026-11-01`.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Only events on or before this UTC day (all of it), e.g. `2026-11-30`.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// Support: only this org (default: every org). Others: their own org only.
    #[param(value_type = Option<Uuid>)]
    pub org_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// A username, `system` or `cli`.
    pub actor: String,
    pub actor_role: Option<String>,
    pub org_id: Option<Uuid>,
    pub action: String,
    pub resource_id: Option<Uuid>,
    pub resource_name: Option<String>,
    pub client_ip: Option<String>,
    /// `UI`, `API`, `CLI` or `SYSTEM`.
    pub interface: String,
    /// `SUCCESS` or `FAILURE`.
    pub result: String,
    /// Before/after and the like; never a token value.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<EventRow> for AuditEvent {
    fn from(r: EventRow) -> Self {
        AuditEvent {
            id: r.id,
            occurred_at: r.occurred_at,
            actor: r.actor,
            actor_role: r.actor_role,
            org_id: r.org_id,
            action: r.action,
            resource_id: r.resource_id,
            resource_name: r.resource_name,
            client_ip: r.client_ip,
            interface: r.interface,
            result: r.result,
            details: r.details,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub page: u32,
    pub page_size: i64,
    pub has_more: bool,
    pub events: Vec<AuditEvent>,
}

#[utoipa::path(
    tag = "audit",
    security(("session" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "Events, newest first", body = AuditPage),
        (status = 400, description = "Malformed query, an orgId that is not an organization id, page 0, \
            an unknown action, a malformed date, a range that ends before it starts, or a query \
            parameter not listed here", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "The role may not read the audit log", body = ErrorBody),
        (status = 404, description = "Unknown organization, or one the caller may not see", body = ErrorBody),
    )
)]
#[get("/auditLogs")]
pub async fn list(
    state: web::Data<AppState>,
    auth: Authorized<ViewAuditLog>,
    query: QueryParams<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.read()?;
    let user = &auth.user;
    let wanted = q.org_id.as_deref().map(org_id_param).transpose()?;
    let orgs: Option<Vec<Uuid>> = match wanted {
        Some(id) if user.may_see(id) => Some(vec![id]),
        Some(_) => return Err(AppError::NotFound),
        None if user.role.sees_all_orgs() => None,
        None => Some(user.org_ids.clone()),
    };
    let (page, offset) = offset_of(q.page)?;
    let action = crate::web::audit::checked_action(q.action.as_deref())?;
    let filter = Filter::from_typed(
        orgs,
        action,
        q.user.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
    )
    .map_err(AppError::BadRequest)?;
    let rows = state
        .db(move |c| Ok(audit::list(c, &filter, offset, PAGE_SIZE + 1)?))
        .await?;
    let (rows, has_more) = split_page(rows);
    Ok(json(
        StatusCode::OK,
        &AuditPage {
            page,
            page_size: PAGE_SIZE,
            has_more,
            events: rows.into_iter().map(AuditEvent::from).collect(),
        },
    ))
}
