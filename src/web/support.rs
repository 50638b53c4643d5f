//! Support console (SPEC §5): find and provision organizations, expire or renew their
//! subscription, set limits, and disable or re-enable an org's Sandbox API access (R10) or one
//! token (R7). Support never sees a token value. Plain forms with redirect-after-post, so it
//! works with JavaScript off; every change goes through `service::support`, as the API does.
use super::view::{Chrome, exact, relative};
use super::{html, see_other_with_flash, take_flash};
use crate::auth::extract::{Authorized, DisableTokens, ManageOrgs, object_id};
use crate::db::audit::Actor;
use crate::db::models::Org;
use crate::db::orgs::{self, NewOrg};
use crate::domain::policy::{OrgFacts, SubscriptionStatus};
use crate::domain::token::masked;
use crate::error::AppError;
use crate::service::support::{self, LimitsChange};
use crate::service::tokens::{self as ops, TokenView};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{Duration, Utc};
use serde::Deserialize;
use uuid::Uuid;

const PAGE_SIZE: i64 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/support/orgs", web::get().to(orgs))
        .route("/support/orgs", web::post().to(provision))
        .route("/support/orgs/{id}", web::get().to(org_page))
        .route(
            "/support/orgs/{id}/subscription",
            web::post().to(subscription),
        )
        .route("/support/orgs/{id}/limits", web::post().to(limits))
        .route("/support/orgs/{id}/disable", web::post().to(disable_org))
        .route("/support/orgs/{id}/enable", web::post().to(enable_org))
        .route(
            "/support/orgs/{id}/tokens/{tid}/disable",
            web::post().to(disable_token),
        )
        .route(
            "/support/orgs/{id}/tokens/{tid}/enable",
            web::post().to(enable_token),
        );
}

pub struct OrgRow {
    pub id: Uuid,
    pub name: String,
    pub cloud: String,
    pub subscription: String,
    pub api_disabled: bool,
}

#[derive(Template)]
#[template(path = "support_orgs.html")]
struct OrgsPage {
    chrome: Chrome,
    q: String,
    rows: Vec<OrgRow>,
    next: Option<String>,
    error: Option<String>,
}

pub struct SupportToken {
    pub id: Uuid,
    pub name: String,
    pub masked: String,
    pub status: &'static str,
    pub disabled: bool,
    pub provider_disabled: bool,
    pub reason: Option<String>,
    pub last_used: String,
    pub calls_today: i32,
}

#[derive(Template)]
#[template(path = "support_org.html")]
struct OrgPage {
    chrome: Chrome,
    org: Org,
    subscription: String,
    expired: bool,
    tokens: Vec<SupportToken>,
    calls_today: i32,
    submissions_today: i32,
    error: Option<String>,
    /// The confirmation of the change that led here.
    notice: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    /// Keyset cursor: the last row of the previous page, "name\u{1f}id".
    after: Option<String>,
}

fn subscription_text(org: &Org) -> String {
    let now = Utc::now();
    match (
        SubscriptionStatus::of(org.subscription_expires_at, now),
        org.subscription_expires_at,
    ) {
        (SubscriptionStatus::Active, Some(t)) => format!("Active until {}", exact(&t)),
        (SubscriptionStatus::Expired, Some(t)) => format!("Expired on {}", exact(&t)),
        _ => "No subscription".into(),
    }
}

async fn orgs(
    state: web::Data<AppState>,
    auth: Authorized<ManageOrgs>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.q.clone().unwrap_or_default().trim().to_owned();
    let after = query
        .after
        .as_deref()
        .and_then(|c| c.split_once('\u{1f}'))
        .and_then(|(name, id)| Some((name.to_owned(), Uuid::parse_str(id).ok()?)));
    let prefix = (!q.is_empty()).then(|| q.clone());
    let found = state
        .db(move |c| {
            Ok(orgs::page_after(
                c,
                prefix.as_deref(),
                after.as_ref().map(|(n, id)| (n.as_str(), *id)),
                PAGE_SIZE + 1,
            )?)
        })
        .await?;
    Ok(html(StatusCode::OK, render_orgs(&auth, q, found, None)?))
}

fn render_orgs(
    auth: &Authorized<ManageOrgs>,
    q: String,
    mut found: Vec<Org>,
    error: Option<String>,
) -> Result<String, AppError> {
    let more = found.len() as i64 > PAGE_SIZE;
    found.truncate(PAGE_SIZE as usize);
    let next = if more {
        found.last().map(|o| format!("{}\u{1f}{}", o.name, o.id))
    } else {
        None
    };
    let rows = found
        .iter()
        .map(|o| OrgRow {
            id: o.id,
            name: o.name.clone(),
            cloud: o.cloud.clone(),
            subscription: subscription_text(o),
            api_disabled: o.api_disabled_at.is_some(),
        })
        .collect();
    let page = OrgsPage {
        chrome: Chrome::for_user(&auth.user, "orgs"),
        q,
        rows,
        next: next.map(|n| crate::error::urlencode(&n)),
        error,
    };
    Ok(page.render().map_err(anyhow::Error::from)?)
}

#[derive(Deserialize)]
struct ProvisionForm {
    name: String,
    cloud: Option<String>,
    subscription_days: Option<String>,
    token_limit: Option<String>,
    daily_quota: Option<String>,
    abuse_threshold: Option<String>,
}

/// An optional whole number from a form field; a clear 400 when it is not one.
fn number(field: &str, raw: Option<&str>) -> Result<Option<i64>, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| AppError::BadRequest(format!("{field} must be a whole number."))),
    }
}

fn int(field: &str, raw: Option<&str>) -> Result<Option<i32>, AppError> {
    number(field, raw)?
        .map(|n| {
            i32::try_from(n).map_err(|_| AppError::BadRequest(format!("{field} is too large.")))
        })
        .transpose()
}

async fn provision(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Authorized<ManageOrgs>,
    form: web::Form<ProvisionForm>,
) -> Result<HttpResponse, AppError> {
    let f = form.into_inner();
    let parsed = (|| -> Result<_, AppError> {
        let days = number("Subscription days", f.subscription_days.as_deref())?;
        Ok((
            days,
            int("Token limit", f.token_limit.as_deref())?.unwrap_or(orgs::DEFAULT_TOKEN_LIMIT),
            int("Daily quota", f.daily_quota.as_deref())?.unwrap_or(orgs::DEFAULT_DAILY_QUOTA),
            int("Abuse threshold", f.abuse_threshold.as_deref())?
                .unwrap_or(orgs::DEFAULT_ABUSE_THRESHOLD),
        ))
    })();
    let actor = auth.user.actor();
    let st = state.clone();
    let result = match parsed {
        Ok((days, token_limit, daily_quota, abuse_threshold)) => {
            state
                .db(move |c| {
                    let cloud = f.cloud.as_deref().map(str::trim).filter(|s| !s.is_empty());
                    let new = NewOrg {
                        name: &f.name,
                        cloud: cloud.unwrap_or("zscaler.net"),
                        subscription_expires_at: days.map(|d| Utc::now() + Duration::days(d)),
                        token_limit,
                        daily_quota,
                        abuse_threshold,
                    };
                    crate::service::orgs::provision(c, &st.keys, &actor, &new)
                })
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok((org, _)) => Ok(see_other_with_flash(
            &req,
            &format!("/support/orgs/{}", org.id),
            format!(
                "Organization \"{}\" created with one Sandbox API token.",
                org.name
            ),
        )),
        Err(AppError::BadRequest(msg) | AppError::Conflict(msg)) => {
            let found = state
                .db(|c| Ok(orgs::page_after(c, None, None, PAGE_SIZE + 1)?))
                .await?;
            Ok(html(
                StatusCode::BAD_REQUEST,
                render_orgs(&auth, String::new(), found, Some(msg))?,
            ))
        }
        Err(e) => Err(e),
    }
}

fn support_tokens(facts: &OrgFacts, tokens: &[TokenView]) -> Vec<SupportToken> {
    let now = Utc::now();
    tokens
        .iter()
        .map(|v| {
            let t = &v.token;
            let s = facts.token_state(t.disabled_reason.as_deref());
            SupportToken {
                id: t.id,
                name: t.name.clone(),
                masked: masked(&t.value_hint),
                status: s.status.label(),
                disabled: s.status.is_disabled(),
                provider_disabled: t.disabled_at.is_some(),
                reason: s.reason(),
                last_used: t
                    .last_used_at
                    .map(|u| relative(&u, now))
                    .unwrap_or_else(|| "Never".into()),
                calls_today: v.calls_today,
            }
        })
        .collect()
}

async fn render_org(
    state: &AppState,
    auth: &Authorized<impl crate::auth::extract::Permission>,
    org_id: Uuid,
    error: Option<String>,
    notice: Option<String>,
) -> Result<String, AppError> {
    let (overview, (calls, subs)) = state
        .db(move |c| {
            let overview = ops::overview(c, org_id)?;
            let usage = orgs::usage_on(c, org_id, Utc::now().date_naive())?;
            Ok((overview, usage))
        })
        .await?;
    let page = OrgPage {
        chrome: Chrome::for_user(&auth.user, "orgs"),
        subscription: subscription_text(&overview.org),
        expired: overview.facts.subscription != SubscriptionStatus::Active,
        tokens: support_tokens(&overview.facts, &overview.tokens),
        calls_today: calls,
        submissions_today: subs,
        org: overview.org,
        error,
        notice,
    };
    Ok(page.render().map_err(anyhow::Error::from)?)
}

async fn org_page(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Authorized<ManageOrgs>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let org_id = object_id(&id)?;
    Ok(html(
        StatusCode::OK,
        render_org(&state, &auth, org_id, None, take_flash(&req)).await?,
    ))
}

/// After a support change: back to the org page, which confirms it, or the page again with the
/// message when the input was refused.
async fn after_change<P: crate::auth::extract::Permission, T>(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authorized<P>,
    org_id: Uuid,
    result: Result<T, AppError>,
    done: &str,
) -> Result<HttpResponse, AppError> {
    match result {
        Ok(_) => Ok(see_other_with_flash(
            req,
            &format!("/support/orgs/{org_id}"),
            done.to_owned(),
        )),
        Err(AppError::BadRequest(msg) | AppError::Conflict(msg)) => Ok(html(
            StatusCode::BAD_REQUEST,
            render_org(state, auth, org_id, Some(msg), None).await?,
        )),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct SubscriptionForm {
    /// "expire", "remove", or "renew" (with `days`).
    action: String,
    days: Option<String>,
}

async fn subscription(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Authorized<ManageOrgs>,
    id: web::Path<String>,
    form: web::Form<SubscriptionForm>,
) -> Result<HttpResponse, AppError> {
    let org_id = object_id(&id)?;
    let f = form.into_inner();
    // The new end of the subscription, and how the org page confirms it.
    let change = match f.action.as_str() {
        // A moment in the past: the page and the API then say when it ended.
        "expire" => Ok((
            Some(Utc::now() - Duration::seconds(1)),
            "Subscription ended.".to_owned(),
        )),
        "remove" => Ok((None, "Subscription removed.".to_owned())),
        "renew" => match number("Days", f.days.as_deref()) {
            Ok(Some(d)) if (1..=3650).contains(&d) => Ok((
                Some(Utc::now() + Duration::days(d)),
                format!("Subscription renewed for {d} days."),
            )),
            Ok(_) => Err(AppError::BadRequest("Renew for 1 to 3650 days.".into())),
            Err(e) => Err(e),
        },
        _ => Err(AppError::BadRequest("Unknown subscription action.".into())),
    };
    let actor = auth.user.actor();
    let (result, done) = match change {
        Ok((at, done)) => (
            state
                .db(move |c| support::set_subscription(c, &actor, org_id, at))
                .await,
            done,
        ),
        Err(e) => (Err(e), String::new()),
    };
    after_change(&req, &state, &auth, org_id, result, &done).await
}

#[derive(Deserialize)]
struct LimitsForm {
    token_limit: Option<String>,
    daily_quota: Option<String>,
    abuse_threshold: Option<String>,
}

async fn limits(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Authorized<ManageOrgs>,
    id: web::Path<String>,
    form: web::Form<LimitsForm>,
) -> Result<HttpResponse, AppError> {
    let org_id = object_id(&id)?;
    let f = form.into_inner();
    let change = (|| -> Result<LimitsChange, AppError> {
        Ok(LimitsChange {
            token_limit: int("Token limit", f.token_limit.as_deref())?,
            daily_quota: int("Daily quota", f.daily_quota.as_deref())?,
            abuse_threshold: int("Abuse threshold", f.abuse_threshold.as_deref())?,
        })
    })();
    let actor = auth.user.actor();
    let result = match change {
        Ok(change) => {
            state
                .db(move |c| support::set_limits(c, &actor, org_id, change))
                .await
        }
        Err(e) => Err(e),
    };
    after_change(&req, &state, &auth, org_id, result, "Limits saved.").await
}

#[derive(Deserialize)]
struct ReasonForm {
    reason: Option<String>,
}

async fn disable_org(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Authorized<DisableTokens>,
    id: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, AppError> {
    let org_id = object_id(&id)?;
    let actor: Actor = auth.user.actor();
    let reason = form.into_inner().reason.unwrap_or_default();
    let result = state
        .db(move |c| support::disable_org_api(c, &actor, org_id, &reason))
        .await;
    after_change(
        &req,
        &state,
        &auth,
        org_id,
        result,
        "Sandbox API access disabled for the organization.",
    )
    .await
}

async fn enable_org(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Authorized<DisableTokens>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let org_id = object_id(&id)?;
    let actor = auth.user.actor();
    let result = state
        .db(move |c| support::enable_org_api(c, &actor, org_id))
        .await;
    after_change(
        &req,
        &state,
        &auth,
        org_id,
        result,
        "Sandbox API access enabled again.",
    )
    .await
}

async fn disable_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Authorized<DisableTokens>,
    path: web::Path<(String, String)>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, AppError> {
    let org_id = object_id(&path.0)?;
    let token_id = object_id(&path.1)?;
    let actor = auth.user.actor();
    let reason = form.into_inner().reason.unwrap_or_default();
    let result = state
        .db(move |c| support::disable_token(c, &actor, org_id, token_id, &reason))
        .await;
    after_change(&req, &state, &auth, org_id, result, "Token disabled.").await
}

async fn enable_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Authorized<DisableTokens>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let org_id = object_id(&path.0)?;
    let token_id = object_id(&path.1)?;
    let actor = auth.user.actor();
    let result = state
        .db(move |c| support::enable_token(c, &actor, org_id, token_id))
        .await;
    after_change(&req, &state, &auth, org_id, result, "Token enabled again.").await
}
