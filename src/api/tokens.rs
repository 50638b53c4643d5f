//! `/sandboxApiTokens` and the quota report: the token page as JSON (R1, R3–R9, R11, R12).
use super::http::{Body, OrgQuery, QueryParams, json, secret_json};
use crate::auth::extract::{Manage, OrgScope, Reveal, View, object_id};
use crate::db::models::Org;
use crate::db::{orgs, tokens as token_rows};
use crate::domain::policy::{OrgFacts, SubscriptionStatus};
use crate::domain::token::masked;
use crate::error::{AppError, ErrorBody};
use crate::service::change_and_answer;
use crate::service::tokens::{self as ops, Overview, TokenView};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, delete, get, post, put, web};
use chrono::{DateTime, NaiveTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenStatusDto {
    Enabled,
    Disabled,
}

/// A token as listed: never its value (R3).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenObject {
    pub id: Uuid,
    pub name: String,
    #[schema(example = "sbx_••••••••••••Ab3x")]
    pub masked_token: String,
    /// `DISABLED` when support disabled the token or the org's Sandbox API access, or the
    /// subscription is not active (R7, R8, R10).
    pub status: TokenStatusDto,
    pub disabled_reason: Option<String>,
    pub last_modified_by: String,
    pub last_modified_on: DateTime<Utc>,
    /// `null`: never used.
    pub last_used_on: Option<DateTime<Utc>>,
    pub calls_today: i32,
    pub created_on: DateTime<Utc>,
}

impl TokenObject {
    pub fn new(view: &TokenView, facts: &OrgFacts) -> Self {
        let t = &view.token;
        let state = facts.token_state(t.disabled_reason.as_deref());
        TokenObject {
            id: t.id,
            name: t.name.clone(),
            masked_token: masked(&t.value_hint),
            status: if state.status.is_disabled() {
                TokenStatusDto::Disabled
            } else {
                TokenStatusDto::Enabled
            },
            disabled_reason: state.reason(),
            last_modified_by: t.last_modified_by.clone(),
            last_modified_on: t.last_modified_at,
            last_used_on: t.last_used_at,
            calls_today: view.calls_today,
            created_on: t.created_at,
        }
    }
}

/// A token with its value: only in the answers to add and regenerate, sent once.
#[derive(Serialize, ToSchema)]
pub struct TokenWithValue {
    #[serde(flatten)]
    pub object: TokenObject,
    /// The token value.
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenValueDto {
    /// The token value.
    pub token: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionStatusDto {
    Active,
    Expired,
    /// The org has no Sandbox subscription.
    None,
}

impl From<SubscriptionStatus> for SubscriptionStatusDto {
    fn from(s: SubscriptionStatus) -> Self {
        match s {
            SubscriptionStatus::Active => SubscriptionStatusDto::Active,
            SubscriptionStatus::Expired => SubscriptionStatusDto::Expired,
            SubscriptionStatus::None => SubscriptionStatusDto::None,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub status: SubscriptionStatusDto,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Subscription {
    pub fn of(org: &Org) -> Self {
        Subscription {
            status: SubscriptionStatus::of(org.subscription_expires_at, Utc::now()).into(),
            expires_at: org.subscription_expires_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenList {
    /// Base URL of the Sandbox Submission API (R1).
    pub base_url: String,
    pub token_limit: i32,
    pub subscription: Subscription,
    pub tokens: Vec<TokenObject>,
}

#[derive(Deserialize, Default, ToSchema)]
pub struct AddRequest {
    /// 1–10 characters, trimmed, unique within the org (R9), as for a rename; without it the
    /// token is called "Token N".
    #[schema(min_length = 1, max_length = 10)]
    pub name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct RenameRequest {
    /// 1–10 characters, trimmed, unique within the org (R9).
    #[schema(min_length = 1, max_length = 10)]
    pub name: String,
}

async fn overview(state: &AppState, org_id: Uuid) -> Result<Overview, AppError> {
    state.db(move |c| ops::overview(c, org_id)).await
}

/// One token as listed; read in the transaction of the change that produced it
/// (`service::change_and_answer`).
pub fn object_of(
    conn: &mut PgConnection,
    org_id: Uuid,
    token_id: Uuid,
) -> Result<TokenObject, AppError> {
    let o = ops::overview(conn, org_id)?;
    o.tokens
        .iter()
        .find(|v| v.token.id == token_id)
        .map(|v| TokenObject::new(v, &o.facts))
        .ok_or(AppError::NotFound)
}

#[utoipa::path(
    tag = "tokens",
    params(OrgQuery),
    security(("session" = [])),
    responses(
        (status = 200, description = "The org's tokens, masked", body = TokenList),
        (status = 400, description = "No ?orgId= from a user who can see several organizations (\"name one with ?orgId=\"), a malformed one, or a query parameter not listed here", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 404, description = "Unknown organization, or one the caller may not see", body = ErrorBody),
    )
)]
#[get("/sandboxApiTokens")]
pub async fn list(
    state: web::Data<AppState>,
    scope: OrgScope<View>,
    query: QueryParams<OrgQuery>,
) -> Result<HttpResponse, AppError> {
    // `scope` has read the org; this refuses what else the query holds.
    query.read()?;
    let o = overview(&state, scope.org.id).await?;
    let body = TokenList {
        base_url: state.base_url.clone(),
        token_limit: o.org.token_limit,
        subscription: Subscription::of(&o.org),
        tokens: o
            .tokens
            .iter()
            .map(|v| TokenObject::new(v, &o.facts))
            .collect(),
    };
    Ok(json(StatusCode::OK, &body))
}

#[utoipa::path(
    tag = "tokens",
    params(OrgQuery),
    request_body(content = AddRequest, description = "May be left out"),
    security(("session" = [])),
    responses(
        (status = 201, description = "Added; the value is in this response only", body = TokenWithValue),
        (status = 400, description = "Bad name or malformed body; or no ?orgId= from a user who can see several organizations (\"name one with ?orgId=\"), or a malformed one", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "FORBIDDEN (role, or a cross-site request), SUBSCRIPTION_EXPIRED (R8) or TOKEN_DISABLED (R7, R10)", body = ErrorBody),
        (status = 404, description = "Unknown organization, or one the caller may not see", body = ErrorBody),
        (status = 409, description = "TOKEN_LIMIT_REACHED (R4), or the name is taken", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
    )
)]
#[post("/sandboxApiTokens")]
pub async fn add(
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    body: Body<AddRequest>,
    query: QueryParams<OrgQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let actor = scope.user.actor();
    let org_id = scope.org.id;
    let st = state.clone();
    // A name given is held to R9 (a blank one too); one left out gets the default name.
    let name = body.or_default()?.name;
    let ((_, value), object) = state
        .db(move |c| {
            change_and_answer(
                c,
                |c| ops::add(c, &st.keys, &actor, org_id, name.as_deref()),
                |c, (token, _)| object_of(c, org_id, token.id),
            )
        })
        .await?;
    Ok(secret_json(
        StatusCode::CREATED,
        &TokenWithValue {
            object,
            token: value.expose().to_owned(),
        },
    ))
}

#[utoipa::path(
    tag = "tokens",
    params(("id" = Uuid, Path, description = "Token id"), OrgQuery),
    security(("session" = [])),
    responses(
        (status = 200, description = "The value; audited (R3)", body = TokenValueDto),
        (status = 400, description = "No ?orgId= from a user who can see several organizations (\"name one with ?orgId=\"), or a malformed one", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "FORBIDDEN (role, or a cross-site request) or SUBSCRIPTION_EXPIRED (R8)", body = ErrorBody),
        (status = 404, description = "Unknown organization or token, or another org's", body = ErrorBody),
    )
)]
#[post("/sandboxApiTokens/{id}/reveal")]
pub async fn reveal(
    state: web::Data<AppState>,
    scope: OrgScope<Reveal>,
    id: web::Path<String>,
    query: QueryParams<OrgQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let id = object_id(&id)?;
    let actor = scope.user.actor();
    let org_id = scope.org.id;
    let st = state.clone();
    let (_, value) = state
        .db(move |c| ops::reveal(c, &st.keys, &actor, org_id, id, "api"))
        .await?;
    Ok(secret_json(
        StatusCode::OK,
        &TokenValueDto {
            token: value.expose().to_owned(),
        },
    ))
}

#[utoipa::path(
    tag = "tokens",
    params(("id" = Uuid, Path, description = "Token id"), OrgQuery),
    request_body = RenameRequest,
    security(("session" = [])),
    responses(
        (status = 200, description = "Renamed (R9)", body = TokenObject),
        (status = 400, description = "Bad name or malformed body; or no ?orgId= from a user who can see several organizations (\"name one with ?orgId=\"), or a malformed one", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "FORBIDDEN (role, or a cross-site request) or SUBSCRIPTION_EXPIRED (R8)", body = ErrorBody),
        (status = 404, description = "Unknown organization or token, or another org's", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
    )
)]
#[put("/sandboxApiTokens/{id}")]
pub async fn rename(
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    id: web::Path<String>,
    body: Body<RenameRequest>,
    query: QueryParams<OrgQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let id = object_id(&id)?;
    let actor = scope.user.actor();
    let org_id = scope.org.id;
    let name = body.required()?.name;
    let (_, object) = state
        .db(move |c| {
            change_and_answer(
                c,
                |c| ops::rename(c, &actor, org_id, id, &name),
                |c, _| object_of(c, org_id, id),
            )
        })
        .await?;
    Ok(json(StatusCode::OK, &object))
}

#[utoipa::path(
    tag = "tokens",
    params(("id" = Uuid, Path, description = "Token id"), OrgQuery),
    security(("session" = [])),
    responses(
        (status = 200, description = "A new value replaced the old one, which stops working at once (R5)", body = TokenWithValue),
        (status = 400, description = "No ?orgId= from a user who can see several organizations (\"name one with ?orgId=\"), or a malformed one", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "FORBIDDEN (role, or a cross-site request), SUBSCRIPTION_EXPIRED (R8) or TOKEN_DISABLED (R7)", body = ErrorBody),
        (status = 404, description = "Unknown organization or token, or another org's", body = ErrorBody),
    )
)]
#[post("/sandboxApiTokens/{id}/regenerate")]
pub async fn regenerate(
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    id: web::Path<String>,
    query: QueryParams<OrgQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let id = object_id(&id)?;
    let actor = scope.user.actor();
    let org_id = scope.org.id;
    let st = state.clone();
    let ((_, value), object) = state
        .db(move |c| {
            change_and_answer(
                c,
                |c| ops::regenerate(c, &st.keys, &actor, org_id, id),
                |c, _| object_of(c, org_id, id),
            )
        })
        .await?;
    Ok(secret_json(
        StatusCode::OK,
        &TokenWithValue {
            object,
            token: value.expose().to_owned(),
        },
    ))
}

#[utoipa::path(
    tag = "tokens",
    params(("id" = Uuid, Path, description = "Token id"), OrgQuery),
    security(("session" = [])),
    responses(
        (status = 204, description = "Deleted; its value stops working at once (R6)"),
        (status = 400, description = "No ?orgId= from a user who can see several organizations (\"name one with ?orgId=\"), or a malformed one", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "FORBIDDEN (role, or a cross-site request), SUBSCRIPTION_EXPIRED (R8) or TOKEN_DISABLED (R7)", body = ErrorBody),
        (status = 404, description = "Unknown organization or token, or another org's", body = ErrorBody),
    )
)]
#[delete("/sandboxApiTokens/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    id: web::Path<String>,
    query: QueryParams<OrgQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let id = object_id(&id)?;
    let actor = scope.user.actor();
    let org_id = scope.org.id;
    state
        .db(move |c| ops::delete(c, &actor, org_id, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QuotaScale {
    Daily,
}

/// The org's submission quota of the current UTC day (R11).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// The daily quota.
    pub allowed: i32,
    pub scale: QuotaScale,
    /// Start of the current UTC day.
    pub start_time: DateTime<Utc>,
    /// Submissions accepted today.
    pub used: i32,
    pub unused: i32,
}

#[utoipa::path(
    tag = "tokens",
    params(OrgQuery),
    security(("session" = [])),
    responses(
        (status = 200, description = "Today's submission quota", body = Vec<Quota>),
        (status = 400, description = "No ?orgId= from a user who can see several organizations (\"name one with ?orgId=\"), a malformed one, or a query parameter not listed here", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 404, description = "Unknown organization, or one the caller may not see", body = ErrorBody),
    )
)]
#[get("/sandbox/report/quota")]
pub async fn quota(
    state: web::Data<AppState>,
    scope: OrgScope<View>,
    query: QueryParams<OrgQuery>,
) -> Result<HttpResponse, AppError> {
    // `scope` has read the org; this refuses what else the query holds.
    query.read()?;
    let org_id = scope.org.id;
    let today = token_rows::today();
    let (org, (_, used)) = state
        .db(move |c| {
            let org = orgs::find(c, org_id)?.ok_or(AppError::NotFound)?;
            Ok((org, orgs::usage_on(c, org_id, today)?))
        })
        .await?;
    let body = [Quota {
        allowed: org.daily_quota,
        scale: QuotaScale::Daily,
        start_time: today.and_time(NaiveTime::MIN).and_utc(),
        used,
        unused: (org.daily_quota - used).max(0),
    }];
    Ok(json(StatusCode::OK, &body))
}
