//! Login, logout and the front door.
use super::view::Chrome;
use super::{PageRoute, Routes, html, see_other};
use crate::auth::csrf;
use crate::auth::extract::CurrentUser;
use crate::auth::session::{log_in, log_out};
use crate::domain::role::Role;
use crate::error::AppError;
use crate::service::users::LoginFailure;
use crate::state::AppState;
use crate::web::tokens::PAGE;
use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

pub fn routes(cfg: &mut Routes) {
    cfg.route("/login", PageRoute::get(login_form))
        .route("/login", PageRoute::post(login))
        .route("/logout", PageRoute::post(logout));
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    username: String,
    error: Option<String>,
    next: String,
    notice: Notice,
}

/// What the form says above itself when there is no error.
enum Notice {
    None,
    /// Sent here from a page (`?next=`): say why, the session may just have ended.
    Continuing,
    /// Just logged out (`logout` sends `?loggedOut=1`): confirm it.
    LoggedOut,
    /// Already logged in, and the form opened anyway: as whom, and the way back.
    SignedIn {
        username: String,
        home: &'static str,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NextParam {
    next: Option<String>,
    logged_out: Option<String>,
}

/// Only same-site paths, so the login form cannot be used as an open redirect.
fn safe_next(next: Option<&str>) -> String {
    same_site(next).unwrap_or(PAGE).to_owned()
}

/// A path on this site: one leading slash, and nothing a browser might strip or reinterpret
/// into another origin (backslashes, whitespace, control characters).
fn same_site(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n
                .chars()
                .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    })
}

/// Where a role lands after login when no page was asked for.
fn landing(role: Role) -> &'static str {
    match role {
        Role::Support => "/support/orgs",
        _ => PAGE,
    }
}

/// Where login would have sent them: support to the console, everyone else to the token page.
/// Only a missing or ended session leads to login: a database that cannot say who is logged in
/// is its own error (503), not a reason to show the login form.
pub async fn home(
    req: HttpRequest,
    user: Result<CurrentUser, AppError>,
) -> Result<HttpResponse, AppError> {
    match user {
        Ok(u) => Ok(see_other(landing(u.role))),
        Err(AppError::Unauthorized) if crate::error::arrived_cross_site(&req) => {
            Ok(crate::error::reload_same_site())
        }
        Err(AppError::Unauthorized) => Ok(see_other("/login")),
        Err(e) => Err(e),
    }
}

async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<NextParam>,
    user: Result<CurrentUser, AppError>,
) -> Result<HttpResponse, AppError> {
    let notice = match user {
        Ok(u) => Notice::SignedIn {
            home: landing(u.role),
            username: u.username,
        },
        _ if q.logged_out.is_some() => Notice::LoggedOut,
        _ if same_site(q.next.as_deref()).is_some() => Notice::Continuing,
        _ => Notice::None,
    };
    login_page(
        &req,
        &state,
        StatusCode::OK,
        String::new(),
        None,
        safe_next(q.next.as_deref()),
        notice,
    )
}

/// The form, with the CSRF token of the login cookie (set here when the browser has none).
fn login_page(
    req: &HttpRequest,
    state: &AppState,
    status: StatusCode,
    username: String,
    error: Option<String>,
    next: String,
    notice: Notice,
) -> Result<HttpResponse, AppError> {
    let (nonce, new_cookie) = csrf::login_nonce(req, state.https);
    let page = LoginPage {
        chrome: Chrome {
            user: None,
            csrf: state.keys.login_form_mac(&nonce),
            section: "",
        },
        username,
        error,
        next,
        notice,
    };
    let mut res = html(status, page.render().map_err(anyhow::Error::from)?);
    if let Some(cookie) = new_cookie {
        res.add_cookie(&cookie).map_err(anyhow::Error::from)?;
    }
    Ok(res)
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
    let outcome = log_in(&req, &state, &session, form.username.clone(), form.password).await?;
    let next = safe_next(form.next.as_deref());
    match outcome {
        Ok((_, role, device)) => {
            let asked = same_site(form.next.as_deref()).filter(|n| *n != PAGE);
            let mut res = see_other(asked.unwrap_or(landing(role)));
            res.add_cookie(&device).map_err(anyhow::Error::from)?;
            Ok(res)
        }
        Err(failure) => {
            let status = match failure {
                LoginFailure::BadCredentials => StatusCode::UNAUTHORIZED,
                LoginFailure::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            };
            let mut res = login_page(
                &req,
                &state,
                status,
                form.username.chars().take(100).collect(),
                Some(failure.message()),
                next,
                Notice::None,
            )?;
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
    log_out(&state, &session, &user).await?;
    let mut res = see_other("/login?loggedOut=1");
    // The org chosen last is this person's, not the next one's in this browser.
    let mut forget = crate::auth::extract::remember_org(uuid::Uuid::nil(), state.https);
    forget.make_removal();
    res.add_cookie(&forget).map_err(anyhow::Error::from)?;
    res.headers_mut().insert(
        header::HeaderName::from_static("clear-site-data"),
        header::HeaderValue::from_static("\"cache\", \"storage\""),
    );
    Ok(res)
}
