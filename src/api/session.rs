//! `/authenticatedSession`: log in, who am I, log out — the same session as the web UI.
use super::http::{Body, NoQuery, QueryParams, json};
use crate::auth::extract::CurrentUser;
use crate::auth::session::{log_in, log_out};
use crate::db::models::User;
use crate::domain::role::Role;
use crate::error::{AppError, ErrorBody};
use crate::service::users::LoginFailure;
use crate::state::AppState;
use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// Sent by existing ZIA clients; accepted and ignored.
    #[serde(rename = "apiKey", default)]
    #[schema(value_type = Option<String>)]
    _api_key: Option<serde_json::Value>,
    /// Sent by existing ZIA clients; accepted and ignored.
    #[serde(rename = "timestamp", default)]
    #[schema(value_type = Option<String>)]
    _timestamp: Option<serde_json::Value>,
}

/// Who is logged in.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub username: String,
    /// `org_admin`, `org_viewer`, `connector_admin`, `partner_viewer` or `support`.
    #[schema(example = "org_admin")]
    pub role: &'static str,
    /// The organizations the user may see; empty for support, who sees all.
    pub org_ids: Vec<Uuid>,
}

#[utoipa::path(
    tag = "session",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = SessionInfo),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong username or password", body = ErrorBody),
        (status = 403, description = "A cross-site request", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 429, description = "Too many failures for this account; see Retry-After", body = ErrorBody),
    )
)]
#[post("/authenticatedSession")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    body: Body<LoginRequest>,
    query: QueryParams<NoQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    let body = body.required()?;
    match log_in(&req, &state, &session, body.username, body.password).await? {
        Ok((user, role, device)) => {
            let org_ids = state
                .db(move |c| Ok(crate::db::users::org_ids(c, user.id)?))
                .await?;
            let mut res = json(StatusCode::OK, &info(&user, role, org_ids));
            res.add_cookie(&device).map_err(anyhow::Error::from)?;
            Ok(res)
        }
        Err(LoginFailure::BadCredentials) => Err(AppError::BadCredentials),
        Err(LoginFailure::Throttled { retry_after }) => Err(AppError::Throttled { retry_after }),
    }
}

fn info(user: &User, role: Role, org_ids: Vec<Uuid>) -> SessionInfo {
    SessionInfo {
        username: user.username.clone(),
        role: role.as_str(),
        org_ids,
    }
}

#[utoipa::path(
    tag = "session",
    security(("session" = [])),
    responses(
        (status = 200, description = "The logged-in user", body = SessionInfo),
        (status = 401, description = "Not logged in", body = ErrorBody),
    )
)]
#[get("/authenticatedSession")]
pub async fn whoami(
    user: CurrentUser,
    query: QueryParams<NoQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    Ok(json(
        StatusCode::OK,
        &SessionInfo {
            role: user.role.as_str(),
            username: user.username,
            org_ids: user.org_ids,
        },
    ))
}

#[utoipa::path(
    tag = "session",
    security(("session" = [])),
    responses(
        (status = 204, description = "Logged out; the server-side session is deleted",
            headers(("Clear-Site-Data" = String, description = "`\"cache\", \"storage\"`: a browser drops what it kept of the session"))),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "A cross-site request", body = ErrorBody),
    )
)]
#[delete("/authenticatedSession")]
pub async fn logout(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
    query: QueryParams<NoQuery>,
) -> Result<HttpResponse, AppError> {
    query.read()?;
    log_out(&state, &session, &user).await?;
    // SPEC §9, and the same as the web logout: a browser-based client may have cached
    // responses (token lists, revealed values) or stored state that must not outlive it.
    Ok(HttpResponse::NoContent()
        .insert_header(("Clear-Site-Data", "\"cache\", \"storage\""))
        .finish())
}
