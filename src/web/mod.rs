//! Server-rendered pages. Each handler answers a full page, or the fragment when htmx asks
//! (`HX-Request`), so every URL also works with JavaScript off.
pub mod audit;
pub mod login;
pub mod support;
pub mod tokens;
pub mod view;

use actix_web::{HttpResponse, http::header, web};

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
