//! One error type, one mapping to HTTP. The JSON body is the default; `render_errors` turns it
//! into a full error page or an htmx fragment for browser requests.
use crate::domain::policy::Refusal;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use serde::Serialize;
use std::fmt;

#[derive(Debug)]
pub enum AppError {
    BadRequest(String),
    Unauthorized,
    /// A login refused for its credentials (401 like `Unauthorized`, with the login's wording).
    BadCredentials,
    Forbidden(String),
    Policy(Refusal),
    NotFound,
    Conflict(String),
    PayloadTooLarge {
        limit: usize,
    },
    /// A body in a form the portal does not read, such as a compressed one (RFC 9110
    /// §15.5.16); the message says which form to send instead.
    UnsupportedMediaType(String),
    CsrfRejected,
    Throttled {
        retry_after: u64,
    },
    /// The database cannot be reached, or every pooled connection stayed busy: a moment's
    /// condition, not the caller's fault and not a bug, so it is a 503 the caller may retry.
    Unavailable,
    Internal(anyhow::Error),
}

/// Seconds a client is told to wait after a 503: a busy pool frees up within seconds.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 5;

impl AppError {
    pub fn forbidden() -> Self {
        AppError::Forbidden("Your role does not allow this action.".into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "BAD_REQUEST",
            AppError::Unauthorized | AppError::BadCredentials => "UNAUTHORIZED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::Policy(Refusal::SubscriptionExpired | Refusal::NoSubscription) => {
                "SUBSCRIPTION_EXPIRED"
            }
            AppError::Policy(Refusal::ProviderDisabled(_)) => "TOKEN_DISABLED",
            AppError::Policy(Refusal::TokenLimitReached { .. }) => "TOKEN_LIMIT_REACHED",
            AppError::NotFound => "NOT_FOUND",
            AppError::Conflict(_) => "CONFLICT",
            AppError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            AppError::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            AppError::CsrfRejected => "CSRF_TOKEN_INVALID",
            AppError::Throttled { .. } => "TOO_MANY_REQUESTS",
            AppError::Unavailable => "SERVICE_UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// What a person reads. Server faults never show their cause.
    pub fn message(&self) -> String {
        match self {
            AppError::BadRequest(m)
            | AppError::Forbidden(m)
            | AppError::Conflict(m)
            | AppError::UnsupportedMediaType(m) => m.clone(),
            AppError::Unauthorized => "Please log in.".into(),
            AppError::BadCredentials => crate::service::users::LoginFailure::BadCredentials.message(),
            AppError::Policy(r) => r.message(),
            AppError::NotFound => "The page or object you asked for does not exist.".into(),
            AppError::PayloadTooLarge { limit } => {
                format!("The request body is larger than the limit of {limit} bytes.")
            }
            AppError::CsrfRejected => {
                "Your form has expired or did not come from this portal. Reload the page and try again."
                    .into()
            }
            AppError::Throttled { retry_after } => {
                crate::service::users::LoginFailure::Throttled {
                    retry_after: *retry_after,
                }
                .message()
            }
            AppError::Unavailable => "The portal is busy or cannot reach its database; \
                                       try again in a moment."
                .into(),
            AppError::Internal(_) => {
                "Something went wrong on our side. The problem has been logged; please try again."
                    .into()
            }
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Internal(e) => write!(f, "internal error: {e:#}"),
            other => write!(f, "{}: {}", other.code(), other.message()),
        }
    }
}

/// The body of every JSON error (SPEC §6).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// e.g. `BAD_REQUEST`, `UNAUTHORIZED`, `FORBIDDEN`, `SUBSCRIPTION_EXPIRED`, `TOKEN_DISABLED`,
    /// `NOT_FOUND`, `TOKEN_LIMIT_REACHED`, `CONFLICT`, `PAYLOAD_TOO_LARGE`,
    /// `UNSUPPORTED_MEDIA_TYPE`, `TOO_MANY_REQUESTS`, `SERVICE_UNAVAILABLE`
    pub code: String,
    pub message: String,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) | AppError::CsrfRejected => StatusCode::FORBIDDEN,
            AppError::Policy(Refusal::TokenLimitReached { .. }) => StatusCode::CONFLICT,
            AppError::Policy(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        if let AppError::Internal(e) = self {
            tracing::error!(error = ?e, "request failed");
        }
        let mut res = HttpResponse::build(self.status_code());
        match self {
            AppError::Throttled { retry_after } => {
                res.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            AppError::Unavailable => {
                res.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER.to_string()));
            }
            _ => {}
        }
        res.json(ErrorBody {
            code: self.code().into(),
            message: self.message(),
        })
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            // The server went away under the query: an outage, not a fault of the request.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                tracing::warn!(error = %e, "database connection lost");
                AppError::Unavailable
            }
            e => AppError::Internal(e.into()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    /// r2d2 reports one error for both causes: no connection freed up in time, or none could
    /// be opened. Either way the request may succeed a moment later.
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(error = %e, "no database connection");
        AppError::Unavailable
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::Internal(e.into())
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(e)
    }
}

impl From<Refusal> for AppError {
    fn from(r: Refusal) -> Self {
        AppError::Policy(r)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: crate::web::view::Chrome,
    status: u16,
    title: &'static str,
    message: String,
}

#[derive(Template)]
#[template(path = "_flash.html")]
struct Flash<'a> {
    kind: &'a str,
    message: &'a str,
}

pub fn flash_html(kind: &str, message: &str) -> String {
    Flash { kind, message }
        .render()
        .unwrap_or_else(|_| String::from("An error occurred."))
}

/// A navigation from another site (a link in an e-mail or a ticket): the browser withheld the
/// SameSite=Strict session cookie, so the person looks logged out although they are not.
pub fn arrived_cross_site(req: &actix_web::HttpRequest) -> bool {
    req.method() == actix_web::http::Method::GET
        && req
            .headers()
            .get("Sec-Fetch-Site")
            .is_some_and(|v| v.as_bytes() == b"cross-site")
}

/// Loads the same address again from this site, which sends the Strict cookie: a session that
/// exists opens the page, and only a real absence of one leads to the login form.
pub fn reload_same_site() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"refresh\" content=\"0\"><title>Sandbox Portal</title></head>\
             <body><p>Opening the Sandbox Portal…</p></body></html>",
        )
}

pub fn is_htmx(req: &actix_web::HttpRequest) -> bool {
    req.headers().contains_key("HX-Request")
}

/// Browser-facing scopes: errors become an error page (full request) or a message swapped into
/// the page's flash area (htmx request) instead of a blank swap; 401 sends the person to log in.
pub async fn render_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // Note: the request must not be cloned before routing (actix needs it unshared), so all of
    // this reads the response's own copy afterwards.
    let res = next.call(req).await?;
    let Some(e) = res.response().error() else {
        return Ok(res.map_into_left_body());
    };
    let status = res.status();
    let message = message_of(Some(e), status);
    let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
    let allow = res.headers().get(header::ALLOW).cloned();
    let (http_req, _) = res.into_parts();
    // A full error page keeps the header (who is logged in, the way back) for a logged-in
    // person. Not for server errors: the database may be what failed.
    let user =
        if status.is_client_error() && status != StatusCode::UNAUTHORIZED && !is_htmx(&http_req) {
            use actix_web::FromRequest;
            crate::auth::extract::CurrentUser::extract(&http_req)
                .await
                .ok()
        } else {
            None
        };
    let mut new = browser_error(&http_req, status, &message, user.as_ref());
    if let Some(v) = retry_after {
        new.headers_mut().insert(header::RETRY_AFTER, v);
    }
    if let Some(v) = allow {
        new.headers_mut().insert(header::ALLOW, v);
    }
    Ok(ServiceResponse::new(http_req, new).map_into_right_body())
}

fn message_of(err: Option<&actix_web::Error>, status: StatusCode) -> String {
    match err.and_then(|e| e.as_error::<AppError>()) {
        Some(app) => app.message(),
        None if status.is_server_error() => AppError::Internal(anyhow::anyhow!("")).message(),
        // Errors raised by actix extractors (malformed form or path): their text is meant for
        // people and carries no secrets.
        None => err.map(|e| e.to_string()).unwrap_or_default(),
    }
}

fn browser_error(
    req: &actix_web::HttpRequest,
    status: StatusCode,
    message: &str,
    user: Option<&crate::auth::extract::CurrentUser>,
) -> HttpResponse {
    let htmx = is_htmx(req);
    if status == StatusCode::UNAUTHORIZED && !htmx && arrived_cross_site(req) {
        return reload_same_site();
    }
    if status == StatusCode::UNAUTHORIZED {
        // After logging in, come back to the page: a POST-only path would answer 404/405.
        // With the query: it names the org a partner or support user was looking at.
        let back = if req.method() == actix_web::http::Method::GET {
            req.uri()
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned())
        } else {
            req.headers()
                .get("HX-Current-URL")
                .and_then(|v| v.to_str().ok())
                .and_then(|u| url::Url::parse(u).ok())
                .map(|u| match u.query() {
                    Some(q) => format!("{}?{q}", u.path()),
                    None => u.path().to_owned(),
                })
                .unwrap_or_else(|| "/".to_owned())
        };
        let login = format!("/login?next={}", urlencode(&back));
        return if htmx {
            HttpResponse::Ok()
                .insert_header(("HX-Redirect", login))
                .finish()
        } else {
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, login))
                .finish()
        };
    }
    page_or_flash(htmx, status, message, user)
}

/// An error as a full page, or for htmx as a message swapped into the page's flash area.
fn page_or_flash(
    htmx: bool,
    status: StatusCode,
    message: &str,
    user: Option<&crate::auth::extract::CurrentUser>,
) -> HttpResponse {
    if htmx {
        return HttpResponse::build(status)
            .insert_header(("HX-Retarget", "#flash"))
            .insert_header(("HX-Reswap", "innerHTML"))
            .content_type("text/html; charset=utf-8")
            .body(flash_html("error", message));
    }
    let page = ErrorPage {
        chrome: match user {
            Some(u) => crate::web::view::Chrome::for_user(u, ""),
            None => crate::web::view::Chrome {
                user: None,
                csrf: String::new(),
                section: "",
            },
        },
        status: status.as_u16(),
        title: status.canonical_reason().unwrap_or("Error"),
        message: message.to_owned(),
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.render().unwrap_or_else(|_| "Error".into()))
}

/// Wraps actix-session's middleware, directly outside it. When the session store fails (no
/// pooled connection in time, the database down) the session middleware gives up with a bare
/// 500 of its own, before any handler, `render_errors` or `DefaultHeaders` sees the request;
/// reading that as "no session" would send a logged-in person to the login form and lose their
/// place. It becomes the portal's 503 instead, as a page, an htmx message or §6 JSON, with
/// `Retry-After` and the security headers (`DefaultHeaders` does not touch an error).
pub async fn session_store_faults(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // Read now: the request is consumed by the call and not handed back with an error.
    let api = req.path().starts_with(crate::api::PREFIX);
    let htmx = req.headers().contains_key("HX-Request");
    let https = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .is_some_and(|s| s.https);
    match next.call(req).await {
        Err(e) if raised_by_session_middleware(&e) => {
            tracing::error!(error = %e, "the session store could not be reached");
            let app = AppError::Unavailable;
            let mut res = if api {
                app.error_response()
            } else {
                let mut res = page_or_flash(htmx, app.status_code(), &app.message(), None);
                res.headers_mut().insert(
                    header::RETRY_AFTER,
                    header::HeaderValue::from(UNAVAILABLE_RETRY_AFTER),
                );
                res
            };
            for (name, value) in crate::startup::security_headers(https) {
                res.headers_mut().insert(
                    header::HeaderName::from_static(name),
                    header::HeaderValue::from_static(value),
                );
            }
            Err(
                actix_web::error::InternalError::from_response("session store unavailable", res)
                    .into(),
            )
        }
        other => other,
    }
}

/// actix-session wraps every failure of its own in an `InternalError` of the store's error
/// type (or anyhow's, for a cookie it could not write, which cannot happen with our keys);
/// errors of the services it wraps are of other types and pass unchanged.
fn raised_by_session_middleware(e: &actix_web::Error) -> bool {
    use actix_session::storage::{SaveError, UpdateError};
    use actix_web::error::InternalError;
    e.as_error::<InternalError<anyhow::Error>>().is_some()
        || e.as_error::<InternalError<SaveError>>().is_some()
        || e.as_error::<InternalError<UpdateError>>().is_some()
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
