//! `/support/…`: what support staff do (SPEC §4 last columns). Every handler takes
//! `Authorized<ManageOrgs>` or `Authorized<DisableTokens>`, so only support reaches it.
use super::http::{Body, NoQuery, PAGE_SIZE, QueryParams, json, offset_of, split_page};
use super::tokens::{Subscription, TokenObject, object_of};
use crate::auth::extract::{Authorized, DisableTokens, ManageOrgs, object_id};
use crate::db::orgs::{self, NewOrg};
use crate::domain::role::Role;
use crate::error::{AppError, ErrorBody};
use crate::service::change_and_answer;
use crate::service::support::{self as ops, LimitsChange, OrgSummary};
use crate::service::{orgs as provisioning, users};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessStatus {
    Enabled,
    Disabled,
}

/// The org's Sandbox API access (R10).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiAccess {
    pub status: AccessStatus,
    pub disabled_reason: Option<String>,
    pub disabled_by: Option<String>,
    pub disabled_on: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgObject {
    pub id: Uuid,
    pub name: String,
    pub cloud: String,
    pub subscription: Subscription,
    pub api_access: ApiAccess,
    pub token_limit: i32,
    pub token_count: i64,
    pub daily_quota: i32,
    pub abuse_threshold: i32,
    pub created_on: DateTime<Utc>,
}

impl From<OrgSummary> for OrgObject {
    fn from(s: OrgSummary) -> Self {
        let o = s.org;
        OrgObject {
            id: o.id,
            subscription: Subscription::of(&o),
            api_access: ApiAccess {
                status: if o.api_disabled_at.is_some() {
                    AccessStatus::Disabled
                } else {
                    AccessStatus::Enabled
                },
                disabled_reason: o.api_disabled_reason,
                disabled_by: o.api_disabled_by,
                disabled_on: o.api_disabled_at,
            },
            name: o.name,
            cloud: o.cloud,
            token_limit: o.token_limit,
            token_count: s.token_count,
            daily_quota: o.daily_quota,
            abuse_threshold: o.abuse_threshold,
            created_on: o.created_at,
        }
    }
}

/// The org as listed; read in the transaction of the change that produced it
/// (`service::change_and_answer`).
fn org_object(conn: &mut PgConnection, org_id: Uuid) -> Result<OrgObject, AppError> {
    Ok(ops::summary(conn, org_id)?.into())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrgSearch {
    /// Name starts with this text, any case; matched literally (`%` and `_` are not
    /// wildcards), surrounding spaces ignored. The same rule as the support console's search.
    pub search: Option<String>,
    /// From 1; 50 per page. 0 is a 400.
    #[param(minimum = 1)]
    pub page: Option<u32>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgPage {
    pub page: u32,
    pub page_size: i64,
    pub has_more: bool,
    pub orgs: Vec<OrgObject>,
}

#[utoipa::path(
    tag = "support",
    security(("session" = [])),
    params(OrgSearch),
    responses(
        (status = 200, description = "Organizations by name", body = OrgPage),
        (status = 400, description = "Malformed query, page 0, or a query parameter not listed here", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Not support, or a cross-site request", body = ErrorBody),
    )
)]
#[get("/support/orgs")]
pub async fn list_orgs(
    state: web::Data<AppState>,
    _auth: Authorized<ManageOrgs>,
    query: QueryParams<OrgSearch>,
) -> Result<HttpResponse, AppError> {
    let OrgSearch { search, page } = query.read()?;
    let (page, offset) = offset_of(page)?;
    let rows = state
        .db(move |c| ops::list_orgs(c, search.as_deref(), offset, PAGE_SIZE + 1))
        .await?;
    let (rows, has_more) = split_page(rows);
    Ok(json(
        StatusCode::OK,
        &OrgPage {
            page,
            page_size: PAGE_SIZE,
            has_more,
            orgs: rows.into_iter().map(OrgObject::from).collect(),
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionRequest {
    pub name: String,
    /// A domain name such as `zscalerbeta.net`, kept in lower case. Default `zscaler.net`.
    pub cloud: Option<String>,
    /// A time in the future, before the year 10000; without it the org has no Sandbox
    /// subscription (and no first token, R2).
    pub subscription_expires_at: Option<DateTime<Utc>>,
    /// 1–100 (`service::orgs::TOKEN_LIMIT_MAX`); default 5.
    #[schema(minimum = 1, maximum = 100)]
    pub token_limit: Option<i32>,
    /// Default 100.
    #[schema(minimum = 0)]
    pub daily_quota: Option<i32>,
    /// Default 1000.
    #[schema(minimum = 0)]
    pub abuse_threshold: Option<i32>,
}

#[utoipa::path(
    tag = "support",
    security(("session" = [])),
    request_body = ProvisionRequest,
    responses(
        (status = 201, description = "Provisioned; with a subscription it has one enabled token (R2)", body = OrgObject),
        (status = 400, description = "Bad field, a cloud that is not a domain name, or a subscription end that is not in the future", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Not support, or a cross-site request", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
    )
)]
#[post("/support/orgs")]
pub async fn provision(
    state: web::Data<AppState>,
    auth: Authorized<ManageOrgs>,
    body: Body<ProvisionRequest>,
    query: QueryParams<NoQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let b = body.required()?;
    let actor = auth.user.actor();
    let st = state.clone();
    let (_, object) = state
        .db(move |c| {
            let new = NewOrg {
                name: &b.name,
                cloud: b.cloud.as_deref().unwrap_or(orgs::DEFAULT_CLOUD),
                subscription_expires_at: b.subscription_expires_at,
                token_limit: b.token_limit.unwrap_or(orgs::DEFAULT_TOKEN_LIMIT),
                daily_quota: b.daily_quota.unwrap_or(orgs::DEFAULT_DAILY_QUOTA),
                abuse_threshold: b.abuse_threshold.unwrap_or(orgs::DEFAULT_ABUSE_THRESHOLD),
            };
            change_and_answer(
                c,
                |c| provisioning::provision(c, &st.keys, &actor, &new),
                |c, (org, _)| org_object(c, org.id),
            )
        })
        .await?;
    Ok(json(StatusCode::CREATED, &object))
}

/// A field that must be present but may be `null`.
fn required_nullable<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRequest {
    /// A past time expires the subscription (R8), a future one renews it, `null` removes it.
    /// Years 1970–9999.
    #[serde(deserialize_with = "required_nullable")]
    #[schema(required = true)]
    pub expires_at: Option<DateTime<Utc>>,
}

#[utoipa::path(
    tag = "support",
    security(("session" = [])),
    params(("id" = Uuid, Path, description = "Organization id")),
    request_body = SubscriptionRequest,
    responses(
        (status = 200, description = "Changed; the tokens are kept, so a renewal restores the same values (R8)", body = OrgObject),
        (status = 400, description = "Bad field, or a time outside the years 1970–9999", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Not support, or a cross-site request", body = ErrorBody),
        (status = 404, description = "Unknown organization", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
    )
)]
#[put("/support/orgs/{id}/subscription")]
pub async fn set_subscription(
    state: web::Data<AppState>,
    auth: Authorized<ManageOrgs>,
    id: web::Path<String>,
    body: Body<SubscriptionRequest>,
    query: QueryParams<NoQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let org_id = object_id(&id)?;
    let actor = auth.user.actor();
    let expires_at = body.required()?.expires_at;
    let st = state.clone();
    let (_, object) = state
        .db(move |c| {
            change_and_answer(
                c,
                |c| ops::set_subscription(c, &st.keys, &actor, org_id, expires_at),
                |c, _| org_object(c, org_id),
            )
        })
        .await?;
    Ok(json(StatusCode::OK, &object))
}

/// At least one field. A field left out or null keeps its value; values equal to the current
/// ones are accepted and change nothing (no audit event).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsRequest {
    /// 1–100 (`service::orgs::TOKEN_LIMIT_MAX`); a field left out keeps its value.
    #[schema(minimum = 1, maximum = 100)]
    pub token_limit: Option<i32>,
    /// Submissions per UTC day (R11).
    #[schema(minimum = 0)]
    pub daily_quota: Option<i32>,
    /// API calls per UTC day before the org's access is disabled (R10).
    #[schema(minimum = 0)]
    pub abuse_threshold: Option<i32>,
}

#[utoipa::path(
    tag = "support",
    security(("session" = [])),
    params(("id" = Uuid, Path, description = "Organization id")),
    request_body = LimitsRequest,
    responses(
        (status = 200, description = "Changed, or already so", body = OrgObject),
        (status = 400, description = "Bad field, or no field given", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Not support, or a cross-site request", body = ErrorBody),
        (status = 404, description = "Unknown organization", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
    )
)]
#[put("/support/orgs/{id}/limits")]
pub async fn set_limits(
    state: web::Data<AppState>,
    auth: Authorized<ManageOrgs>,
    id: web::Path<String>,
    body: Body<LimitsRequest>,
    query: QueryParams<NoQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let org_id = object_id(&id)?;
    let actor = auth.user.actor();
    let b = body.required()?;
    let change = LimitsChange {
        token_limit: b.token_limit,
        daily_quota: b.daily_quota,
        abuse_threshold: b.abuse_threshold,
    };
    let (_, object) = state
        .db(move |c| {
            change_and_answer(
                c,
                |c| ops::set_limits(c, &actor, org_id, change),
                |c, _| org_object(c, org_id),
            )
        })
        .await?;
    Ok(json(StatusCode::OK, &object))
}

#[derive(Deserialize, ToSchema)]
pub struct ReasonRequest {
    /// 1–200 characters, shown to the organization.
    pub reason: String,
}

#[utoipa::path(
    tag = "support",
    security(("session" = [])),
    params(("id" = Uuid, Path, description = "Organization id")),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "The org's Sandbox API access is disabled: all its tokens show DISABLED (R10)", body = OrgObject),
        (status = 400, description = "Missing or bad reason", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Not support, or a cross-site request", body = ErrorBody),
        (status = 404, description = "Unknown organization", body = ErrorBody),
        (status = 409, description = "Already disabled (the first reason stays)", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
    )
)]
#[post("/support/orgs/{id}/disable")]
pub async fn disable_org(
    state: web::Data<AppState>,
    auth: Authorized<DisableTokens>,
    id: web::Path<String>,
    body: Body<ReasonRequest>,
    query: QueryParams<NoQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let org_id = object_id(&id)?;
    let actor = auth.user.actor();
    let reason = body.required()?.reason;
    let (_, object) = state
        .db(move |c| {
            change_and_answer(
                c,
                |c| ops::disable_org_api(c, &actor, org_id, &reason),
                |c, _| org_object(c, org_id),
            )
        })
        .await?;
    Ok(json(StatusCode::OK, &object))
}

#[utoipa::path(
    tag = "support",
    security(("session" = [])),
    params(("id" = Uuid, Path, description = "Organization id")),
    responses(
        (status = 200, description = "The org's Sandbox API access is enabled again", body = OrgObject),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Not support, or a cross-site request", body = ErrorBody),
        (status = 404, description = "Unknown organization", body = ErrorBody),
        (status = 409, description = "Not disabled", body = ErrorBody),
    )
)]
#[post("/support/orgs/{id}/enable")]
pub async fn enable_org(
    state: web::Data<AppState>,
    auth: Authorized<DisableTokens>,
    id: web::Path<String>,
    query: QueryParams<NoQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let org_id = object_id(&id)?;
    let actor = auth.user.actor();
    let (_, object) = state
        .db(move |c| {
            change_and_answer(
                c,
                |c| ops::enable_org_api(c, &actor, org_id),
                |c, _| org_object(c, org_id),
            )
        })
        .await?;
    Ok(json(StatusCode::OK, &object))
}

fn ids(path: &(String, String)) -> Result<(Uuid, Uuid), AppError> {
    Ok((object_id(&path.0)?, object_id(&path.1)?))
}

#[utoipa::path(
    tag = "support",
    security(("session" = [])),
    params(
        ("id" = Uuid, Path, description = "Organization id"),
        ("tid" = Uuid, Path, description = "Token id"),
    ),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "Disabled (R7): refused by the Submission API; no regenerate, delete or add in its org", body = TokenObject),
        (status = 400, description = "Missing or bad reason", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Not support, or a cross-site request", body = ErrorBody),
        (status = 404, description = "Unknown organization or token", body = ErrorBody),
        (status = 409, description = "Already disabled (the first reason stays)", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
    )
)]
#[post("/support/orgs/{id}/sandboxApiTokens/{tid}/disable")]
pub async fn disable_token(
    state: web::Data<AppState>,
    auth: Authorized<DisableTokens>,
    path: web::Path<(String, String)>,
    body: Body<ReasonRequest>,
    query: QueryParams<NoQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let (org_id, token_id) = ids(&path)?;
    let actor = auth.user.actor();
    let reason = body.required()?.reason;
    let (_, object) = state
        .db(move |c| {
            change_and_answer(
                c,
                |c| ops::disable_token(c, &actor, org_id, token_id, &reason),
                |c, _| object_of(c, org_id, token_id),
            )
        })
        .await?;
    Ok(json(StatusCode::OK, &object))
}

#[utoipa::path(
    tag = "support",
    security(("session" = [])),
    params(
        ("id" = Uuid, Path, description = "Organization id"),
        ("tid" = Uuid, Path, description = "Token id"),
    ),
    responses(
        (status = 200, description = "Enabled again (R7)", body = TokenObject),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Not support, or a cross-site request", body = ErrorBody),
        (status = 404, description = "Unknown organization or token", body = ErrorBody),
        (status = 409, description = "Not disabled", body = ErrorBody),
    )
)]
#[post("/support/orgs/{id}/sandboxApiTokens/{tid}/enable")]
pub async fn enable_token(
    state: web::Data<AppState>,
    auth: Authorized<DisableTokens>,
    path: web::Path<(String, String)>,
    query: QueryParams<NoQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let (org_id, token_id) = ids(&path)?;
    let actor = auth.user.actor();
    let (_, object) = state
        .db(move |c| {
            change_and_answer(
                c,
                |c| ops::enable_token(c, &actor, org_id, token_id),
                |c, _| object_of(c, org_id, token_id),
            )
        })
        .await?;
    Ok(json(StatusCode::OK, &object))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewUserRequest {
    pub username: String,
    pub password: String,
    #[schema(value_type = String, example = "org_admin")]
    pub role: Role,
    /// None for support; one or more for partner viewers; exactly one for the other roles.
    #[serde(default)]
    pub org_ids: Vec<Uuid>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserObject {
    pub id: Uuid,
    pub username: String,
    #[schema(example = "org_admin")]
    pub role: String,
    /// The organizations granted, as stored: each once.
    pub org_ids: Vec<Uuid>,
}

#[utoipa::path(
    tag = "support",
    security(("session" = [])),
    request_body = NewUserRequest,
    responses(
        (status = 201, description = "Created; the user as stored", body = UserObject),
        (status = 400, description = "Bad field, weak password, or orgs that do not fit the role", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Not support, or a cross-site request", body = ErrorBody),
        (status = 409, description = "The username is taken", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
    )
)]
#[post("/support/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    auth: Authorized<ManageOrgs>,
    body: Body<NewUserRequest>,
    query: QueryParams<NoQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let b = body.required()?;
    let actor = auth.user.actor();
    // Read back rather than echoed: the request may name an org twice, which is one grant.
    let (user, mut org_ids) = state
        .db(move |c| {
            change_and_answer(
                c,
                |c| users::create(c, &actor, &b.username, &b.password, b.role, &b.org_ids),
                |c, user| Ok(crate::db::users::org_ids(c, user.id)?),
            )
        })
        .await?;
    org_ids.sort();
    Ok(json(
        StatusCode::CREATED,
        &UserObject {
            id: user.id,
            username: user.username,
            role: user.role,
            org_ids,
        },
    ))
}
