//! Server-rendered pages. Each handler answers a full page, or the fragment when htmx asks
//! (`HX-Request`), so every URL also works with JavaScript off.
pub mod audit;
pub mod login;
pub mod support;
pub mod tokens;
pub mod view;

use crate::auth::keys;
use actix_session::SessionExt;
use actix_web::{HttpRequest, HttpResponse, http::header, web};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(login::home));
    login::routes(cfg);
    tokens::routes(cfg);
    support::routes(cfg);
    audit::routes(cfg);
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
