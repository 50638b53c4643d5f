//! Audit log (SPEC §5, §7): org admins and viewers see their org's events, support every org's.
//! Filters by action, user and date range; keyset pagination; CSV export streamed page by page.
use super::view::{Chrome, iso, when_exact};
use super::{PageRoute, Routes, html};
use crate::auth::extract::{Authorized, ViewAuditLog};
use crate::db::audit::{self, EventRow, Filter};
use crate::db::orgs;
use crate::domain::audit::AuditAction;
use crate::error::AppError;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;
use uuid::Uuid;

const PAGE_SIZE: i64 = 50;
const CSV_CHUNK: i64 = 1000;

pub fn routes(cfg: &mut Routes) {
    cfg.route("/admin/audit-log", PageRoute::get(page))
        .route("/admin/audit-log.csv", PageRoute::get(csv_export));
}

#[derive(Deserialize, Default)]
struct Query {
    action: Option<String>,
    user: Option<String>,
    from: Option<String>,
    to: Option<String>,
    org: Option<String>,
    /// Keyset cursor: microseconds since the epoch and id of the last row shown.
    before: Option<String>,
}

pub struct Row {
    pub time: String,
    pub time_iso: String,
    pub actor: String,
    pub role: String,
    pub org: String,
    /// Shown instead of the id when known (to those who see every org).
    pub org_name: Option<String>,
    /// The stored code, kept beside the label: it is what the CSV, the API and `?action=` use.
    pub action: String,
    /// None for a code this version does not know (a row written by a newer one): the code
    /// alone is shown then.
    pub action_label: Option<&'static str>,
    pub resource: String,
    pub interface: String,
    pub result: String,
    pub ip: String,
    /// The details object as (key, value) pairs, for reading; the CSV keeps the JSON.
    pub details: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "audit_log.html")]
struct Page {
    chrome: Chrome,
    actions: &'static [AuditAction],
    action: String,
    user: String,
    from: String,
    to: String,
    org: String,
    all_orgs: bool,
    rows: Vec<Row>,
    filters_q: String,
    next: Option<String>,
    /// Not the first page: a way back to the newest events.
    paged: bool,
    /// A filter that could not be used: said next to the form, which keeps what was typed.
    error: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The action filter of the page and of the API: an action's code (never its label), or none.
pub fn checked_action(raw: Option<&str>) -> Result<Option<String>, AppError> {
    match raw.map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(None),
        Some(a) if AuditAction::from_code(a).is_some() => Ok(Some(a.to_owned())),
        Some(a) => Err(AppError::BadRequest(format!(
            "Unknown action \"{}\".",
            super::view::as_typed(a)
        ))),
    }
}

/// The filter the caller may have: their own orgs, or any org (or one, by id or by its name)
/// for support.
async fn filter_for(
    state: &AppState,
    auth: &Authorized<ViewAuditLog>,
    q: &Query,
) -> Result<Filter, AppError> {
    let orgs = if auth.user.role.sees_all_orgs() {
        match non_empty(&q.org) {
            Some(o) => Some(vec![match Uuid::parse_str(&o) {
                Ok(id) => id,
                Err(_) => org_named(state, o).await?,
            }]),
            None => None,
        }
    } else {
        Some(auth.user.org_ids.clone())
    };
    let action = checked_action(q.action.as_deref())?;
    Filter::from_typed(
        orgs,
        action,
        q.user.as_deref(),
        q.from.as_deref(),
        q.to.as_deref(),
    )
    .map_err(AppError::BadRequest)
}

async fn org_named(state: &AppState, name: String) -> Result<Uuid, AppError> {
    if name.contains('\0') {
        return Err(AppError::BadRequest(
            "The organization filter cannot contain control characters.".into(),
        ));
    }
    state
        .db(move |c| {
            crate::db::orgs::find_by_name(c, &name)?
                .map(|o| o.id)
                .ok_or_else(|| {
                    AppError::BadRequest(format!(
                        "There is no organization named \"{}\": give its full name or its id.",
                        super::view::as_typed(&name)
                    ))
                })
        })
        .await
}

fn cursor(raw: &Option<String>) -> Result<Option<(DateTime<Utc>, i64)>, AppError> {
    let Some(raw) = non_empty(raw) else {
        return Ok(None);
    };
    let bad = || AppError::BadRequest("The page link is malformed.".into());
    let (micros, id) = raw.split_once('_').ok_or_else(bad)?;
    let t = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?)
        // The years `date` accepts; PostgreSQL refuses some that chrono takes.
        .filter(|t| (1970..=9999).contains(&t.year()))
        .ok_or_else(bad)?;
    Ok(Some((t, id.parse().map_err(|_| bad())?)))
}

fn row(e: &EventRow, org_name: Option<String>) -> Row {
    Row {
        time: when_exact(&e.occurred_at),
        time_iso: iso(&e.occurred_at),
        actor: e.actor.clone(),
        role: e.actor_role.clone().unwrap_or_default(),
        org: e.org_id.map(|o| o.to_string()).unwrap_or_default(),
        org_name,
        action: e.action.clone(),
        action_label: AuditAction::from_code(&e.action).map(AuditAction::label),
        resource: e.resource_name.clone().unwrap_or_default(),
        interface: e.interface.clone(),
        result: e.result.clone(),
        ip: e.client_ip.clone().unwrap_or_default(),
        details: readable(&e.details),
    }
}

/// `{"name":"bot5","via":"copy"}` reads as `name bot5 · via copy`, strings without their quotes;
/// a change (`before` and `after` objects) reads as `reason none → Abuse report 42`, one pair
/// per field. Anything that is not an object is shown whole.
fn readable(details: &serde_json::Value) -> Vec<(String, String)> {
    use serde_json::Value;
    fn text(v: Option<&Value>) -> String {
        match v {
            None | Some(Value::Null) => "none".into(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }
    }
    let Some(o) = details.as_object() else {
        return if details.is_null() {
            Vec::new()
        } else {
            vec![(String::new(), details.to_string())]
        };
    };
    let (was, is) = (o.get("before"), o.get("after"));
    let change = match (was, is) {
        (Some(Value::Object(before)), Some(Value::Object(after))) => Some((before, after)),
        _ => None,
    };
    // A change of one value (a rename: `{"before":"a","after":"b"}`) reads `a → b`, in that
    // order whatever order the keys are stored in.
    let single = change.is_none() && was.is_some() && is.is_some();
    let mut out = Vec::new();
    if single {
        out.push((String::new(), format!("{} → {}", text(was), text(is))));
    }
    if let Some((before, after)) = change {
        for key in before
            .keys()
            .chain(after.keys().filter(|k| !before.contains_key(*k)))
        {
            let (old, new) = (text(before.get(key)), text(after.get(key)));
            out.push((
                key.clone(),
                if old == new {
                    new
                } else {
                    format!("{old} → {new}")
                },
            ));
        }
    }
    for (k, v) in o {
        if (change.is_none() && !single) || (k != "before" && k != "after") {
            out.push((k.clone(), text(Some(v))));
        }
    }
    out
}

fn filters_query(q: &Query) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("action", &q.action),
        ("user", &q.user),
        ("from", &q.from),
        ("to", &q.to),
        ("org", &q.org),
    ] {
        if let Some(v) = non_empty(v) {
            ser.append_pair(k, &v);
        }
    }
    ser.finish()
}

async fn page(
    state: web::Data<AppState>,
    auth: Authorized<ViewAuditLog>,
    query: web::Query<Query>,
) -> Result<HttpResponse, AppError> {
    let q = query.into_inner();
    let all_orgs = auth.user.role.sees_all_orgs();
    let filtered = filter_for(&state, &auth, &q).await;
    let (filter, before) = match filtered.and_then(|f| Ok((f, cursor(&q.before)?))) {
        Ok(ok) => ok,
        Err(AppError::BadRequest(message)) => {
            let body = render(&auth, &q, all_orgs, Vec::new(), None, Some(message))?;
            return Ok(html(StatusCode::BAD_REQUEST, body));
        }
        Err(e) => return Err(e),
    };
    let (mut events, names) = state
        .db(move |c| {
            let events = audit::page(c, &filter, before, PAGE_SIZE + 1)?;
            // Those who see every org read names, not ids (one query for the page).
            let mut names = std::collections::HashMap::new();
            if all_orgs {
                let mut ids: Vec<Uuid> = events.iter().filter_map(|e| e.org_id).collect();
                ids.sort_unstable();
                ids.dedup();
                names.extend(orgs::by_ids(c, &ids)?.into_iter().map(|o| (o.id, o.name)));
            }
            Ok((events, names))
        })
        .await?;
    let more = events.len() as i64 > PAGE_SIZE;
    events.truncate(PAGE_SIZE as usize);
    let next = match (more, events.last()) {
        (true, Some(last)) => Some(format!(
            "{}_{}",
            last.occurred_at.timestamp_micros(),
            last.id
        )),
        _ => None,
    };
    let rows = events
        .iter()
        .map(|e| row(e, e.org_id.and_then(|id| names.get(&id).cloned())))
        .collect();
    let body = render(&auth, &q, all_orgs, rows, next, None)?;
    Ok(html(StatusCode::OK, body))
}

fn render(
    auth: &Authorized<ViewAuditLog>,
    q: &Query,
    all_orgs: bool,
    rows: Vec<Row>,
    next: Option<String>,
    error: Option<String>,
) -> Result<String, AppError> {
    Ok(Page {
        chrome: Chrome::for_user(&auth.user, "audit"),
        actions: &AuditAction::ALL,
        action: non_empty(&q.action).unwrap_or_default(),
        user: non_empty(&q.user).unwrap_or_default(),
        from: non_empty(&q.from).unwrap_or_default(),
        to: non_empty(&q.to).unwrap_or_default(),
        org: non_empty(&q.org).unwrap_or_default(),
        all_orgs,
        rows,
        filters_q: filters_query(q),
        next,
        paged: non_empty(&q.before).is_some(),
        error,
    }
    .render()
    .map_err(anyhow::Error::from)?)
}

/// The whole filtered log as CSV, fetched and sent a page at a time so memory stays flat.
async fn csv_export(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Authorized<ViewAuditLog>,
    query: web::Query<Query>,
) -> Result<HttpResponse, AppError> {
    let filter = filter_for(&state, &auth, &query).await?;
    let mut res = HttpResponse::Ok();
    res.content_type("text/csv; charset=utf-8").insert_header((
        header::CONTENT_DISPOSITION,
        "attachment; filename=\"audit-log.csv\"",
    ));
    // actix would read the whole export to throw it away.
    if crate::startup::asked_with_head(&req) {
        return Ok(res.streaming(futures_util::stream::empty::<
            Result<web::Bytes, actix_web::Error>,
        >()));
    }
    let header_row = csv_bytes(&[
        "time",
        "actor",
        "role",
        "org",
        "action",
        "resource_id",
        "resource_name",
        "interface",
        "result",
        "client_ip",
        "details",
    ])?;
    let state = state.into_inner();
    let pages = futures_util::stream::unfold(
        (Some(None::<(DateTime<Utc>, i64)>), filter),
        move |(cursor, filter)| {
            let state = state.clone();
            async move {
                let before = cursor?;
                let f = filter.clone();
                let fetched = state
                    .db(move |c| Ok(audit::page(c, &f, before, CSV_CHUNK)?))
                    .await;
                let events = match fetched {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::error!(error = %e, "audit CSV export stopped");
                        return Some((
                            Err(actix_web::error::ErrorInternalServerError("export failed")),
                            (None, filter),
                        ));
                    }
                };
                let next = (events.len() as i64 == CSV_CHUNK)
                    .then(|| events.last().map(|l| (l.occurred_at, l.id)));
                let mut chunk = Vec::new();
                for e in &events {
                    match csv_event(e) {
                        Ok(bytes) => chunk.extend_from_slice(&bytes),
                        Err(err) => {
                            return Some((
                                Err(actix_web::error::ErrorInternalServerError(err.to_string())),
                                (None, filter),
                            ));
                        }
                    }
                }
                if events.is_empty() {
                    return None;
                }
                Some((Ok(web::Bytes::from(chunk)), (next, filter)))
            }
        },
    );
    let body =
        futures_util::stream::once(async move { Ok(web::Bytes::from(header_row)) }).chain(pages);
    Ok(res.streaming(body))
}

use futures_util::StreamExt;

fn csv_bytes(fields: &[&str]) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(fields).map_err(anyhow::Error::from)?;
    w.into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))
}

/// Spreadsheets run a cell that starts with = + - @ as a formula; audit text is partly typed by
/// strangers (the username of a failed login), so such cells get a leading apostrophe (OWASP).
fn cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

fn csv_event(e: &EventRow) -> Result<Vec<u8>, AppError> {
    let resource_id = e.resource_id.map(|r| r.to_string()).unwrap_or_default();
    let org = e.org_id.map(|o| o.to_string()).unwrap_or_default();
    let time = iso(&e.occurred_at);
    let details = e.details.to_string();
    csv_bytes(&[
        &time,
        &cell(&e.actor),
        e.actor_role.as_deref().unwrap_or(""),
        &org,
        &e.action,
        &resource_id,
        &cell(e.resource_name.as_deref().unwrap_or("")),
        &e.interface,
        &e.result,
        e.client_ip.as_deref().unwrap_or(""),
        &cell(&details),
    ])
}

#[cfg(test)]
mod tests {
    use super::readable;
    use serde_json::json;

    fn pairs(v: serde_json::Value) -> Vec<(String, String)> {
        readable(&v)
    }

    #[test]
    fn details_read_as_keys_and_values_and_changes_as_before_and_after() {
        assert_eq!(
            pairs(json!({"name": "bot5", "via": "copy", "n": 3})),
            [("n", "3"), ("name", "bot5"), ("via", "copy")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(
            pairs(json!({
                "before": {"disabled": false, "reason": null},
                "after": {"disabled": true, "reason": "Abuse report 42"},
                "ticket": "T-1"
            })),
            [
                ("disabled", "false → true"),
                ("reason", "none → Abuse report 42"),
                ("ticket", "T-1")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        // A rename: one value before and after, in that order.
        assert_eq!(
            pairs(json!({"after": "Prod", "before": "Token 2"})),
            [(String::new(), "Token 2 → Prod".to_owned())]
        );
        assert!(pairs(json!({})).is_empty());
        assert!(pairs(serde_json::Value::Null).is_empty());
        assert_eq!(pairs(json!([1, 2])), [(String::new(), "[1,2]".to_owned())]);
    }
}
