//! `GET /api/v1/openapi.json`. The paths are collected from the route registrations
//! (`api::routes`); this module adds the document's header and serves the result.
use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The name operations give their `security` requirement (`security(("session" = []))`).
pub const SESSION_SCHEME: &str = "session";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sandbox-portal management API",
        description = "Manage Sandbox API tokens (SPEC §6). Log in with POST /api/v1/authenticatedSession; \
                       the session cookie authenticates the other calls. Errors are \
                       {\"code\", \"message\"}. Users who can see several organizations name one \
                       with ?orgId=. A method a path does not offer gets 405 METHOD_NOT_ALLOWED \
                       with an Allow header. A 401 carries WWW-Authenticate: Cookie, naming \
                       where to log in (form-action) and the cookie (cookie-name).",
    ),
    modifiers(&SessionCookie),
    tags(
        (name = "session", description = "Log in and out"),
        (name = "tokens", description = "Sandbox API tokens of an organization"),
        (name = "audit", description = "The audit log"),
        (name = "support", description = "Support staff only"),
        (name = "meta", description = "This description"),
    )
)]
struct Header;

/// The session cookie that `POST /authenticatedSession` sets, as a security scheme, so that
/// generated clients know to keep it.
struct SessionCookie;

impl Modify for SessionCookie {
    fn modify(&self, doc: &mut Document) {
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(SESSION_SCHEME, session_scheme(false));
    }
}

/// The cookie's name depends on how the portal is served (`startup::session_middleware`):
/// over https it carries the `__Host-` prefix.
pub fn session_cookie_name(https: bool) -> &'static str {
    if https {
        "__Host-sp_session"
    } else {
        "sp_session"
    }
}

fn session_scheme(https: bool) -> SecurityScheme {
    SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
        session_cookie_name(https),
        "The session cookie set by POST /api/v1/authenticatedSession (HttpOnly, SameSite=Strict; \
         ends at logout and after the idle and absolute timeouts, 30 minutes and 12 hours by default).",
    )))
}

/// The document before any path is added.
pub fn base() -> Document {
    let mut doc = Header::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// Adds what every operation but this document's own can answer, to the collected document
/// rather than route by route, so that a new route cannot leave it out:
/// - 400 for a query parameter the operation does not list (`http::QueryParams`);
/// - 503 for a busy pool or an unreachable database (`AppError::Unavailable`,
///   `error::session_store_faults`), with `Retry-After`;
/// - 415 for a compressed body, on every operation that takes one (`http::Body`).
pub fn add_common_responses(doc: &mut Document) {
    let error_body = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build()
    };
    let unavailable = ResponseBuilder::new()
        .description(
            "SERVICE_UNAVAILABLE: the portal is busy or cannot reach its database; retry after \
             the Retry-After header's seconds. A change answered so was not made, except a \
             login or logout whose session could not be saved: check before repeating those.",
        )
        .content("application/json", error_body())
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Object::with_type(Type::Integer))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        )
        .build();
    let compressed = ResponseBuilder::new()
        .description(
            "UNSUPPORTED_MEDIA_TYPE: the body has a Content-Encoding (such as gzip); send it \
             uncompressed.",
        )
        .content("application/json", error_body())
        .build();
    let unlisted = ResponseBuilder::new()
        .description(format!("A {UNLISTED}"))
        .content("application/json", error_body())
        .build();
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in operations.into_iter().flatten() {
            if op.tags.iter().flatten().any(|t| t == "meta") {
                continue;
            }
            let responses = &mut op.responses.responses;
            match responses.get_mut("400") {
                Some(RefOr::T(bad)) if !bad.description.contains(UNLISTED) => {
                    bad.description = format!("{}; or a {UNLISTED}", bad.description);
                }
                Some(_) => {}
                None => {
                    responses.insert("400".to_owned(), unlisted.clone().into());
                }
            }
            responses
                .entry("503".to_owned())
                .or_insert_with(|| unavailable.clone().into());
            if op.request_body.is_some() {
                responses
                    .entry("415".to_owned())
                    .or_insert_with(|| compressed.clone().into());
            }
        }
    }
}

const UNLISTED: &str = "query parameter not listed here";

#[utoipa::path(
    tag = "meta",
    responses((status = 200, description = "This API as OpenAPI 3", content_type = "application/json"))
)]
#[get("/openapi.json")]
pub async fn document(doc: web::Data<Document>, state: web::Data<AppState>) -> HttpResponse {
    if !state.https {
        return HttpResponse::Ok().json(doc.get_ref());
    }
    let mut doc = doc.get_ref().clone();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(SESSION_SCHEME, session_scheme(true));
    }
    HttpResponse::Ok().json(doc)
}
