//! Support console (SPEC §5): find and provision organizations, expire or renew their
//! subscription, set limits, and disable or re-enable an org's Sandbox API access (R10) or one
//! token (R7). Support never sees a token value. Plain forms with redirect-after-post, so it
//! works with JavaScript off; every change goes through `service::support`, as the API does.
use super::view::{Chrome, relative, when};
use super::{PageRoute, Routes, html, see_other_with_flash, take_flash};
use crate::auth::extract::{Authorized, DisableTokens, ManageOrgs, object_id};
use crate::db::audit::Actor;
use crate::db::models::Org;
use crate::db::orgs::{self, NewOrg};
use crate::db::tokens;
use crate::domain::policy::{OrgFacts, SubscriptionStatus};
use crate::domain::token::masked;
use crate::error::{AppError, is_htmx};
use crate::service::orgs::{cloud_name, subscription_days, text_field, validate_limits};
use crate::service::support::{self, LimitsChange, validate_reason};
use crate::service::tokens::{self as ops, TokenView};
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use chrono::{Duration, Utc};
use serde::Deserialize;
use uuid::Uuid;

const PAGE_SIZE: i64 = 50;

pub fn routes(cfg: &mut Routes) {
    cfg.route("/support/orgs", PageRoute::get(orgs))
        .route("/support/orgs", PageRoute::post(provision))
        .route("/support/orgs/{id}", PageRoute::get(org_page))
        .route(
            "/support/orgs/{id}/subscription",
            PageRoute::post(subscription),
        )
        .route("/support/orgs/{id}/limits", PageRoute::post(limits))
        .route("/support/orgs/{id}/disable", PageRoute::post(disable_org))
        .route("/support/orgs/{id}/enable", PageRoute::post(enable_org))
        .route(
            "/support/orgs/{id}/tokens/{tid}/disable",
            PageRoute::post(disable_token),
        )
        .route(
            "/support/orgs/{id}/tokens/{tid}/enable",
            PageRoute::post(enable_token),
        );
}

pub struct OrgRow {
    pub id: Uuid,
    pub name: String,
    pub cloud: String,
    pub subscription: String,
    pub api_disabled: bool,
    pub has_subscription: bool,
}

#[derive(Template)]
#[template(path = "support_orgs.html")]
struct OrgsPage {
    chrome: Chrome,
    q: String,
    rows: Vec<OrgRow>,
    /// Past the first page: a way back to it.
    past_first: bool,
    /// The cursors of the pages around this one, URL-encoded.
    prev: Option<String>,
    next: Option<String>,
    /// Why the provisioning form was refused, each message beside its field.
    errors: FormErrors,
    form: ProvisionForm,
}

#[derive(Template)]
#[template(path = "support_orgs.html", block = "provision")]
struct ProvisionCard {
    chrome: Chrome,
    errors: FormErrors,
    form: ProvisionForm,
}

#[derive(Template)]
#[template(path = "support_org.html", block = "limits")]
struct LimitsCard {
    chrome: Chrome,
    org: Org,
    limits_errors: FormErrors,
    limits: LimitsForm,
}

pub struct SupportToken {
    pub id: Uuid,
    pub name: String,
    pub masked: String,
    /// The last characters of the value, for the masked value's spoken form.
    pub hint: String,
    pub status: &'static str,
    pub disabled: bool,
    pub provider_disabled: bool,
    pub reason: Option<String>,
    pub last_used: String,
    pub calls_today: i32,
    /// Why disabling it was refused, and the reason that was typed, shown again.
    pub error: Option<String>,
    pub typed_reason: String,
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
    /// R10's count: today's calls since the last re-enable.
    threshold_count: i32,
    submissions_today: i32,
    /// A refusal that belongs to no one form.
    error: Option<String>,
    /// The confirmation of the change that led here.
    notice: Option<String>,
    /// Each form's refusal beside it, and what was typed into it, kept.
    renew_error: Option<String>,
    renew_days: String,
    limits_errors: FormErrors,
    limits: LimitsForm,
    access_error: Option<String>,
    org_reason: String,
    /// A destructive change waiting for its confirmation (rendered open without JavaScript).
    dialog: Option<Confirm>,
}

/// The confirmation of a destructive change: the same form again, with its fields carried over
/// and `confirmed=yes` added. It follows the token page's dialog (`_dialog.html`, which
/// `static/app.js` opens as a modal), but carries the typed reason and says the change can be
/// undone by support, which that one cannot.
pub struct Confirm {
    pub title: String,
    pub description: String,
    pub action: String,
    pub fields: Vec<Hidden>,
    pub confirm_label: &'static str,
    pub cancel: String,
}

pub struct Hidden {
    pub name: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "_support_confirm.html")]
struct ConfirmFragment {
    chrome: Chrome,
    dialog: Confirm,
}

/// A form that was refused, its message and what was typed, so the page shows both beside it.
enum Refused {
    Other(String),
    Renew {
        message: String,
        days: String,
    },
    Limits {
        errors: FormErrors,
        typed: LimitsForm,
    },
    OrgAccess {
        message: String,
        reason: String,
    },
    Token {
        id: Uuid,
        message: String,
        reason: String,
    },
}

#[derive(Deserialize)]
struct ListQuery {
    q: Option<String>,
    /// Keyset cursors, "name\u{1f}id": the last row of the page before, for the next page...
    after: Option<String>,
    /// ...or the first row of the page after, for the previous one.
    before: Option<String>,
}

fn parse_cursor(raw: Option<&str>) -> Option<(String, Uuid)> {
    let (name, id) = raw?.split_once('\u{1f}')?;
    Some((name.to_owned(), Uuid::parse_str(id).ok()?))
}

fn cursor_of(org: &Org) -> String {
    crate::error::urlencode(&format!("{}\u{1f}{}", org.name, org.id))
}

/// One page of the org list and the cursors of the pages beside it.
struct Listing {
    rows: Vec<Org>,
    past_first: bool,
    prev: Option<String>,
    next: Option<String>,
}

/// The page after `after`, or before `before`; the first page when neither is given. A page
/// reached backwards that turns out to be the first is the first page exactly, full even if
/// orgs were added or removed meanwhile, so the way back always ends where the list starts.
fn listing(
    c: &mut diesel::PgConnection,
    prefix: Option<&str>,
    after: Option<(String, Uuid)>,
    before: Option<(String, Uuid)>,
) -> diesel::QueryResult<Listing> {
    let size = PAGE_SIZE as usize;
    if let Some((name, id)) = before {
        let mut rows = orgs::page_before(c, prefix, (&name, id), PAGE_SIZE + 1)?;
        if rows.len() > size {
            rows.remove(0);
            return Ok(Listing {
                prev: rows.first().map(cursor_of),
                next: rows.last().map(cursor_of),
                past_first: true,
                rows,
            });
        }
        return listing(c, prefix, None, None);
    }
    let past_first = after.is_some();
    let mut rows = orgs::page_after(
        c,
        prefix,
        after.as_ref().map(|(n, id)| (n.as_str(), *id)),
        PAGE_SIZE + 1,
    )?;
    let more = rows.len() > size;
    rows.truncate(size);
    Ok(Listing {
        prev: if past_first {
            rows.first().map(cursor_of)
        } else {
            None
        },
        next: if more {
            rows.last().map(cursor_of)
        } else {
            None
        },
        past_first,
        rows,
    })
}

fn subscription_text(org: &Org) -> String {
    let now = Utc::now();
    match (
        SubscriptionStatus::of(org.subscription_expires_at, now),
        org.subscription_expires_at,
    ) {
        (SubscriptionStatus::Active, Some(t)) => format!("Active until {}", when(&t)),
        (SubscriptionStatus::Expired, Some(t)) => format!("Expired on {}", when(&t)),
        _ => "No subscription".into(),
    }
}

async fn orgs(
    state: web::Data<AppState>,
    auth: Authorized<ManageOrgs>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let q = query.q.clone().unwrap_or_default().trim().to_owned();
    let after = parse_cursor(query.after.as_deref());
    let before = parse_cursor(query.before.as_deref());
    let prefix = (!q.is_empty()).then(|| q.clone());
    let found = state
        .db(move |c| Ok(listing(c, prefix.as_deref(), after, before)?))
        .await?;
    Ok(html(
        StatusCode::OK,
        render_orgs(
            &auth,
            q,
            found,
            FormErrors::default(),
            ProvisionForm::default(),
        )?,
    ))
}

fn render_orgs(
    auth: &Authorized<ManageOrgs>,
    q: String,
    found: Listing,
    errors: FormErrors,
    form: ProvisionForm,
) -> Result<String, AppError> {
    let rows = found
        .rows
        .iter()
        .map(|o| OrgRow {
            id: o.id,
            name: o.name.clone(),
            cloud: o.cloud.clone(),
            subscription: subscription_text(o),
            api_disabled: o.api_disabled_at.is_some(),
            has_subscription: o.subscription_expires_at.is_some(),
        })
        .collect();
    let page = OrgsPage {
        chrome: Chrome::for_user(&auth.user, "orgs"),
        q,
        rows,
        past_first: found.past_first,
        prev: found.prev,
        next: found.next,
        errors,
        form,
    };
    Ok(page.render().map_err(anyhow::Error::from)?)
}

/// The provisioning form, as typed: also what the page shows again when it is refused.
#[derive(Deserialize, Default)]
struct ProvisionForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    cloud: String,
    #[serde(default)]
    subscription_days: String,
    #[serde(default)]
    token_limit: String,
    #[serde(default)]
    daily_quota: String,
    #[serde(default)]
    abuse_threshold: String,
}

/// A form's refusal: each bad field's message, shown beside it, and a refusal of the form as a
/// whole (of the state it found, say). Every field is checked before any is refused, so one
/// answer names all of them.
#[derive(Default)]
pub struct FormErrors {
    pub form: Option<String>,
    fields: Vec<(&'static str, String)>,
}

impl FormErrors {
    fn whole(message: String) -> Self {
        FormErrors {
            form: Some(message),
            fields: Vec::new(),
        }
    }

    /// The field's value, or `None` after noting why it was refused.
    fn check<T>(&mut self, field: &'static str, checked: Result<T, String>) -> Option<T> {
        checked
            .map_err(|message| self.fields.push((field, message)))
            .ok()
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(f, _)| *f == name)
            .map(|(_, m)| m.as_str())
    }

    pub fn any(&self) -> bool {
        self.form.is_some() || !self.fields.is_empty()
    }

    /// The line above the form, pointing to the fields.
    pub fn summary(&self) -> String {
        match self.fields.len() {
            1 => "Nothing was saved: correct the field marked below.".into(),
            n => format!("Nothing was saved: correct the {n} fields marked below."),
        }
    }
}

/// An optional whole number from a form field, or why it is not one.
fn number(field: &str, raw: &str) -> Result<Option<i64>, String> {
    match raw.trim() {
        "" => Ok(None),
        s => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{field} must be a whole number.")),
    }
}

fn int(field: &str, raw: &str) -> Result<Option<i32>, String> {
    number(field, raw)?
        .map(|n| i32::try_from(n).map_err(|_| format!("{field} is too large.")))
        .transpose()
}

#[derive(Clone, Copy)]
enum Limit {
    Token,
    DailyQuota,
    AbuseThreshold,
}

/// One limit as typed (`None` when left empty), checked on its own against the bounds the
/// service applies to all three (`validate_limits`, which stays the one rule), so that each
/// field can be refused beside itself.
fn limit(which: Limit, raw: &str) -> Result<Option<i32>, String> {
    let label = match which {
        Limit::Token => "Token limit",
        Limit::DailyQuota => "Daily quota",
        Limit::AbuseThreshold => "Abuse threshold",
    };
    let Some(n) = int(label, raw)? else {
        return Ok(None);
    };
    let (t, q, a) = (
        orgs::DEFAULT_TOKEN_LIMIT,
        orgs::DEFAULT_DAILY_QUOTA,
        orgs::DEFAULT_ABUSE_THRESHOLD,
    );
    let checked = match which {
        Limit::Token => validate_limits(n, q, a),
        Limit::DailyQuota => validate_limits(t, n, a),
        Limit::AbuseThreshold => validate_limits(t, q, n),
    };
    checked.map_err(|e| match which {
        Limit::Token => e.message(),
        Limit::DailyQuota | Limit::AbuseThreshold => format!("{label} cannot be negative."),
    })?;
    Ok(Some(n))
}

/// A refusal of input (400) or of the current state (409) is shown on the page; anything else
/// is the error page.
fn is_refusal(e: &AppError) -> bool {
    matches!(e, AppError::BadRequest(_) | AppError::Conflict(_))
}

/// What the provisioning form asks for, every field checked.
struct Provision {
    name: String,
    cloud: String,
    days: Option<Duration>,
    token_limit: i32,
    daily_quota: i32,
    abuse_threshold: i32,
}

fn check_provision(f: &ProvisionForm) -> Result<Provision, FormErrors> {
    let mut errors = FormErrors::default();
    let text = |raw: &str, what: &str| text_field(raw, what).map_err(|e| e.message());
    let name = errors.check("name", text(&f.name, "organization name"));
    let cloud = match f.cloud.trim() {
        "" => Some(orgs::DEFAULT_CLOUD.to_owned()),
        typed => errors.check("cloud", cloud_name(typed).map_err(|e| e.message())),
    };
    let days = errors.check(
        "subscription_days",
        number("Subscription days", &f.subscription_days).and_then(|d| {
            d.map(subscription_days)
                .transpose()
                .map_err(|e| e.message())
        }),
    );
    let token_limit = errors.check("token_limit", limit(Limit::Token, &f.token_limit));
    let daily_quota = errors.check("daily_quota", limit(Limit::DailyQuota, &f.daily_quota));
    let abuse_threshold = errors.check(
        "abuse_threshold",
        limit(Limit::AbuseThreshold, &f.abuse_threshold),
    );
    match (name, cloud, days, token_limit, daily_quota, abuse_threshold) {
        (Some(name), Some(cloud), Some(days), Some(t), Some(q), Some(a)) => Ok(Provision {
            name,
            cloud,
            days,
            token_limit: t.unwrap_or(orgs::DEFAULT_TOKEN_LIMIT),
            daily_quota: q.unwrap_or(orgs::DEFAULT_DAILY_QUOTA),
            abuse_threshold: a.unwrap_or(orgs::DEFAULT_ABUSE_THRESHOLD),
        }),
        _ => Err(errors),
    }
}

async fn provision(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: Authorized<ManageOrgs>,
    form: web::Form<ProvisionForm>,
) -> Result<HttpResponse, AppError> {
    let f = form.into_inner();
    let p = match check_provision(&f) {
        Ok(p) => p,
        Err(errors) => {
            return refuse_provision(&req, &state, &auth, StatusCode::BAD_REQUEST, errors, f).await;
        }
    };
    let actor = auth.user.actor();
    let st = state.clone();
    let result = state
        .db(move |c| {
            let new = NewOrg {
                name: &p.name,
                cloud: &p.cloud,
                subscription_expires_at: p.days.map(|d| Utc::now() + d),
                token_limit: p.token_limit,
                daily_quota: p.daily_quota,
                abuse_threshold: p.abuse_threshold,
            };
            crate::service::orgs::provision(c, &st.keys, &actor, &new)
        })
        .await;
    match result {
        Ok((org, token)) => {
            // R2: only a subscription brings a first token; say which happened.
            let done = match token {
                Some(_) => format!(
                    "Organization \"{}\" created with one Sandbox API token.",
                    org.name
                ),
                None => format!(
                    "Organization \"{}\" created without a Sandbox subscription, so it has no \
                     Sandbox API token yet.",
                    org.name
                ),
            };
            Ok(see_other_with_flash(
                &req,
                &format!("/support/orgs/{}", org.id),
                done,
            ))
        }
        // The one conflict of provisioning: the name is taken.
        Err(e @ AppError::Conflict(_)) => {
            let mut errors = FormErrors::default();
            errors.fields.push(("name", e.message()));
            refuse_provision(&req, &state, &auth, e.status_code(), errors, f).await
        }
        Err(e) if is_refusal(&e) => {
            let errors = FormErrors::whole(e.message());
            refuse_provision(&req, &state, &auth, e.status_code(), errors, f).await
        }
        Err(e) => Err(e),
    }
}

/// The provisioning form again with what was typed and each refusal beside its field: the
/// whole list page, or for htmx only the form's card, put in place of the one on the page.
async fn refuse_provision(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authorized<ManageOrgs>,
    status: StatusCode,
    errors: FormErrors,
    form: ProvisionForm,
) -> Result<HttpResponse, AppError> {
    if is_htmx(req) {
        let card = ProvisionCard {
            chrome: Chrome::for_user(&auth.user, "orgs"),
            errors,
            form,
        }
        .render()
        .map_err(anyhow::Error::from)?;
        return Ok(card_swap(status, "#provision-card", card));
    }
    let found = state.db(|c| Ok(listing(c, None, None, None)?)).await?;
    Ok(html(
        status,
        render_orgs(auth, String::new(), found, errors, form)?,
    ))
}

/// An htmx answer that replaces one card of the page, whatever element sent the request.
fn card_swap(status: StatusCode, target: &str, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("HX-Retarget", target.to_owned()))
        .insert_header(("HX-Reswap", "outerHTML"))
        .body(body)
}

fn support_tokens(
    facts: &OrgFacts,
    tokens: &[TokenView],
    refused: Option<(Uuid, String, String)>,
) -> Vec<SupportToken> {
    let now = Utc::now();
    tokens
        .iter()
        .map(|v| {
            let t = &v.token;
            let s = facts.token_state(t.disabled_reason.as_deref());
            let (error, typed_reason) = match &refused {
                Some((id, message, reason)) if *id == t.id => {
                    (Some(message.clone()), reason.clone())
                }
                _ => (None, String::new()),
            };
            SupportToken {
                id: t.id,
                name: t.name.clone(),
                masked: masked(&t.value_hint),
                hint: t.value_hint.clone(),
                status: s.status.label(),
                disabled: s.status.is_disabled(),
                provider_disabled: t.disabled_at.is_some(),
                reason: s.reason(),
                last_used: t
                    .last_used_at
                    .map(|u| relative(&u, now))
                    .unwrap_or_else(|| "Never".into()),
                calls_today: v.calls_today,
                error,
                typed_reason,
            }
        })
        .collect()
}

async fn render_org(
    state: &AppState,
    auth: &Authorized<impl crate::auth::extract::Permission>,
    org_id: Uuid,
    refused: Option<Refused>,
    notice: Option<String>,
    dialog: Option<Confirm>,
) -> Result<String, AppError> {
    let (overview, (calls, subs), counted) = state
        .db(move |c| {
            let overview = ops::overview(c, org_id)?;
            let today = Utc::now().date_naive();
            let usage = orgs::usage_on(c, org_id, today)?;
            Ok((overview, usage, orgs::threshold_count_on(c, org_id, today)?))
        })
        .await?;
    let org = overview.org;
    let mut page = OrgPage {
        chrome: Chrome::for_user(&auth.user, "orgs"),
        subscription: subscription_text(&org),
        expired: overview.facts.subscription != SubscriptionStatus::Active,
        tokens: Vec::new(),
        calls_today: calls,
        threshold_count: counted,
        submissions_today: subs,
        error: None,
        notice,
        renew_error: None,
        renew_days: "365".into(),
        limits_errors: FormErrors::default(),
        limits: LimitsForm {
            token_limit: org.token_limit.to_string(),
            daily_quota: org.daily_quota.to_string(),
            abuse_threshold: org.abuse_threshold.to_string(),
        },
        access_error: None,
        org_reason: String::new(),
        dialog,
        org,
    };
    let mut token_refused = None;
    match refused {
        None => {}
        Some(Refused::Other(message)) => page.error = Some(message),
        Some(Refused::Renew { message, days }) => {
            page.renew_error = Some(message);
            page.renew_days = days;
        }
        Some(Refused::Limits { errors, typed }) => {
            page.limits_errors = errors;
            page.limits = typed;
        }
        Some(Refused::OrgAccess { message, reason }) => {
            page.access_error = Some(message);
            page.org_reason = reason;
        }
        Some(Refused::Token {
            id,
            message,
            reason,
        }) => token_refused = Some((id, message, reason)),
    }
    page.tokens = support_tokens(&overview.facts, &overview.tokens, token_refused);
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
        render_org(&state, &auth, org_id, None, take_flash(&req), None).await?,
    ))
}

/// A refused change: the org page again, the message beside the form (and the field it is
/// about, focused) with what was typed. An htmx request (the first step of a confirmation)
/// gets the same page's main part in place of the current one, so the message is where the
/// person is looking and says which row it is about, as without JavaScript.
async fn refuse<P: crate::auth::extract::Permission>(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authorized<P>,
    org_id: Uuid,
    e: AppError,
    refused: impl FnOnce(String) -> Refused,
) -> Result<HttpResponse, AppError> {
    if !is_refusal(&e) {
        return Err(e);
    }
    let status = e.status_code();
    let mut res = html(
        status,
        render_org(state, auth, org_id, Some(refused(e.message())), None, None).await?,
    );
    if is_htmx(req) {
        let headers = res.headers_mut();
        for (name, value) in [
            ("hx-retarget", "#main"),
            ("hx-reswap", "outerHTML"),
            ("hx-reselect", "#main"),
        ] {
            headers.insert(
                header::HeaderName::from_static(name),
                header::HeaderValue::from_static(value),
            );
        }
    }
    Ok(res)
}

/// After a support change: back to the org page, which confirms it, or the page again with the
/// message when the input was refused.
async fn after_change<P: crate::auth::extract::Permission, T>(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authorized<P>,
    org_id: Uuid,
    result: Result<T, AppError>,
    done: impl FnOnce(T) -> String,
    refused: impl FnOnce(String) -> Refused,
) -> Result<HttpResponse, AppError> {
    match result {
        Ok(value) => Ok(see_other_with_flash(
            req,
            &format!("/support/orgs/{org_id}"),
            done(value),
        )),
        Err(e) => refuse(req, state, auth, org_id, e, refused).await,
    }
}

/// The first step of a destructive change changes nothing: it asks. htmx puts the dialog into
/// the page's `#modal-root`; without JavaScript it is the org page with the dialog open.
async fn ask<P: crate::auth::extract::Permission>(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authorized<P>,
    org_id: Uuid,
    dialog: Confirm,
) -> Result<HttpResponse, AppError> {
    let body = if is_htmx(req) {
        ConfirmFragment {
            chrome: Chrome::for_user(&auth.user, "orgs"),
            dialog,
        }
        .render()
        .map_err(anyhow::Error::from)?
    } else {
        render_org(state, auth, org_id, None, None, Some(dialog)).await?
    };
    Ok(html(StatusCode::OK, body))
}

/// Only the confirmation dialog's form sends this.
fn is_confirmed(field: Option<&str>) -> bool {
    field == Some("yes")
}

async fn find_org(state: &AppState, org_id: Uuid) -> Result<Org, AppError> {
    state
        .db(move |c| orgs::find(c, org_id)?.ok_or(AppError::NotFound))
        .await
}

#[derive(Deserialize)]
struct SubscriptionForm {
    /// "expire", "remove", or "renew" (with `days`).
    action: String,
    #[serde(default)]
    days: String,
    confirmed: Option<String>,
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
    let actor = auth.user.actor();
    match f.action.as_str() {
        "renew" => {
            // Said as a start when there was none before, not as a renewal.
            let started = find_org(&state, org_id)
                .await?
                .subscription_expires_at
                .is_none();
            let result = match number("Days", &f.days).map_err(AppError::BadRequest) {
                // An empty field is no length at all: refused with the bounds, like zero.
                Ok(d) => {
                    let d = d.unwrap_or(0);
                    let st = state.clone();
                    state
                        .db(move |c| support::renew_subscription(c, &st.keys, &actor, org_id, d))
                        .await
                }
                Err(e) => Err(e),
            };
            let days = f.days;
            after_change(
                &req,
                &state,
                &auth,
                org_id,
                result,
                |org| match org.subscription_expires_at {
                    Some(end) if started => {
                        format!("Subscription started. It runs until {}.", when(&end))
                    }
                    Some(end) => format!("Subscription renewed until {}.", when(&end)),
                    None => "Subscription renewed.".into(),
                },
                |message| Refused::Renew { message, days },
            )
            .await
        }
        action @ ("expire" | "remove") if !is_confirmed(f.confirmed.as_deref()) => {
            let org = find_org(&state, org_id).await?;
            let (title, label) = if action == "expire" {
                (
                    format!("Expire the subscription of \"{}\" now?", org.name),
                    "Expire now",
                )
            } else {
                (
                    format!("Remove the subscription of \"{}\"?", org.name),
                    "Remove",
                )
            };
            let dialog = Confirm {
                title,
                description: "Its Sandbox API tokens stop working at once and its admins can no \
                              longer change them. The tokens are kept: renewing the \
                              subscription makes the same values work again."
                    .into(),
                action: format!("/support/orgs/{org_id}/subscription"),
                fields: vec![Hidden {
                    name: "action",
                    value: action.to_owned(),
                }],
                confirm_label: label,
                cancel: format!("/support/orgs/{org_id}"),
            };
            ask(&req, &state, &auth, org_id, dialog).await
        }
        action @ ("expire" | "remove") => {
            // A moment in the past: the page and the API then say when it ended.
            let (at, done) = if action == "expire" {
                (
                    Some(Utc::now() - Duration::seconds(1)),
                    "Subscription ended.",
                )
            } else {
                (None, "Subscription removed.")
            };
            let st = state.clone();
            let result = state
                .db(move |c| support::set_subscription(c, &st.keys, &actor, org_id, at))
                .await;
            after_change(
                &req,
                &state,
                &auth,
                org_id,
                result,
                |_| done.to_owned(),
                Refused::Other,
            )
            .await
        }
        _ => {
            refuse(
                &req,
                &state,
                &auth,
                org_id,
                AppError::BadRequest("Unknown subscription action.".into()),
                Refused::Other,
            )
            .await
        }
    }
}

/// The limits form, as typed: also what the page shows again when it is refused.
#[derive(Deserialize, Default)]
struct LimitsForm {
    #[serde(default)]
    token_limit: String,
    #[serde(default)]
    daily_quota: String,
    #[serde(default)]
    abuse_threshold: String,
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
    let mut errors = FormErrors::default();
    let token_limit = errors.check("token_limit", limit(Limit::Token, &f.token_limit));
    let daily_quota = errors.check("daily_quota", limit(Limit::DailyQuota, &f.daily_quota));
    let abuse_threshold = errors.check(
        "abuse_threshold",
        limit(Limit::AbuseThreshold, &f.abuse_threshold),
    );
    let (Some(token_limit), Some(daily_quota), Some(abuse_threshold)) =
        (token_limit, daily_quota, abuse_threshold)
    else {
        return refuse_limits(
            &req,
            &state,
            &auth,
            org_id,
            StatusCode::BAD_REQUEST,
            errors,
            f,
        )
        .await;
    };
    let change = LimitsChange {
        token_limit,
        daily_quota,
        abuse_threshold,
    };
    let actor = auth.user.actor();
    let result = state
        .db(move |c| support::set_limits(c, &actor, org_id, change))
        .await;
    match result {
        Ok(support::LimitsSet {
            org,
            token_count: count,
            changed,
        }) => {
            // Accepted (support may mean it, R4 keeps Add refused), but never silently.
            let done = if !changed {
                "Nothing changed: the organization already has these limits.".into()
            } else if count > i64::from(org.token_limit) {
                format!(
                    "Limits saved. The organization has {count} tokens, above the new limit of \
                     {limit}: it cannot add tokens until it has fewer than {limit}.",
                    limit = org.token_limit
                )
            } else {
                "Limits saved.".into()
            };
            Ok(see_other_with_flash(
                &req,
                &format!("/support/orgs/{org_id}"),
                done,
            ))
        }
        Err(e) if is_refusal(&e) => {
            let errors = FormErrors::whole(e.message());
            refuse_limits(&req, &state, &auth, org_id, e.status_code(), errors, f).await
        }
        Err(e) => Err(e),
    }
}

/// The limits form again with what was typed and each refusal beside its field: the org page,
/// or for htmx only the form's card, put in place of the one on the page.
async fn refuse_limits(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authorized<ManageOrgs>,
    org_id: Uuid,
    status: StatusCode,
    errors: FormErrors,
    typed: LimitsForm,
) -> Result<HttpResponse, AppError> {
    if is_htmx(req) {
        let card = LimitsCard {
            chrome: Chrome::for_user(&auth.user, "orgs"),
            org: find_org(state, org_id).await?,
            limits_errors: errors,
            limits: typed,
        }
        .render()
        .map_err(anyhow::Error::from)?;
        return Ok(card_swap(status, "#limits-card", card));
    }
    let refused = Refused::Limits { errors, typed };
    Ok(html(
        status,
        render_org(state, auth, org_id, Some(refused), None, None).await?,
    ))
}

#[derive(Deserialize)]
struct ReasonForm {
    #[serde(default)]
    reason: String,
    confirmed: Option<String>,
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
    let f = form.into_inner();
    let typed = f.reason.clone();
    let refused = |message| Refused::OrgAccess {
        message,
        reason: typed,
    };
    if !is_confirmed(f.confirmed.as_deref()) {
        // Asked only when the change would be made: no dead-end confirmation.
        let checked = match validate_reason(&f.reason) {
            Ok(reason) => find_org(&state, org_id)
                .await
                .and_then(|org| support::may_disable_org(&org).map(|()| (org, reason))),
            Err(e) => Err(e),
        };
        return match checked {
            Ok((org, reason)) => {
                let dialog = Confirm {
                    title: format!("Disable Sandbox API access for \"{}\"?", org.name),
                    description: format!(
                        "Every token of the organization stops working at once and shows \
                         Disabled, with the reason \"{reason}\". Only support can enable \
                         it again."
                    ),
                    action: format!("/support/orgs/{org_id}/disable"),
                    fields: vec![Hidden {
                        name: "reason",
                        value: reason,
                    }],
                    confirm_label: "Disable",
                    cancel: format!("/support/orgs/{org_id}"),
                };
                ask(&req, &state, &auth, org_id, dialog).await
            }
            Err(e) => refuse(&req, &state, &auth, org_id, e, refused).await,
        };
    }
    let reason = f.reason;
    let result = state
        .db(move |c| support::disable_org_api(c, &actor, org_id, &reason))
        .await;
    after_change(
        &req,
        &state,
        &auth,
        org_id,
        result,
        |_| "Sandbox API access disabled for the organization.".into(),
        refused,
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
        |_| "Sandbox API access enabled again.".into(),
        Refused::Other,
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
    let f = form.into_inner();
    let typed = f.reason.clone();
    let refused = |message| Refused::Token {
        id: token_id,
        message,
        reason: typed,
    };
    if !is_confirmed(f.confirmed.as_deref()) {
        // Asked only when the change would be made: no dead-end confirmation.
        let checked = match validate_reason(&f.reason) {
            Ok(reason) => {
                state
                    .db(move |c| {
                        let token = tokens::find(c, org_id, token_id)?.ok_or(AppError::NotFound)?;
                        support::may_disable_token(&token)?;
                        Ok((token, reason))
                    })
                    .await
            }
            Err(e) => Err(e),
        };
        return match checked {
            Ok((token, reason)) => {
                let dialog = Confirm {
                    title: format!("Disable token \"{}\"?", token.name),
                    description: format!(
                        "The token stops working at once and shows Disabled, with the reason \
                         \"{reason}\"; while it is disabled its organization cannot add \
                         tokens. Only support can enable it again."
                    ),
                    action: format!("/support/orgs/{org_id}/tokens/{token_id}/disable"),
                    fields: vec![Hidden {
                        name: "reason",
                        value: reason,
                    }],
                    confirm_label: "Disable",
                    cancel: format!("/support/orgs/{org_id}"),
                };
                ask(&req, &state, &auth, org_id, dialog).await
            }
            Err(e) => refuse(&req, &state, &auth, org_id, e, refused).await,
        };
    }
    let reason = f.reason;
    let result = state
        .db(move |c| support::disable_token(c, &actor, org_id, token_id, &reason))
        .await;
    after_change(
        &req,
        &state,
        &auth,
        org_id,
        result,
        |_| "Token disabled.".into(),
        refused,
    )
    .await
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
    after_change(
        &req,
        &state,
        &auth,
        org_id,
        result,
        |_| "Token enabled again.".into(),
        Refused::Other,
    )
    .await
}
