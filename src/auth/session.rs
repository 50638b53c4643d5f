//! Logging in and out, shared by the login page and the JSON API so both set up and end a
//! session the same way.
use super::extract::{CurrentUser, client_ip, interface_of};
use super::{csrf, keys};
use crate::db::audit::Actor;
use crate::db::models::User;
use crate::domain::role::Role;
use crate::error::AppError;
use crate::service::users::{self, LoginFailure};
use crate::state::AppState;
use actix_session::Session;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpRequest, web};
use chrono::Utc;

/// Checks the credentials (audited, throttled) and, when they are right, starts a session.
/// The outer error is a fault; the inner one a refused login.
pub async fn log_in(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    session: &Session,
    username: String,
    password: String,
) -> Result<Result<(User, Role, Cookie<'static>), LoginFailure>, AppError> {
    let device_cookie = device_cookie_name(state.https);
    let device = req.cookie(device_cookie).map(|c| c.value().to_owned());
    let actor = Actor {
        user_id: None,
        name: String::new(),
        role: None,
        interface: interface_of(req),
        client_ip: client_ip(req),
    };
    let st = state.clone();
    let outcome = actix_web::web::block(move || {
        users::authenticate(
            &st.pool,
            &st.keys,
            &st.dummy_hash,
            &username,
            &password,
            device.as_deref(),
            actor,
        )
    })
    .await??;
    let users::LoggedIn { user, role, device } = match outcome {
        Ok(logged_in) => logged_in,
        Err(failure) => return Ok(Err(failure)),
    };
    // Logging in as someone else in a browser where another user's session is live ends that
    // session (`start` clears and renews it): audited as that user's logout (§7).
    if let Ok(previous) = super::extract::load_user(req, session).await
        && previous.id != user.id
    {
        let (actor, orgs) = (previous.actor(), previous.org_ids.clone());
        state.db(move |c| users::logout(c, &actor, &orgs)).await?;
    }
    start(session, &user)?;
    let cookie = Cookie::build(device_cookie, device)
        .path("/")
        .http_only(true)
        .secure(state.https)
        .same_site(SameSite::Strict)
        .max_age(CookieDuration::days(users::DEVICE_COOKIE_DAYS))
        .finish();
    Ok(Ok((user, role, cookie)))
}

/// The login-device cookie (see `users::authenticate`), named like the session cookie.
fn device_cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-sp_device"
    } else {
        "sp_device"
    }
}

fn start(session: &Session, user: &User) -> Result<(), AppError> {
    // Nothing of a session open in this browser before (another user's, say) carries over; a
    // fresh session id at login defeats session fixation; the CSRF token changes too.
    session.clear();
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
    Ok(())
}

/// Audits the logout and deletes the server-side session: a replayed cookie finds nothing.
pub async fn log_out(
    state: &web::Data<AppState>,
    session: &Session,
    user: &CurrentUser,
) -> Result<(), AppError> {
    let actor = user.actor();
    let orgs = user.org_ids.clone();
    state.db(move |c| users::logout(c, &actor, &orgs)).await?;
    session.purge();
    Ok(())
}
