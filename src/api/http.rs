//! What every API handler shares: JSON errors for malformed input, the body limit, the
//! cross-site refusal, and small request/response helpers.
use crate::error::{AppError, ErrorBody};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{JsonBody, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;
use utoipa::openapi::OpenApi as Document;
use uuid::Uuid;

/// Management requests are small; anything bigger is a mistake or an attack.
pub const BODY_LIMIT: usize = 64 * 1024;
pub const PAGE_SIZE: i64 = 50;

/// Malformed input is the client's error and says what is wrong (`input`); never a 500
/// and never actix's plain-text default. Handlers read bodies with `Body`; the JSON and path
/// configs are the same rules for any extractor added later.
pub fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(BODY_LIMIT)
            .error_handler(|e, _| json_error(e).into()),
    )
    .app_data(
        // Handlers read their query with `QueryParams`, which names the field; this is for any
        // extractor added later, and says no more than serde's words would leak.
        web::QueryConfig::default().error_handler(|_, _| {
            AppError::BadRequest("The query string could not be read.".into()).into()
        }),
    )
    // Path parameters here are ids: one that does not parse names nothing (404, as for web).
    .app_data(web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
    .default_service(web::to(unrouted));
}

/// What the scope answers when no route took the request. actix puts the method guard on each
/// route's resource, so a known path with the wrong method lands here too; the document lists
/// every route (both come from the same `service` calls), so it tells that case (405 with
/// `Allow`) from an unknown path (404).
async fn unrouted(req: HttpRequest, doc: Option<web::Data<Document>>) -> HttpResponse {
    // The router's own (requoted) path, so a path that would route is recognised as such.
    let path = req.match_info().as_str();
    let allowed = doc.and_then(|d| allowed_methods(&d, path));
    let Some(allowed) = allowed else {
        return AppError::NotFound.error_response();
    };
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allowed.join(", ")))
        .json(ErrorBody {
            code: "METHOD_NOT_ALLOWED".into(),
            message: format!(
                "{} is not offered here; use {}.",
                req.method(),
                allowed.join(" or ")
            ),
        })
}

/// The methods the document gives the path that `path` instantiates; `None` if it names none.
fn allowed_methods(doc: &Document, path: &str) -> Option<Vec<&'static str>> {
    let item = doc
        .paths
        .paths
        .iter()
        .find(|(template, _)| instantiates(template, path))
        .map(|(_, item)| item)?;
    let allowed: Vec<&'static str> = [
        ("GET", &item.get),
        // A GET route answers HEAD too (`startup::head_as_get`); the document leaves it implied.
        ("HEAD", &item.get),
        ("POST", &item.post),
        ("PUT", &item.put),
        ("DELETE", &item.delete),
        ("PATCH", &item.patch),
    ]
    .into_iter()
    .filter_map(|(name, op)| op.as_ref().map(|_| name))
    .collect();
    (!allowed.is_empty()).then_some(allowed)
}

/// `/a/{id}/b` against `/a/123/b`: a `{…}` segment stands for one non-empty segment, as it
/// does for actix's router.
fn instantiates(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) if ts.starts_with('{') && ts.ends_with('}') => {
                if ps.is_empty() {
                    return false;
                }
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            _ => return false,
        }
    }
}

fn json_error(e: JsonPayloadError) -> AppError {
    match e {
        JsonPayloadError::OverflowKnownLength { .. }
        | JsonPayloadError::Overflow { .. }
        | JsonPayloadError::Payload(PayloadError::Overflow) => {
            AppError::PayloadTooLarge { limit: BODY_LIMIT }
        }
        JsonPayloadError::ContentType => AppError::BadRequest(
            "Send a JSON body with the header Content-Type: application/json.".into(),
        ),
        JsonPayloadError::Deserialize(e) if e.is_syntax() || e.is_eof() => super::input::syntax(&e),
        JsonPayloadError::Deserialize(e) => super::input::repeated_key(&e).unwrap_or_else(|| {
            AppError::BadRequest(format!(
                "Invalid JSON body: {}",
                without_value(&e.to_string())
            ))
        }),
        other => AppError::BadRequest(format!("Could not read the request body: {other}")),
    }
}

/// serde's message without the offending value ("invalid type: string \"hunter2\", expected
/// a u32"): the value may be a password or a token sent in the wrong field, and the caller
/// knows what they sent. Field names and what was expected stay.
fn without_value(message: &str) -> String {
    for kind in ["invalid type: ", "invalid value: "] {
        // The last ", expected ": the value itself may contain those words.
        if let Some(rest) = message.strip_prefix(kind)
            && let Some((_, expected)) = rest.rsplit_once(", expected ")
        {
            return format!("{kind}the value given, expected {expected}");
        }
    }
    message.to_owned()
}

/// A JSON request body whose problems are reported by the handler, not by extraction.
///
/// actix runs a handler's extractors together, so a failing `web::Json` could answer 400
/// before the authorization extractor answers 401 or 403. `Body` never fails to extract;
/// the handler asks for the value after authorization has passed, so a caller learns nothing
/// about the input rules of an action they may not take.
pub struct Body<T>(Result<Option<T>, AppError>);

impl<T> Body<T> {
    pub fn required(self) -> Result<T, AppError> {
        self.0?.ok_or_else(|| {
            AppError::BadRequest(
                "This request needs a JSON body, and the body was empty: send a JSON object \
                 with the header Content-Type: application/json."
                    .into(),
            )
        })
    }
}

impl<T: Default> Body<T> {
    /// For bodies whose fields are all optional: one left out altogether (`curl -X POST …`),
    /// or sent empty, is the empty object.
    pub fn or_default(self) -> Result<T, AppError> {
        Ok(self.0?.unwrap_or_default())
    }
}

impl<T: DeserializeOwned + utoipa::PartialSchema + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let headers = req.headers();
        // Many clients send `Content-Type: application/json` on every request, bodiless ones
        // included: an empty body is no body, whatever its headers say it would have been.
        let declared_empty = headers
            .get(header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0")
            && !headers.contains_key(header::TRANSFER_ENCODING);
        if declared_empty {
            return Box::pin(async { Ok(Body(Ok(None))) });
        }
        // Request bodies are never decoded here (see Cargo.toml): say so rather than report
        // the compressed bytes as malformed JSON. 415 is RFC 9110's answer to a content coding
        // the server does not take (§15.5.16).
        if headers
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
        {
            let refused = AppError::UnsupportedMediaType(
                "Send the JSON body uncompressed, without a Content-Encoding header.".into(),
            );
            return Box::pin(async move { Ok(Body(Err(refused))) });
        }
        let body =
            JsonBody::<super::input::StrictJson>::new(req, payload, None, true).limit(BODY_LIMIT);
        Box::pin(async move {
            let read = match body.await {
                // A chunked body that turned out empty: the same as one declared empty.
                Err(JsonPayloadError::Deserialize(e))
                    if e.is_eof() && e.line() == 1 && e.column() == 0 =>
                {
                    return Ok(Body(Ok(None)));
                }
                read => read
                    .map_err(json_error)
                    .and_then(|json| super::input::body::<T>(json.0)),
            };
            Ok(Body(read.map(Some)))
        })
    }
}

/// A route's query string, read like `Body`: extraction never fails, and the handler reads the
/// value once authorization has passed. `P` is the route's documented parameters
/// (`params(P)`); a parameter it does not list is refused by name (`input::query`), so a
/// misspelt filter is not silently ignored and the answer does not hold everything.
pub struct QueryParams<P>(Result<P, AppError>);

impl<P> QueryParams<P> {
    pub fn read(self) -> Result<P, AppError> {
        self.0
    }
}

impl<P: DeserializeOwned + utoipa::IntoParams> FromRequest for QueryParams<P> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(QueryParams(super::input::query(req.query_string()))))
    }
}

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status).json(body)
}

/// Responses that carry a token value: never stored by any cache (R3).
pub fn secret_json<T: Serialize>(status: StatusCode, body: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store, max-age=0"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// `?page=` counts from 1; a page past the end is simply empty. Page 0 is refused rather than
/// read as page 1: a client counting from 0 would otherwise get page 1 twice and miss the last.
pub fn offset_of(page: Option<u32>) -> Result<(u32, i64), AppError> {
    match page.unwrap_or(1) {
        0 => Err(AppError::BadRequest(
            "page must be a whole number from 1 (the first page).".into(),
        )),
        page => Ok((page, i64::from(page - 1) * PAGE_SIZE)),
    }
}

/// Fetches one row more than a page to tell whether another page follows.
pub fn split_page<T>(mut rows: Vec<T>) -> (Vec<T>, bool) {
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    (rows, more)
}

/// `?orgId=` as documented; the extractors read it themselves (`auth::extract`).
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct OrgQuery {
    /// The organization to act on. Needed only by users who can see several (support,
    /// partner viewers); others act on their own.
    pub org_id: Option<Uuid>,
}

/// The parameters of a route that takes none: any one is refused by name.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoQuery {}

/// The API authenticates with the session cookie and has no CSRF token, so a state-changing
/// request that a browser marks as coming from another site is refused. Requests without
/// either header (scripts, curl) are not from a browser and pass.
pub async fn refuse_cross_site(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) || same_site(&req) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let refused = AppError::Forbidden("Cross-site request refused".into());
    Ok(req.error_response(refused).map_into_right_body())
}

/// RFC 9110 §15.5.2: every 401 carries a challenge. No registered scheme describes "log in
/// with a form, then send the cookie it sets", so this one follows the HTTP cookie-auth draft
/// (draft-broyer-http-cookie-auth): where to log in, and which cookie comes back.
pub async fn challenge_unauthorized(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    if res.status() == StatusCode::UNAUTHORIZED {
        let https = res
            .request()
            .app_data::<web::Data<crate::state::AppState>>()
            .is_some_and(|s| s.https);
        let challenge = format!(
            r#"Cookie realm="sandbox-portal", form-action="{}/authenticatedSession", cookie-name="{}""#,
            super::PREFIX,
            super::openapi::session_cookie_name(https)
        );
        if let Ok(value) = header::HeaderValue::from_str(&challenge) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
    }
    Ok(res)
}

fn same_site(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    // Behind a TLS-terminating proxy the Host header may be the proxy's upstream name; the
    // public URL is this site's origin all the same.
    let public = req
        .app_data::<web::Data<crate::state::AppState>>()
        .and_then(|s| s.public_url.as_ref().map(url::Url::origin));
    if let (Some(public), Some(given)) = (
        public,
        origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()),
    ) && given.origin() == public
    {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    match (origin.to_str().ok(), host) {
        (Some(origin), Some(host)) => same_authority(origin, &host),
        _ => false,
    }
}

/// Host and port of the Origin against the Host header, default ports filled in by the
/// Origin's scheme ("null" and other opaque origins never match).
fn same_authority(origin: &str, host: &str) -> bool {
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    let Ok(target) = url::Url::parse(&format!("{}://{}", origin.scheme(), host)) else {
        return false;
    };
    origin.host_str().is_some()
        && origin.host_str() == target.host_str()
        && origin.port_or_known_default() == target.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::{instantiates, same_authority, without_value};

    #[test]
    fn a_placeholder_stands_for_one_non_empty_segment() {
        let t = "/api/v1/sandboxApiTokens/{id}/reveal";
        assert!(instantiates(t, "/api/v1/sandboxApiTokens/abc/reveal"));
        assert!(!instantiates(t, "/api/v1/sandboxApiTokens//reveal"));
        assert!(!instantiates(t, "/api/v1/sandboxApiTokens/a/b/reveal"));
        assert!(!instantiates(t, "/api/v1/sandboxApiTokens/abc/reveal/"));
        assert!(!instantiates(t, "/api/v1/sandboxApiTokens/abc"));
        assert!(instantiates("/api/v1/auditLogs", "/api/v1/auditLogs"));
        assert!(!instantiates("/api/v1/auditLogs", "/api/v1/auditlogs"));
    }

    #[test]
    fn a_malformed_fields_value_is_not_echoed() {
        let e = serde_json::from_str::<u32>(r#""hunter2, expected x""#).unwrap_err();
        let said = without_value(&e.to_string());
        assert!(!said.contains("hunter2"), "{said}");
        assert!(
            said.starts_with("invalid type: the value given, expected u32"),
            "{said}"
        );
    }

    #[test]
    fn origins_match_their_own_host_only() {
        assert!(same_authority("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(same_authority(
            "https://portal.example",
            "portal.example:443"
        ));
        assert!(same_authority("https://Portal.Example", "portal.example"));
        assert!(!same_authority("https://evil.example", "portal.example"));
        assert!(!same_authority("http://127.0.0.1:8081", "127.0.0.1:8080"));
        assert!(!same_authority("null", "portal.example"));
        assert!(!same_authority(
            "https://portal.example.evil",
            "portal.example"
        ));
    }
}
