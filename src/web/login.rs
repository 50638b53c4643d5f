//! Login, logout and the front door.
use super::view::Chrome;
use super::{html, see_other};
use crate::auth::extract::{CurrentUser, client_ip};
use crate::auth::{csrf, keys};
use crate::db::audit::{Actor, Interface};
use crate::error::AppError;
use crate::service::users::{self, LoginFailure};
use crate::state::AppState;
use crate::web::tokens::PAGE;
use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login_form))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout));
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    username: String,
    error: Option<String>,
    next: String,
}

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// Only same-site paths, so the login form cannot be used as an open redirect.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => PAGE.to_owned(),
    }
}

pub async fn home(session: Session) -> HttpResponse {
    match session.get::<uuid::Uuid>(keys::USER_ID) {
        Ok(Some(_)) => see_other(PAGE),
        _ => see_other("/login"),
    }
}

async fn login_form(session: Session, q: web::Query<NextParam>) -> Result<HttpResponse, AppError> {
    let page = LoginPage {
        chrome: Chrome {
            user: None,
            csrf: csrf::ensure_token(&session)?,
        },
        username: String::new(),
        error: None,
        next: safe_next(q.next.as_deref()),
    };
    Ok(html(
        StatusCode::OK,
        page.render().map_err(anyhow::Error::from)?,
    ))
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let actor = Actor {
        user_id: None,
        name: String::new(),
        role: None,
        interface: Interface::Ui,
        client_ip: client_ip(&req),
    };
    let username = form.username.clone();
    let st = state.clone();
    let outcome = state
        .db(move |c| users::authenticate(c, &st.dummy_hash, &username, &form.password, actor))
        .await?;
    let next = safe_next(form.next.as_deref());
    match outcome {
        Ok((user, _role)) => {
            // A fresh session id at login defeats session fixation; the CSRF token changes too.
            session.renew();
            let put = |k: &str, v: serde_json::Value| {
                session
                    .insert(k, v)
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("session insert: {e}")))
            };
            put(keys::USER_ID, serde_json::json!(user.id))?;
            put(keys::GENERATION, serde_json::json!(user.session_generation))?;
            put(keys::LOGIN_AT, serde_json::json!(Utc::now().timestamp()))?;
            put(keys::CSRF, serde_json::json!(csrf::new_token()))?;
            Ok(see_other(&next))
        }
        Err(failure) => {
            let status = match failure {
                LoginFailure::BadCredentials => StatusCode::UNAUTHORIZED,
                LoginFailure::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            };
            let page = LoginPage {
                chrome: Chrome {
                    user: None,
                    csrf: csrf::ensure_token(&session)?,
                },
                username: form.username.chars().take(100).collect(),
                error: Some(failure.message()),
                next,
            };
            let mut res = html(status, page.render().map_err(anyhow::Error::from)?);
            if let LoginFailure::Throttled { retry_after } = failure {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
            }
            Ok(res)
        }
    }
}

async fn logout(
    state: web::Data<AppState>,
    session: Session,
    user: CurrentUser,
) -> Result<HttpResponse, AppError> {
    let actor = user.actor();
    let org = match user.org_ids.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    state.db(move |c| users::logout(c, &actor, org)).await?;
    // Deletes the server-side row: a replayed cookie finds nothing.
    session.purge();
    let mut res = see_other("/login");
    res.headers_mut().insert(
        header::HeaderName::from_static("clear-site-data"),
        header::HeaderValue::from_static("\"cache\", \"storage\""),
    );
    Ok(res)
}
