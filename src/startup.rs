//! `Application::build` is the one way to start the portal: the binary and the tests both use it.
use crate::auth::{password, session_store::PgSessionStore};
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::domain::token::{TokenKeys, hmac_sha256};
use crate::state::AppState;
use crate::{api, assets, error, web as pages};
use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Handler;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{
    App, FromRequest, HttpMessage, HttpRequest, HttpResponse, HttpServer, Resource, Responder, web,
};
use anyhow::Context;
use std::net::TcpListener;
use utoipa_actix_web::AppExt;

pub struct Application {
    port: u16,
    audit_retention_days: i64,
    submission_retention_days: i64,
    server: Server,
    pool: DbPool,
    gate: std::sync::Arc<crate::submission::gate::TokenGate>,
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
                   object-src 'none'";

/// The headers every response carries (SPEC §9); also set by hand on the few responses that
/// leave as errors, which `DefaultHeaders` does not touch. Names in lower case, as
/// `HeaderName::from_static` wants them.
pub fn security_headers(https: bool) -> Vec<(&'static str, &'static str)> {
    let mut headers = vec![
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ];
    if https {
        headers.push((
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        ));
    }
    headers
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let url = settings.database_url.expose().to_owned();
        let pool_size = settings.pool_size;
        let keys = TokenKeys::derive(settings.secret_key.expose().as_bytes());
        let (pool, keys) = web::block(move || -> anyhow::Result<(DbPool, TokenKeys)> {
            db::ensure_database(&url)?;
            let pool = db::build_pool(&url, pool_size)?;
            let mut conn = pool.get().context("could not get a database connection")?;
            db::run_migrations(&mut conn)?;
            db::check_secret_key(&mut conn, &keys)?;
            db::warn_if_case_folding_is_ascii_only(&mut conn);
            Ok((pool, keys))
        })
        .await??;

        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("could not listen on {}", settings.bind))?;
        let addr = listener.local_addr()?;
        let own_url =
            settings
                .public_url
                .clone()
                .unwrap_or_else(|| match addr.ip().is_unspecified() {
                    // Listening on every interface: show a URL that works from this machine.
                    true => format!("http://127.0.0.1:{}", addr.port()),
                    false => format!("http://{addr}"),
                });
        let base_url = settings
            .api_base_url
            .clone()
            .unwrap_or(own_url)
            .trim_end_matches('/')
            .to_owned();
        let secret = settings.secret_key.expose().as_bytes();
        let cookie_key = Key::derive_from(&hmac_sha256(secret, b"sandbox-portal cookie key v1"));
        let dummy_hash = web::block(password::dummy_hash).await??;
        let db_url = settings.database_url.expose().to_owned();
        let (gate, writer) = web::block(move || -> anyhow::Result<_> {
            Ok((
                crate::submission::gate::start(&db_url)?,
                crate::submission::writer::Writer::start(&db_url)?,
            ))
        })
        .await??;
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            keys,
            base_url,
            dummy_hash,
            session_absolute: settings.session_absolute,
            gate: gate.clone(),
            writer,
            submission_max_bytes: settings.submission_max_bytes,
            https: settings.https(),
            public_url: settings
                .public_url
                .as_deref()
                .map(url::Url::parse)
                .transpose()
                .context("PUBLIC_URL is not a URL")?,
            trusted_proxies: settings.trusted_proxies.clone(),
        });

        let https = settings.https();
        let idle = actix_web::cookie::time::Duration::seconds(settings.session_idle.num_seconds());
        let store = PgSessionStore::new(pool.clone());
        let server = HttpServer::new(move || {
            let headers = security_headers(https)
                .into_iter()
                .fold(DefaultHeaders::new(), DefaultHeaders::add);
            let sessions = || session_middleware(store.clone(), cookie_key.clone(), https, idle);
            let (app, mut api_doc) = App::new()
                .app_data(state.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .wrap(from_fn(head_as_get))
                .wrap(headers)
                .wrap(from_fn(log_requests))
                .service(get_only("/healthz", healthz))
                .service(get_only("/readyz", readyz))
                .service(get_only("/static/{path:.*}", assets::serve))
                .configure(crate::submission::routes)
                .into_utoipa_app()
                .openapi(api::openapi::base())
                // The API answers JSON errors and has no CSRF token (it refuses cross-site
                // requests instead), so it gets neither of the web scope's middlewares.
                .service(
                    utoipa_actix_web::scope(api::PREFIX)
                        .configure(api::routes)
                        .wrap(sessions())
                        .wrap(from_fn(error::session_store_faults))
                        .wrap(from_fn(api::http::refuse_cross_site))
                        .wrap(from_fn(api::http::challenge_unauthorized)),
                )
                .split_for_parts();
            api::openapi::add_common_responses(&mut api_doc);
            app.app_data(web::Data::new(api_doc)).service(
                // The CSRF check is on each page route that changes something (`pages::routes`).
                web::scope("")
                    .wrap(from_fn(error::render_errors))
                    .wrap(sessions())
                    .wrap(from_fn(error::session_store_faults))
                    .configure(pages::routes)
                    // An unknown address gets the portal's own 404 page, not an empty body.
                    .default_service(web::to(pages::unrouted)),
            )
        })
        .workers(
            settings
                .workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)),
        )
        .listen(listener)?
        .run();
        Ok(Application {
            port: addr.port(),
            audit_retention_days: settings.audit_retention_days,
            submission_retention_days: settings.submission_retention_days,
            server,
            pool,
            gate,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    pub fn gate(&self) -> std::sync::Arc<crate::submission::gate::TokenGate> {
        self.gate.clone()
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let pool = self.pool.clone();
        let retention_days = self.audit_retention_days;
        let submission_days = self.submission_retention_days;
        let sweeper = actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(std::time::Duration::from_secs(600));
            loop {
                every.tick().await;
                let p = pool.clone();
                let swept = web::block(move || -> anyhow::Result<usize> {
                    let mut conn = p.get()?;
                    db::audit::purge_older_than(&mut conn, retention_days)?;
                    db::users::purge_stale_throttles(&mut conn, chrono::Duration::hours(1))?;
                    Ok(db::sessions::purge_expired(&mut conn)?)
                })
                .await;
                if let Ok(Err(e)) = swept {
                    tracing::warn!(error = %e, "could not purge old audit events, throttles or sessions");
                }
                // Apart from the above, so that a failure of one does not stop the other.
                let p = pool.clone();
                let purged = web::block(move || -> anyhow::Result<_> {
                    let mut conn = p.get()?;
                    Ok(db::retention::purge_older_than(&mut conn, submission_days)?)
                })
                .await;
                match purged {
                    Ok(Ok(p)) if p != db::retention::Purged::default() => {
                        tracing::info!(
                            submissions = p.submissions,
                            org_days = p.org_days,
                            token_days = p.token_days,
                            "purged Submission API records past their retention"
                        );
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "could not purge old Submission API records");
                    }
                    _ => {}
                }
            }
        });
        let result = self.server.await;
        sweeper.abort();
        self.gate.stop();
        result
    }
}

/// One session configuration for the web UI and the API: a login through either is a session
/// of both.
fn session_middleware(
    store: PgSessionStore,
    cookie_key: Key,
    https: bool,
    idle: actix_web::cookie::time::Duration,
) -> SessionMiddleware<PgSessionStore> {
    SessionMiddleware::builder(store, cookie_key)
        .cookie_name(
            if https {
                "__Host-sp_session"
            } else {
                "sp_session"
            }
            .into(),
        )
        .cookie_secure(https)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Strict)
        .cookie_path("/".into())
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(
            BrowserSession::default()
                .state_ttl(idle)
                .state_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
        )
        .build()
}

/// RFC 9110 §9.3.2: HEAD is GET without the content. actix routes a HEAD only to routes that
/// name it, so without this every page, API read, asset and probe would answer HEAD with 404 or
/// 405. Routed as its GET, a HEAD gets the GET's status and headers (Content-Length included);
/// actix-http noted the HEAD when it parsed the request and sends no body whatever the handler
/// returns. Handlers see GET: they have nothing to do differently, except where `asked_with_head`
/// tells them that the work behind the body can be skipped.
///
/// Innermost of the app's middlewares, right before routing: the request must still be
/// unshared to be changed (the outer ones copy what they need and keep no clone).
async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
        req.extensions_mut().insert(AskedWithHead);
    }
    next.call(req).await
}

/// Marks a request that came as HEAD and is routed as its GET (`head_as_get`).
#[derive(Clone, Copy)]
pub struct AskedWithHead;

/// The method as the client sent it, for what is recorded (§7) and for the rare handler whose
/// GET is expensive for nothing when no body will be sent.
pub fn asked_with_head(req: &HttpRequest) -> bool {
    req.extensions().contains::<AskedWithHead>()
}

/// An address for machines (probes, assets): GET and HEAD, and any other method a 405 that
/// names them.
fn get_only<F, Args>(path: &str, handler: F) -> Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::resource(path)
        .get(handler)
        .default_service(web::to(|| async {
            HttpResponse::MethodNotAllowed()
                .insert_header((header::ALLOW, "GET, HEAD"))
                .content_type("text/plain")
                .body("Only GET and HEAD are offered here.")
        }))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    use diesel::RunQueryDsl;
    let pool = state.pool.clone();
    // Answered within a probe's usual timeout, not after the pool's full wait for a connection.
    let ok = web::block(move || -> anyhow::Result<()> {
        let mut c = pool.get_timeout(std::time::Duration::from_secs(2))?;
        diesel::sql_query("SELECT 1").execute(&mut c)?;
        Ok(())
    })
    .await
    .is_ok_and(|r| r.is_ok());
    if ok {
        HttpResponse::Ok().content_type("text/plain").body("ready")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unreachable")
    }
}

/// One line per request: method, path and status. Never the query string, where the Submission
/// API's clients put their token.
async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = req.method().clone();
    let path = req.path().to_owned();
    let started = std::time::Instant::now();
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    tracing::info!(%method, %path, status, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    res
}
