//! `GET /api/v1/openapi.json`. The paths are collected from the route registrations
//! (`api::routes`); this module adds the document's header and serves the result.
use actix_web::{HttpResponse, get, web};
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as Document;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sandbox-portal management API",
        description = "Manage Sandbox API tokens (SPEC §6). Log in with POST /api/v1/authenticatedSession; \
                       the session cookie authenticates the other calls. Errors are \
                       {\"code\", \"message\"}. Users who can see several organizations name one \
                       with ?orgId=. A method a path does not offer gets 405 METHOD_NOT_ALLOWED \
                       with an Allow header.",
    ),
    tags(
        (name = "session", description = "Log in and out"),
        (name = "tokens", description = "Sandbox API tokens of an organization"),
        (name = "audit", description = "The audit log"),
        (name = "support", description = "Support staff only"),
        (name = "meta", description = "This description"),
    )
)]
struct Header;

/// The document before any path is added.
pub fn base() -> Document {
    let mut doc = Header::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

#[utoipa::path(
    tag = "meta",
    responses((status = 200, description = "This API as OpenAPI 3", content_type = "application/json"))
)]
#[get("/openapi.json")]
pub async fn document(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok().json(doc.get_ref())
}
