//! Test harness: one PostgreSQL server per run (DATABASE_URL's, or a private cluster under
//! target/), a migrated template database made once, and a fresh database cloned from it for each
//! test, dropped afterwards. Each test starts the real app on port 0 and talks HTTP to it.
#![allow(dead_code)]

use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use reqwest::header::{HeaderMap, HeaderValue};
use sandbox_portal::config::{Secret, Settings};
use sandbox_portal::db::audit::Actor;
use sandbox_portal::db::models::{Org, Token};
use sandbox_portal::db::orgs::NewOrg;
use sandbox_portal::db::{self, DbPool};
use sandbox_portal::domain::role::Role;
use sandbox_portal::domain::token::{TokenKeys, TokenValue};
use sandbox_portal::pgcluster::PrivateCluster;
use sandbox_portal::service;
use sandbox_portal::startup::Application;
use std::sync::OnceLock;
use uuid::Uuid;

pub const SECRET: &str = "integration-test-secret-key-0123456789abcdef";
pub const PASSWORD: &str = "correct horse battery staple";
pub const PAGE: &str = "/admin/cloud-service-api-security/sandbox-api-token";

/// Every log line the apps of this test run write, kept so that tests can check what never
/// appears in them (token values, query strings). Also echoed when RUST_LOG is set.
pub static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        if std::env::var_os("RUST_LOG").is_some() {
            eprint!("{}", String::from_utf8_lossy(buf));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn install_log_capture() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            // The browser driver's chatter is not the app's logs.
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info,chromiumoxide=error".into()),
        ))
        .with_ansi(false)
        .with_writer(|| LogSink)
        .try_init();
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

struct Server {
    /// URL of the maintenance database, used to create and drop test databases.
    admin_url: String,
    template: String,
    _cluster: Option<PrivateCluster>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn with_db(url: &str, name: &str) -> String {
    let mut u = url::Url::parse(url).expect("database URL");
    u.set_path(&format!("/{name}"));
    u.to_string()
}

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        install_log_capture();
        let (admin_url, cluster) = match std::env::var("DATABASE_URL") {
            Ok(url) => (with_db(&url, "postgres"), None),
            Err(_) => {
                // Under /tmp rather than target/: as root the cluster runs as the postgres user,
                // who may not be able to reach a checkout under /root.
                let dir = std::env::temp_dir().join(format!(
                    "sandbox-portal-it-{}",
                    &hex::encode(sandbox_portal::domain::token::hmac_sha256(
                        b"test cluster",
                        env!("CARGO_MANIFEST_DIR").as_bytes()
                    ))[..12]
                ));
                let cluster =
                    PrivateCluster::start_throwaway(&dir).expect("private PostgreSQL cluster");
                (cluster.url("postgres"), Some(cluster))
            }
        };
        let mut admin = PgConnection::establish(&admin_url).expect("connect to PostgreSQL");
        sweep_leftovers(&mut admin);
        let template = format!("sp_tpl_{}", Uuid::new_v4().simple());
        diesel::sql_query(format!("CREATE DATABASE {template}"))
            .execute(&mut admin)
            .expect("create template database");
        let mut conn =
            PgConnection::establish(&with_db(&admin_url, &template)).expect("connect to template");
        db::run_migrations(&mut conn).expect("migrate template");
        drop(conn);
        Server {
            admin_url,
            template,
            _cluster: cluster,
        }
    })
}

/// Databases of earlier runs that crashed before dropping them.
fn sweep_leftovers(admin: &mut PgConnection) {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let names: Vec<Name> = diesel::sql_query(
        "SELECT datname FROM pg_database d WHERE (datname LIKE 'sp_test_%' OR datname LIKE 'sp_tpl_%') \
         AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname) \
         AND (pg_stat_file('base/' || d.oid || '/PG_VERSION', true)).modification < now() - interval '2 hours'",
    )
    .load(admin)
    .unwrap_or_default();
    for n in names {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {}", n.datname)).execute(admin);
    }
}

pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> TestDb {
        let s = server();
        let name = format!("sp_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&s.admin_url).expect("connect admin");
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {}", s.template))
            .execute(&mut admin)
            .expect("clone template");
        TestDb {
            url: with_db(&s.admin_url, &name),
            name,
        }
    }

    /// An empty database, not migrated (for the migration test).
    pub fn empty() -> TestDb {
        let s = server();
        let name = format!("sp_test_{}", Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&s.admin_url).expect("connect admin");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create database");
        TestDb {
            url: with_db(&s.admin_url, &name),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&server().admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

pub struct TestApp {
    pub addr: String,
    pub gate: std::sync::Arc<sandbox_portal::submission::gate::TokenGate>,
    pub pool: DbPool,
    pub keys: TokenKeys,
    pub db: TestDb,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sending the command is enough: awaiting it here would block the runtime that runs
        // the server. The database is then dropped WITH (FORCE).
        drop(self.handle.stop(false));
    }
}

pub struct Instance {
    pub addr: String,
    pub gate: std::sync::Arc<sandbox_portal::submission::gate::TokenGate>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Waits for a condition that another thread brings about (the gate's listener), polling with a
/// bound instead of sleeping a fixed time.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

pub fn settings(db_url: &str) -> Settings {
    Settings {
        database_url: Secret::new(db_url.to_owned()),
        bind: "127.0.0.1:0".into(),
        api_base_url: Some("https://csbapi.zscalerbeta.net".into()),
        public_url: None,
        secret_key: Secret::new(SECRET.into()),
        session_idle: chrono::Duration::minutes(30),
        session_absolute: chrono::Duration::hours(12),
        pool_size: 8,
        workers: Some(2),
        trusted_proxies: Vec::new(),
        submission_max_bytes: 64 * 1024,
        audit_retention_days: 180,
        submission_retention_days: 180,
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        let db = TestDb::new();
        Self::spawn_on(db).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
        let db = TestDb::new();
        let mut s = settings(&db.url);
        adjust(&mut s);
        Self::start(db, s).await
    }

    pub async fn spawn_on(db: TestDb) -> TestApp {
        let s = settings(&db.url);
        Self::start(db, s).await
    }

    async fn start(db: TestDb, settings: Settings) -> TestApp {
        let app = Application::build(settings)
            .await
            .expect("application builds");
        let addr = format!("http://127.0.0.1:{}", app.port());
        let pool = app.pool().clone();
        let handle = app.server_handle();
        let gate = app.gate();
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            addr,
            gate,
            pool,
            keys: TokenKeys::derive(SECRET.as_bytes()),
            db,
            handle,
        }
    }

    /// A second instance of the portal on the same database, as in a multi-instance deployment.
    pub async fn another_instance(&self) -> Instance {
        let app = Application::build(settings(&self.db.url))
            .await
            .expect("second instance builds");
        let instance = Instance {
            addr: format!("http://127.0.0.1:{}", app.port()),
            gate: app.gate(),
            handle: app.server_handle(),
        };
        actix_web::rt::spawn(app.run_until_stopped());
        instance
    }

    pub fn conn(&self) -> db::DbConn {
        self.pool.get().expect("db connection")
    }

    /// An org with an active subscription and, as provisioned (R2), one token.
    pub fn org(&self, name: &str) -> (Org, Token) {
        let mut conn = self.conn();
        let (org, token) = service::orgs::provision(
            &mut conn,
            &self.keys,
            &Actor::cli(),
            &NewOrg {
                name,
                cloud: "zscalerbeta.net",
                subscription_expires_at: Some(chrono::Utc::now() + chrono::Duration::days(30)),
                token_limit: 5,
                daily_quota: 100,
                abuse_threshold: 1000,
            },
        )
        .expect("provision org");
        let token = token.expect("first token");
        self.wait_for_gate(org.id, token.id);
        (org, token)
    }

    /// The gate learns of new tokens through NOTIFY, a moment after the commit: tests that
    /// submit right away wait for it rather than race it.
    pub fn wait_for_gate(&self, org: Uuid, token: Uuid) {
        let digest = self.keys.digest(&self.value_of(org, token));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.gate.check(&digest, chrono::Utc::now())
            == sandbox_portal::submission::gate::Verdict::Unknown
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the gate never learnt the token"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    pub fn user(&self, username: &str, role: Role, orgs: &[Uuid]) {
        let mut conn = self.conn();
        service::users::create(&mut conn, &Actor::cli(), username, PASSWORD, role, orgs)
            .expect("create user");
    }

    pub fn add_token(&self, org: Uuid, name: &str) -> (Token, TokenValue) {
        let mut conn = self.conn();
        let added = service::tokens::add(&mut conn, &self.keys, &Actor::cli(), org, Some(name))
            .expect("add");
        drop(conn);
        self.wait_for_gate(org, added.0.id);
        added
    }

    pub fn tokens(&self, org: Uuid) -> Vec<Token> {
        db::tokens::list(&mut self.conn(), org).expect("list tokens")
    }

    pub fn value_of(&self, org: Uuid, token: Uuid) -> TokenValue {
        let sealed = db::tokens::sealed_value(&mut self.conn(), org, token)
            .expect("query")
            .expect("token exists");
        self.keys.decrypt(token, &sealed).expect("decrypt")
    }

    pub fn token_for_value(&self, value: &TokenValue) -> Option<Token> {
        service::tokens::find_by_value(&mut self.conn(), &self.keys, value).expect("lookup")
    }

    pub fn audit_actions(&self) -> Vec<(String, String, Option<Uuid>)> {
        use db::schema::audit_events as a;
        a::table
            .order(a::id.asc())
            .select((a::action, a::result, a::resource_id))
            .load(&mut self.conn())
            .expect("audit rows")
    }

    pub fn audit_dump(&self) -> String {
        #[derive(QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            row: String,
        }
        let rows: Vec<Row> =
            diesel::sql_query("SELECT row_to_json(a)::text AS row FROM audit_events a")
                .load(&mut self.conn())
                .expect("audit dump");
        rows.into_iter()
            .map(|r| r.row)
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn client(&self) -> Browser {
        Browser::new(&self.addr)
    }

    /// A browser logged in as a new support user (who lands on the console).
    pub async fn login_as_support(&self, username: &str) -> Browser {
        self.user(username, Role::Support, &[]);
        let mut b = self.client();
        assert_eq!(b.login(username, PASSWORD).await.status(), 303);
        b
    }

    /// A browser already logged in as a new user with this role.
    pub async fn login_as(&self, username: &str, role: Role, orgs: &[Uuid]) -> Browser {
        self.user(username, role, orgs);
        let mut b = self.client();
        let res = b.login(username, PASSWORD).await;
        assert_eq!(res.status(), 303, "login of {username} should redirect");
        b.refresh_csrf().await;
        b
    }
}

/// A cookie-keeping HTTP client that behaves like a browser without JavaScript, plus helpers to
/// send the requests htmx would send.
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
    pub csrf: String,
}

pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Browser {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jar,
            csrf: String::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The session cookie as the browser would send it.
    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&self.base.parse().expect("url"))
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    pub async fn login(&mut self, username: &str, password: &str) -> reqwest::Response {
        let page = self.text("/login").await;
        let csrf = csrf_in(&page).expect("login form has a CSRF token");
        self.client
            .post(self.url("/login"))
            .form(&[
                ("username", username),
                ("password", password),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .expect("POST /login")
    }

    pub async fn refresh_csrf(&mut self) {
        self.refresh_csrf_at(PAGE).await;
    }

    pub async fn refresh_csrf_at(&mut self, path: &str) {
        let page = self.text(path).await;
        self.csrf = csrf_in(&page).expect("the page carries a CSRF token");
    }

    /// A plain form POST, as with JavaScript off.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &self.csrf));
        self.client
            .post(self.url(path))
            .form(&all)
            .send()
            .await
            .expect("POST")
    }

    fn htmx_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("HX-Request", HeaderValue::from_static("true"));
        h.insert(
            "X-CSRF-Token",
            HeaderValue::from_str(&self.csrf).expect("header"),
        );
        h
    }

    /// What htmx sends: the CSRF token as a header, HX-Request set.
    pub async fn hx_post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .headers(self.htmx_headers())
            .form(fields)
            .send()
            .await
            .expect("htmx POST")
    }

    pub async fn hx_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .headers(self.htmx_headers())
            .send()
            .await
            .expect("htmx GET")
    }
}

pub fn page_of(org: Uuid) -> String {
    format!("{PAGE}?org={org}")
}

pub fn token_url(org: Uuid, token: Uuid, action: &str) -> String {
    format!("{PAGE}/tokens/{token}/{action}?org={org}")
}

pub fn add_url(org: Uuid) -> String {
    format!("{PAGE}/tokens?org={org}")
}

/// An API path to an org's tokens, as a user who sees several orgs must name it.
pub fn tokens_of(org: Uuid) -> String {
    format!("/sandboxApiTokens?orgId={org}")
}

/// An API path to one token (`action` "" for the token itself).
pub fn tok(org: Uuid, token: Uuid, action: &str) -> String {
    match action {
        "" => format!("/sandboxApiTokens/{token}?orgId={org}"),
        a => format!("/sandboxApiTokens/{token}/{a}?orgId={org}"),
    }
}

/// A Submission API call with the token as Bearer: the status, the JSON answer, the headers.
pub async fn submit(
    base: &str,
    token: &str,
    body: &[u8],
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let res = reqwest::Client::new()
        .post(format!("{base}/zscsb/submit?force=1"))
        .bearer_auth(token)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let json = res.json().await.unwrap_or(serde_json::Value::Null);
    (status, json, headers)
}

/// The maintenance database of the server a test database lives on.
pub fn maintenance_url(db_url: &str) -> String {
    let mut u = url::Url::parse(db_url).unwrap();
    u.set_path("/postgres");
    u.to_string()
}

/// The test database refuses new connections and the app's are ended: as far as the app can
/// tell, the database is down. Undone on drop so the database can be dropped as usual.
pub struct Outage {
    admin_url: String,
    name: String,
}

impl Outage {
    pub fn start(app: &TestApp) -> Outage {
        let outage = Outage {
            admin_url: maintenance_url(&app.db.url),
            name: app.db.name.clone(),
        };
        let mut admin = PgConnection::establish(&outage.admin_url).unwrap();
        for sql in [
            format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
                outage.name
            ),
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                outage.name
            ),
        ] {
            diesel::sql_query(sql).execute(&mut admin).unwrap();
        }
        outage
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}
