//! Synchronizer-token CSRF protection for every state-changing browser request. The token lives
//! in the server-side session; forms send it as `csrf_token`, htmx as the `X-CSRF-Token` header
//! (set once on <body> with hx-headers).
use super::keys;
use crate::error::AppError;
use crate::state::AppState;
use actix_session::{Session, SessionExt};
use actix_web::HttpRequest;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use rand::RngExt;
use rand::distr::Alphanumeric;
use subtle::ConstantTimeEq;

pub const HEADER: &str = "X-CSRF-Token";
pub const FIELD: &str = "csrf_token";
const MAX_FORM: usize = 64 * 1024;

/// The session's CSRF token, created on first use.
pub fn ensure_token(session: &Session) -> Result<String, AppError> {
    if let Ok(Some(t)) = session.get::<String>(keys::CSRF) {
        return Ok(t);
    }
    let token = new_token();
    session
        .insert(keys::CSRF, &token)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("session insert failed: {e}")))?;
    Ok(token)
}

/// The login form's CSRF check works without a session: its nonce travels in a cookie of its
/// own and the form carries the nonce's MAC. Showing the form to a visitor therefore writes
/// nothing to the database (a session row per anonymous GET was free write amplification).
pub fn login_cookie_name(https: bool) -> &'static str {
    if https { "__Host-sp_login" } else { "sp_login" }
}

/// The nonce of the login cookie, or a new one with the cookie to set.
pub fn login_nonce(req: &HttpRequest, https: bool) -> (String, Option<Cookie<'static>>) {
    if let Some(c) = req.cookie(login_cookie_name(https))
        && c.value().len() == 43
        && c.value().bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return (c.value().to_owned(), None);
    }
    let nonce = new_token();
    let cookie = Cookie::build(login_cookie_name(https), nonce.clone())
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Strict)
        .finish();
    (nonce, Some(cookie))
}

pub fn new_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(43)
        .map(char::from)
        .collect()
}

fn matches(expected: &str, given: &str) -> bool {
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

pub async fn verify(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let from_header = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let given = match from_header {
        Some(h) => Some(h),
        None if is_form(&req) => {
            let body = req.extract::<Bytes>().await?;
            if body.len() > MAX_FORM {
                let too_large = AppError::BadRequest("The form is too large.".into());
                return Ok(req.error_response(too_large).map_into_right_body());
            }
            let found = url::form_urlencoded::parse(&body)
                .find(|(k, _)| k == FIELD)
                .map(|(_, v)| v.into_owned());
            // Hand the body back so the handler's own Form extractor can read it.
            req.set_payload(actix_web::dev::Payload::from(body));
            found
        }
        None => None,
    };
    // Checked after the body is read: a response that leaves a form body unread makes the
    // connection unusable for the browser's next request.
    if req.path() == "/login" {
        let expected = req.app_data::<web::Data<AppState>>().and_then(|state| {
            req.cookie(login_cookie_name(state.https))
                .map(|c| state.keys.login_form_mac(c.value()))
        });
        return match (expected, given) {
            (Some(e), Some(g)) if matches(&e, &g) => Ok(next.call(req).await?.map_into_left_body()),
            _ => Ok(req
                .error_response(AppError::CsrfRejected)
                .map_into_right_body()),
        };
    }
    let expected = req.get_session().get::<String>(keys::CSRF).ok().flatten();
    let Some(expected) = expected else {
        // No session at all: it expired (idle timeout) or was ended elsewhere. Sending the user
        // to log in (and back) helps; "your form has expired" on every click did not.
        return Ok(req
            .error_response(AppError::Unauthorized)
            .map_into_right_body());
    };
    match given {
        Some(g) if matches(&expected, &g) => Ok(next.call(req).await?.map_into_left_body()),
        // Answered here, not raised, so the error renderer outside sees an ordinary response.
        _ => Ok(req
            .error_response(AppError::CsrfRejected)
            .map_into_right_body()),
    }
}

fn is_form(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}
