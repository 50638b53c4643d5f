//! The Sandbox Submission API (SPEC §8): `/zscsb/submit` and `/zscsb/discan`, compatible with
//! the public Zscaler clients. The token comes as `Authorization: Bearer` (preferred) or
//! `?api_token=`; neither the value nor the query string is ever logged.
pub mod gate;
pub mod writer;

use crate::domain::token::TokenValue;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use gate::Verdict;
use md5::Md5;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use writer::{Endpoint, Outcome, Submission};

pub const DEFAULT_MAX_BYTES: usize = 20 * 1024 * 1024;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/zscsb/submit", web::post().to(submit))
        .route("/zscsb/submit", web::route().to(post_only))
        .route("/zscsb/discan", web::post().to(discan))
        .route("/zscsb/discan", web::route().to(post_only));
}

/// A script that GETs the endpoint gets the API's JSON and the method to use, not a web page.
async fn post_only() -> HttpResponse {
    let mut res = refuse(
        StatusCode::METHOD_NOT_ALLOWED,
        "Use POST with the file's bytes as the body",
    );
    res.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    res
}

#[derive(Serialize)]
struct Refusal {
    code: u16,
    message: Cow<'static, str>,
}

fn refuse(status: StatusCode, message: impl Into<Cow<'static, str>>) -> HttpResponse {
    HttpResponse::build(status).json(Refusal {
        code: status.as_u16(),
        message: message.into(),
    })
}

/// RFC 9110 §15.5.2: a 401 names how to authenticate. A token that was sent and refused also
/// gets RFC 6750's `invalid_token`, so a client can tell "send one" from "this one is no good".
fn unauthorized(message: &'static str, token_sent: bool) -> HttpResponse {
    let challenge = if token_sent {
        r#"Bearer realm="Sandbox Submission API", error="invalid_token""#
    } else {
        r#"Bearer realm="Sandbox Submission API""#
    };
    let mut res = refuse(StatusCode::UNAUTHORIZED, message);
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static(challenge),
    );
    res
}

/// 503: nothing was recorded, and the caller may try again; told when, as the management API
/// tells it (`error::UNAVAILABLE_RETRY_AFTER`).
fn unavailable(message: &'static str) -> HttpResponse {
    let mut res = refuse(StatusCode::SERVICE_UNAVAILABLE, message);
    res.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER),
    );
    res
}

/// R8, for an org whose subscription ended or was removed.
const DISABLED: &str = "The API token is disabled. Contact support to re-enable it.";
const NO_SUBSCRIPTION: &str =
    "The Sandbox subscription has expired or was removed. Contact support to renew it.";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    code: u16,
    message: String,
    file_type: String,
    md5: String,
    sandbox_submission: &'static str,
    virus_name: Option<String>,
    virus_type: Option<&'static str>,
}

/// A request that names its token in more than one way, so that which one it meant is a guess.
/// The messages never repeat a value.
#[derive(Debug, PartialEq, Eq)]
enum Ambiguous {
    /// More than one Authorization header.
    Headers,
    /// Bearer and `?api_token=`, or `?api_token=` twice, with different values.
    Values,
}

impl Ambiguous {
    fn message(&self) -> &'static str {
        match self {
            Ambiguous::Headers => {
                "More than one Authorization header: send one, Authorization: Bearer <token>"
            }
            Ambiguous::Values => {
                "The API token is given more than once, with different values: send one token, \
                 preferably as Authorization: Bearer <token>"
            }
        }
    }
}

/// The token as presented, from the Authorization header or the `api_token` query parameter.
/// The same value given both ways is that value; different ones are refused rather than one of
/// them picked, since whichever was picked, the caller may have meant the other.
fn presented_token(req: &HttpRequest) -> Result<Option<String>, Ambiguous> {
    let mut headers = req.headers().get_all(header::AUTHORIZATION);
    let header = headers.next();
    if headers.next().is_some() {
        return Err(Ambiguous::Headers);
    }
    let bearer = header
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // RFC 7235: the scheme is case-insensitive.
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let mut presented = bearer;
    for (_, value) in
        url::form_urlencoded::parse(req.query_string().as_bytes()).filter(|(k, _)| k == "api_token")
    {
        match &presented {
            Some(seen) if *seen != value => return Err(Ambiguous::Values),
            Some(_) => {}
            None => presented = Some(value.into_owned()),
        }
    }
    Ok(presented)
}

async fn submit(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    handle(req, body, state, Endpoint::Submit).await
}

async fn discan(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    handle(req, body, state, Endpoint::Discan).await
}

enum BodyError {
    TooLarge,
    Corrupt,
    UnsupportedEncoding,
}

/// `force=0|1` (SPEC §8) or absent; anything else is refused so a typo is not silently ignored.
fn force_is_valid(req: &HttpRequest) -> bool {
    let query = req.query_string();
    query.is_empty()
        || url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "force")
            .all(|(_, v)| v == "0" || v == "1")
}

#[derive(Clone, Copy)]
enum Encoding {
    Identity,
    Gzip,
    /// HTTP's "deflate": a zlib stream.
    Deflate,
}

fn encoding_of(req: &HttpRequest) -> Result<Encoding, BodyError> {
    let Some(v) = req.headers().get(header::CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    let v = v.as_bytes();
    if v.eq_ignore_ascii_case(b"identity") {
        Ok(Encoding::Identity)
    } else if v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip") {
        Ok(Encoding::Gzip)
    } else if v.eq_ignore_ascii_case(b"deflate") {
        Ok(Encoding::Deflate)
    } else {
        Err(BodyError::UnsupportedEncoding)
    }
}

/// Bodies larger than this are decoded, hashed and typed off the async worker: on it, a 20 MiB
/// file would stall every other request of that worker (pages included) for tens of
/// milliseconds.
const INLINE_MAX: usize = 256 * 1024;

/// Reads the (possibly gzip- or deflate-encoded) body, refusing as soon as it passes the limit.
///
/// Decoding is ours, through a reader that stops one byte past the limit: a decoder that
/// inflates a whole chunk before anyone measures it turns a small request into gigabytes.
async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let encoding = encoding_of(req)?;
    // Compressed data outgrows its content only when it is incompressible, by a few bytes per
    // block; anything beyond this cannot decode to an acceptable file.
    let raw_limit = match encoding {
        Encoding::Identity => limit,
        Encoding::Gzip | Encoding::Deflate => limit + limit / 64 + 1024,
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > raw_limit) {
        return Err(BodyError::TooLarge);
    }
    let mut stream = payload.into_inner();
    let mut raw = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Corrupt)?;
        if raw.len() + chunk.len() > raw_limit {
            return Err(BodyError::TooLarge);
        }
        raw.extend_from_slice(&chunk);
    }
    if matches!(encoding, Encoding::Identity) {
        return Ok(raw);
    }
    if raw.len() <= INLINE_MAX {
        return decode(encoding, &raw, limit);
    }
    web::block(move || decode(encoding, &raw, limit))
        .await
        .map_err(|_| BodyError::Corrupt)?
}

fn decode(encoding: Encoding, raw: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    use std::io::Read;
    let reader: Box<dyn Read + '_> = match encoding {
        Encoding::Identity => return Ok(raw.to_vec()),
        // Several gzip members one after another are one body (RFC 1952).
        Encoding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Encoding::Deflate => Box::new(flate2::read::ZlibDecoder::new(raw)),
    };
    let mut body = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|_| BodyError::Corrupt)?;
    if body.len() > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(body)
}

async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    endpoint: Endpoint,
) -> HttpResponse {
    // Refusals that need no database: missing, malformed (checksum), unknown, disabled, expired.
    let raw = match presented_token(&req) {
        Ok(Some(raw)) => raw,
        Ok(None) => return unauthorized("Missing API token", false),
        Err(ambiguous) => return refuse(StatusCode::BAD_REQUEST, ambiguous.message()),
    };
    let Some(token) = TokenValue::parse(&raw) else {
        return unauthorized("Invalid API token", true);
    };
    let digest = state.keys.digest(&token);
    let now = Utc::now();
    let mut verdict = state.gate.check(&digest, now);
    if !matches!(verdict, Verdict::Pass { .. })
        && let Some(slot) = state.gate.begin_recheck()
    {
        verdict = recheck(&state, slot, digest, now).await.unwrap_or(verdict);
    }
    let org_id = match verdict {
        Verdict::Unknown => return unauthorized("Invalid API token", true),
        // Refused from memory, and still an API call of the org: R10 counts every call, so the
        // writer counts it (exactly, in the database) before the refusal is sent. Its verdict,
        // read under the org lock, words the refusal.
        Verdict::Disabled { org_id } => {
            let outcome = state.writer.count_refused(digest, org_id).await;
            return refusal(outcome).unwrap_or_else(|| refuse(StatusCode::FORBIDDEN, DISABLED));
        }
        Verdict::Expired { org_id } => {
            let outcome = state.writer.count_refused(digest, org_id).await;
            return refusal(outcome)
                .unwrap_or_else(|| refuse(StatusCode::FORBIDDEN, NO_SUBSCRIPTION));
        }
        Verdict::Pass { org_id, .. } => org_id,
    };
    let bad_request: Result<_, (StatusCode, Cow<'static, str>)> = if !force_is_valid(&req) {
        Err((StatusCode::BAD_REQUEST, "force must be 0 or 1".into()))
    } else {
        match read_body(&req, payload, state.submission_max_bytes).await {
            Ok(b) if b.is_empty() => Err((
                StatusCode::BAD_REQUEST,
                "The request body is empty: send the file's bytes".into(),
            )),
            Ok(b) => Ok(b),
            Err(BodyError::TooLarge) => Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "The file is larger than the limit of {} bytes (after decoding)",
                    state.submission_max_bytes
                )
                .into(),
            )),
            Err(BodyError::Corrupt) => Err((
                StatusCode::BAD_REQUEST,
                "The request body could not be decoded".into(),
            )),
            Err(BodyError::UnsupportedEncoding) => Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Content-Encoding: send the file as is, or gzip- or deflate-compressed"
                    .into(),
            )),
        }
    };
    let body = match bad_request {
        Ok(b) => b,
        Err((status, message)) => {
            // Still an API call of a valid token: R10 counts it, or empty bodies would be a
            // way around the abuse threshold. A token refused meanwhile is refused as such.
            return match state.writer.record(digest, org_id, None).await {
                Outcome::Counted | Outcome::Unavailable => refuse(status, message),
                outcome => refusal(outcome).unwrap_or_else(|| refuse(status, message)),
            };
        }
    };
    let submission = if body.len() <= INLINE_MAX {
        inspect(&body, endpoint)
    } else {
        match web::block(move || inspect(&body, endpoint)).await {
            Ok(s) => s,
            Err(_) => return unavailable("The file could not be examined; try again"),
        }
    };
    let accepted = Accepted {
        code: 200,
        message: format!("/{} response OK", endpoint.as_str()),
        file_type: submission.file_type.clone(),
        md5: submission.md5.clone(),
        sandbox_submission: "Submitted",
        virus_name: submission.virus_name.clone(),
        virus_type: submission.virus_name.as_ref().map(|_| "Virus"),
    };
    match state.writer.record(digest, org_id, Some(submission)).await {
        Outcome::Accepted => HttpResponse::Ok().json(accepted),
        outcome => refusal(outcome)
            .unwrap_or_else(|| unavailable("The submission could not be recorded; try again")),
    }
}

/// Confirms a refusal from memory against the database (see `gate`); None when no pooled
/// connection is free at once (the pages come first), and the refusal from memory stands.
async fn recheck(
    state: &AppState,
    slot: gate::RecheckSlot,
    digest: [u8; 32],
    now: DateTime<Utc>,
) -> Option<Verdict> {
    let pool = state.pool.clone();
    let gate = state.gate.clone();
    web::block(move || {
        let _slot = slot;
        let mut conn = pool.try_get()?;
        gate.recheck(&mut conn, &digest, now).ok()
    })
    .await
    .ok()
    .flatten()
}

/// The answer to a call the writer refused; None for one it accepted or merely counted.
fn refusal(outcome: Outcome) -> Option<HttpResponse> {
    Some(match outcome {
        Outcome::Accepted | Outcome::Counted => return None,
        Outcome::Unknown => unauthorized("Invalid API token", true),
        Outcome::Disabled | Outcome::ThresholdExceeded => refuse(StatusCode::FORBIDDEN, DISABLED),
        Outcome::Expired => refuse(StatusCode::FORBIDDEN, NO_SUBSCRIPTION),
        Outcome::QuotaExceeded => {
            let mut res = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "Daily submission quota exceeded; try again after midnight UTC",
            );
            res.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(seconds_to_utc_midnight()),
            );
            res
        }
        Outcome::Unavailable => unavailable("The submission could not be recorded; try again"),
    })
}

pub fn seconds_to_utc_midnight() -> i64 {
    let now = Utc::now();
    let tomorrow = (now.date_naive() + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc());
    match tomorrow {
        Some(t) => (t - now).num_seconds().max(1),
        None => 86_400,
    }
}

/// The EICAR anti-virus test file's signature (it must begin the file; trailing whitespace is
/// allowed by the standard).
const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

fn inspect(body: &[u8], endpoint: Endpoint) -> Submission {
    let file_type = match infer::get(body) {
        Some(kind) => kind.extension().to_owned(),
        None if std::str::from_utf8(body).is_ok() => "txt".to_owned(),
        None => "unknown".to_owned(),
    };
    let is_eicar = body.starts_with(EICAR)
        && body[EICAR.len()..]
            .iter()
            .all(|b| b.is_ascii_whitespace() || *b == 0x1a);
    Submission {
        endpoint,
        md5: hex::encode(Md5::digest(body)),
        sha256: hex::encode(Sha256::digest(body)),
        size: body.len() as i64,
        file_type,
        virus_name: is_eicar.then(|| "EICAR-Test-File".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eicar_is_reported_as_a_virus_and_types_come_from_magic_bytes() {
        let s = inspect(EICAR, Endpoint::Submit);
        assert_eq!(s.virus_name.as_deref(), Some("EICAR-Test-File"));
        assert_eq!(s.md5, "44d88612fea8a8f36de82e1278abb02f");
        let pdf = inspect(b"%PDF-1.7\n...", Endpoint::Submit);
        assert_eq!(pdf.file_type, "pdf");
        assert!(pdf.virus_name.is_none());
        let exe = inspect(b"MZ\x90\x00\x03\x00\x00\x00", Endpoint::Submit);
        assert_eq!(exe.file_type, "exe");
    }

    #[test]
    fn retry_after_points_at_the_next_utc_midnight() {
        let s = seconds_to_utc_midnight();
        assert!((1..=86_400).contains(&s));
    }
}
