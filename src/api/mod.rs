//! The JSON management API of SPEC §6 under `/api/v1`: the same service calls as the web UI
//! (R13), JSON errors `{"code","message"}`, camelCase everywhere.
//!
//! Routes are registered only through `routes`, on a utoipa-actix-web scope, so the route
//! table and the OpenAPI paths come from the same `service(...)` calls and cannot drift.
pub mod audit;
pub mod http;
pub mod input;
pub mod openapi;
pub mod session;
pub mod support;
pub mod tokens;

use utoipa_actix_web::service_config::ServiceConfig;

pub const PREFIX: &str = "/api/v1";

pub fn routes(cfg: &mut ServiceConfig) {
    http::configure(cfg);
    cfg.service(session::login)
        .service(session::whoami)
        .service(session::logout)
        .service(tokens::list)
        .service(tokens::add)
        .service(tokens::reveal)
        .service(tokens::rename)
        .service(tokens::regenerate)
        .service(tokens::remove)
        .service(tokens::quota)
        .service(audit::list)
        .service(support::list_orgs)
        .service(support::provision)
        .service(support::set_subscription)
        .service(support::set_limits)
        .service(support::disable_org)
        .service(support::enable_org)
        .service(support::disable_token)
        .service(support::enable_token)
        .service(support::create_user)
        .service(openapi::document);
}
