//! Server-rendered pages. Each handler answers a full page, or the fragment when htmx asks
//! (`HX-Request`), so every URL also works with JavaScript off.
pub mod audit;
pub mod login;
pub mod support;
pub mod tokens;
pub mod view;

use crate::auth::keys;
use crate::error::AppError;
use actix_session::SessionExt;
use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(login::home));
    login::routes(cfg);
    tokens::routes(cfg);
    support::routes(cfg);
    audit::routes(cfg);
}

/// What the pages answer when no route took the request. A GET of a POST-only address (a
/// form's action opened as a link, or reloaded) names a page that exists with the wrong
/// method: 405 with `Allow`, as the JSON API answers, on the portal's error page.
///
/// actix puts each route's method guard on its own resource, so a wrong method lands here
/// like an unknown path; the resource map tells the two apart, but not which methods a path
/// offers. The pages offer GET and POST only (forms and links), so a known path that did not
/// take one of them takes the other. Any other method keeps the 404, as its answer could not
/// name the methods the path does offer.
pub async fn unrouted(req: HttpRequest) -> actix_web::Result<HttpResponse> {
    let (allow, message) = match *req.method() {
        Method::GET => (
            "POST",
            "This address only takes a form submission. Go back and use the page's buttons.",
        ),
        Method::POST => ("GET", "This address cannot take a form submission."),
        _ => return Err(AppError::NotFound.into()),
    };
    // The router's own (requoted) path, as it matched it.
    if !req.resource_map().has_resource(req.match_info().as_str()) {
        return Err(AppError::NotFound.into());
    }
    let res = HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .finish();
    Err(actix_web::error::InternalError::from_response(message, res).into())
}

pub fn html(status: actix_web::http::StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// A plain form post is answered by a redirect: the confirmation of the change rides in the
/// session to the page the browser is sent to, which shows it once (`take_flash`).
pub fn see_other_with_flash(req: &HttpRequest, location: &str, message: String) -> HttpResponse {
    if let Err(e) = req.get_session().insert(keys::FLASH, message) {
        // The change itself is done; only its confirmation is lost.
        tracing::warn!(error = %e, "could not keep a confirmation for the next page");
    }
    see_other(location)
}

pub fn take_flash(req: &HttpRequest) -> Option<String> {
    req.get_session()
        .remove_as::<String>(keys::FLASH)
        .and_then(Result::ok)
}
