//! Contract points found by a hands-on review of both APIs, the CLI and the page routes:
//! headers the HTTP RFCs require, errors a person can act on, and the interfaces agreeing
//! (R13).
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use sandbox_portal::domain::role::Role;
use serde_json::{Value, json};
use uuid::Uuid;

const API: &str = "/api/v1";

/// A script on the JSON API: a cookie jar, no browser headers.
struct Script {
    base: String,
    client: reqwest::Client,
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }

    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }

    /// A 400 (`BAD_REQUEST`) whose message says `expected`.
    fn bad_request(&self, expected: &str) {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "{}", self.body);
        assert_eq!(self.body["code"], "BAD_REQUEST", "{}", self.body);
        assert!(
            self.message().contains(expected),
            "wanted {expected:?} in {:?}",
            self.message()
        );
    }
}

impl Script {
    fn new(app: &TestApp) -> Script {
        Script {
            base: app.addr.clone(),
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    async fn as_user(app: &TestApp, username: &str, role: Role, orgs: &[Uuid]) -> Script {
        app.user(username, role, orgs);
        let s = Script::new(app);
        let r = s
            .send(
                Method::POST,
                "/authenticatedSession",
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        s
    }

    async fn raw(&self, method: Method, path: &str, body: Option<&str>) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{API}{path}", self.base));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let text = body.map(|b| b.to_string());
        self.raw(method, path, text.as_deref()).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }
}

#[actix_web::test]
async fn every_401_of_the_submission_api_carries_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();
    let submit = format!("{}/zscsb/submit", app.addr);

    let missing = client.post(&submit).body("x").send().await.unwrap();
    let unknown = client
        .post(format!("{}/zscsb/discan", app.addr))
        .bearer_auth("sbx_not_a_real_token")
        .body("x")
        .send()
        .await
        .unwrap();

    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.headers()["www-authenticate"],
        r#"Bearer realm="Sandbox Submission API""#
    );
    assert_eq!(unknown.status(), 401);
    assert_eq!(
        unknown.headers()["www-authenticate"],
        r#"Bearer realm="Sandbox Submission API", error="invalid_token""#
    );
}

#[actix_web::test]
async fn every_401_of_the_json_api_says_where_to_log_in() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let anonymous = Script::new(&app);
    let challenge = r#"Cookie realm="sandbox-portal", form-action="/api/v1/authenticatedSession", cookie-name="sp_session""#;

    let who = anonymous.get("/authenticatedSession").await;
    let list = anonymous.get("/sandboxApiTokens").await;
    let wrong_password = anonymous
        .send(
            Method::POST,
            "/authenticatedSession",
            Some(json!({"username": "alice", "password": "not the password"})),
        )
        .await;

    for r in [&who, &list, &wrong_password] {
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(r.header("www-authenticate"), challenge);
    }
    let me = Script::as_user(&app, "bob", Role::OrgViewer, &[org.id]).await;
    let ok = me.get("/authenticatedSession").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("www-authenticate"), "");
}

/// Audit rows of `action` by `actor`, at `at`, straight into the table (the trigger fills in
/// the chain), so that dates can be tested without waiting for them.
fn event_at(app: &TestApp, org: Uuid, actor: &str, action: &str, at: &str) {
    use diesel::prelude::*;
    diesel::sql_query(
        "INSERT INTO audit_events (actor, org_id, action, interface, result, details, occurred_at)
         VALUES ($1, $2, $3, 'API', 'SUCCESS', '{}', $4::timestamptz)",
    )
    .bind::<diesel::sql_types::Text, _>(actor)
    .bind::<diesel::sql_types::Uuid, _>(org)
    .bind::<diesel::sql_types::Text, _>(action)
    .bind::<diesel::sql_types::Text, _>(at)
    .execute(&mut app.conn())
    .unwrap();
}

fn actions_of(r: &Reply) -> Vec<(String, String)> {
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["occurredAt"].as_str().unwrap()[..10].to_owned(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn the_audit_api_filters_by_user_and_dates_like_the_audit_page() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let (other, _) = app.org("Globex");
    // Within the retention period, which the server purges at start.
    let day = |n: i64| (chrono::Utc::now().date_naive() - chrono::Days::new(n as u64)).to_string();
    let (d1, d2, d3) = (day(20), day(19), day(18));
    event_at(
        &app,
        org.id,
        "Viewer",
        "REVEAL_TOKEN",
        &format!("{d1}T12:00:00Z"),
    );
    event_at(
        &app,
        org.id,
        "admin",
        "RENAME_TOKEN",
        &format!("{d2}T23:59:59Z"),
    );
    event_at(
        &app,
        org.id,
        "admin",
        "RENAME_TOKEN",
        &format!("{d3}T00:00:00Z"),
    );
    event_at(
        &app,
        other.id,
        "viewer",
        "REVEAL_TOKEN",
        &format!("{d1}T12:00:00Z"),
    );
    let admin = Script::as_user(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let support = Script::as_user(&app, "sam", Role::Support, &[]).await;

    let by_user = admin.get("/auditLogs?user=viewer").await;
    let in_range = admin
        .get(&format!("/auditLogs?from={d2}&to={d2}&action=RENAME_TOKEN"))
        .await;
    let future = admin.get("/auditLogs?from=2099-01-01").await;
    let support_one_org = support
        .get(&format!("/auditLogs?orgId={}&user=VIEWER", other.id))
        .await;

    // Any case, and only the caller's org: the same rule as the page.
    assert_eq!(actions_of(&by_user), [("Viewer".into(), d1.clone())]);
    // `to` takes in the whole day, and not a microsecond of the next.
    assert_eq!(actions_of(&in_range), [("admin".into(), d2)]);
    assert_eq!(actions_of(&future), []);
    assert_eq!(actions_of(&support_one_org), [("viewer".into(), d1)]);
}

#[actix_web::test]
async fn the_audit_api_refuses_unknown_parameters_and_bad_dates_by_name() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let admin = Script::as_user(&app, "alice", Role::OrgAdmin, &[org.id]).await;

    let unknown = admin
        .get("/auditLogs?since=2026-01-01&actor=bob&page=1")
        .await;
    let bad_date = admin.get("/auditLogs?from=tomorrow").await;
    let reversed = admin.get("/auditLogs?from=2026-02-01&to=2026-01-01").await;
    let ancient = admin.get("/auditLogs?to=0001-01-01").await;

    unknown.bad_request(r#"Unknown query parameters "actor", "since""#);
    assert!(
        unknown.message().contains("from, to"),
        "{}",
        unknown.message()
    );
    bad_date.bad_request("The \"from\" date must look like 2026-11-28");
    assert!(!bad_date.message().contains("tomorrow"));
    reversed.bad_request("ends before it starts");
    // Well formed, out of range: says so rather than asking for the shape it already has.
    ancient.bad_request("The \"to\" date must be in a year from 1970 to 9999");
}

#[actix_web::test]
async fn malformed_json_and_queries_are_explained_in_a_persons_words_without_the_value() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let admin = Script::as_user(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let support = Script::as_user(&app, "sam", Role::Support, &[]).await;
    let rename = format!("/sandboxApiTokens/{}?orgId={}", token.id, org.id);

    let array = admin.raw(Method::PUT, &rename, Some("[]")).await;
    let bad_date = support
        .send(
            Method::POST,
            "/support/orgs",
            Some(json!({"name": "BadDate", "subscriptionExpiresAt": "tomorrow"})),
        )
        .await;
    let big_limit = support
        .send(
            Method::POST,
            "/support/orgs",
            Some(json!({"name": "Big", "tokenLimit": 3_000_000_000_u64})),
        )
        .await;
    let bad_role = support
        .send(
            Method::POST,
            "/support/users",
            Some(json!({"username": "u", "password": PASSWORD, "role": "hunter2"})),
        )
        .await;
    let bad_org_id = support
        .send(
            Method::POST,
            "/support/users",
            Some(
                json!({"username": "u", "password": PASSWORD, "role": "org_admin",
                        "orgIds": ["hunter2"]}),
            ),
        )
        .await;
    let negative_page = admin.get("/auditLogs?page=-1").await;
    let word_page = support.get("/support/orgs?page=hunter2").await;
    let broken = admin.raw(Method::PUT, &rename, Some("{\"name\": ")).await;

    array.bad_request("The body must be a JSON object");
    bad_date.bad_request(
        "subscriptionExpiresAt must be an RFC 3339 date-time such as 2027-01-31T00:00:00Z",
    );
    big_limit.bad_request("tokenLimit must be a whole number");
    bad_role.bad_request("role must be one of org_admin, org_viewer");
    bad_org_id.bad_request("orgIds[0] must be an id (a UUID");
    negative_page.bad_request("page must be a whole number from 1");
    word_page.bad_request("page must be a whole number from 1");
    broken.bad_request("The body is not valid JSON (line 1, column");
    for r in [
        &array,
        &bad_date,
        &big_limit,
        &bad_role,
        &bad_org_id,
        &negative_page,
        &word_page,
        &broken,
    ] {
        let m = r.message();
        for internal in [
            "hunter2",
            "tomorrow",
            "3000000000",
            "struct",
            "deserialize",
            "u32",
        ] {
            assert!(!m.contains(internal), "{internal} in {m:?}");
        }
    }
    assert_eq!(
        app.tokens(org.id)[0].name,
        token.name,
        "nothing was written"
    );
}

#[actix_web::test]
async fn a_wrong_method_on_a_page_address_is_a_405_page_with_allow() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let browser = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;

    for path in [
        "/logout",
        &token_url(org.id, token.id, "reveal"),
        &add_url(org.id),
    ] {
        let res = browser.get(path).await;
        assert_eq!(res.status(), 405, "GET {path}");
        assert_eq!(res.headers()["allow"], "POST", "GET {path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = res.text().await.unwrap();
        assert!(page.contains("only takes a form submission"), "{page}");
        // The portal's own page, with the header of a logged-in person.
        assert!(page.contains("alice"), "{page}");
    }
    let post_to_a_page = browser.post_form("/admin/audit-log", &[]).await;
    assert_eq!(post_to_a_page.status(), 405);
    assert_eq!(post_to_a_page.headers()["allow"], "GET, HEAD");
    assert_eq!(browser.get("/no/such/page").await.status(), 404);
    assert_eq!(browser.get(&format!("{PAGE}/nothing")).await.status(), 404);
    // Still there: the GET did nothing.
    assert_eq!(browser.get(PAGE).await.status(), 200);
}

fn org_named(app: &TestApp, name: &str) -> bool {
    sandbox_portal::db::orgs::find_by_name(&mut app.conn(), name)
        .unwrap()
        .is_some()
}

#[actix_web::test]
async fn an_org_cannot_be_provisioned_already_expired() {
    let app = TestApp::spawn().await;
    let support = Script::as_user(&app, "sam", Role::Support, &[]).await;
    let past = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();

    let expired = support
        .send(
            Method::POST,
            "/support/orgs",
            Some(json!({"name": "Past", "subscriptionExpiresAt": "2020-01-01T00:00:00Z"})),
        )
        .await;
    let just_past = support
        .send(
            Method::POST,
            "/support/orgs",
            Some(json!({"name": "Past", "subscriptionExpiresAt": past})),
        )
        .await;
    let without = support
        .send(Method::POST, "/support/orgs", Some(json!({"name": "Past"})))
        .await;

    expired.bad_request("must end in the future");
    assert!(expired.message().contains("leave the end out"));
    just_past.bad_request("must end in the future");
    assert_eq!(without.status, 201, "{}", without.body);
    assert_eq!(without.body["subscription"]["expiresAt"], Value::Null);
}

#[actix_web::test]
async fn a_cloud_that_is_not_a_domain_name_is_refused_by_api_ui_and_cli() {
    let app = TestApp::spawn().await;
    let api = Script::as_user(&app, "sam", Role::Support, &[]).await;
    let mut ui = app.login_as_support("sue").await;
    ui.refresh_csrf_at("/support/orgs").await;

    let by_api = api
        .send(
            Method::POST,
            "/support/orgs",
            Some(json!({"name": "Bad1", "cloud": "not a cloud!!"})),
        )
        .await;
    let by_ui = ui
        .post_form(
            "/support/orgs",
            &[
                ("name", "Bad2"),
                ("cloud", "not a cloud!!"),
                ("subscription_days", "30"),
            ],
        )
        .await;
    let by_cli = crate::cli::cli(
        &app.db.url,
        &[
            "org",
            "create",
            "--name",
            "Bad3",
            "--cloud",
            "not a cloud!!",
        ],
        None,
    );
    let good = api
        .send(
            Method::POST,
            "/support/orgs",
            Some(json!({"name": "Good", "cloud": "ZscalerBeta.net"})),
        )
        .await;

    by_api.bad_request("The cloud name must be a domain name such as zscalerbeta.net");
    assert_eq!(by_ui.status(), 400);
    assert!(
        by_ui
            .text()
            .await
            .unwrap()
            .contains("must be a domain name")
    );
    assert!(!by_cli.status.success());
    assert!(String::from_utf8_lossy(&by_cli.stderr).contains("must be a domain name"));
    for name in ["Bad1", "Bad2", "Bad3"] {
        assert!(!org_named(&app, name), "{name} was written");
    }
    assert_eq!(good.status, 201, "{}", good.body);
    assert_eq!(good.body["cloud"], "zscalerbeta.net");
}

#[actix_web::test]
async fn user_create_without_any_password_says_none_was_given() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let org = org.id.to_string();
    let args = [
        "user",
        "create",
        "--username",
        "u10",
        "--role",
        "org_viewer",
        "--org",
        &org,
    ];

    let nothing = crate::cli::cli(&app.db.url, &args, None);
    let empty_line = crate::cli::cli(&app.db.url, &args, Some("\n"));

    for out in [&nothing, &empty_line] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("no password was given"), "{stderr}");
        assert!(stderr.contains("SANDBOX_PORTAL_PASSWORD"), "{stderr}");
        assert!(!stderr.contains("12 characters"), "{stderr}");
    }
    assert!(
        sandbox_portal::db::users::find_by_username(&mut app.conn(), "u10")
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_missing_option_s_usage_line_does_not_list_options_taken_from_the_environment() {
    let data = std::env::temp_dir().join("sandbox-portal-usage-test");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sandbox-portal"))
        .args(["org", "create"])
        .env("SANDBOX_PORTAL_DATA", &data)
        .env("DATABASE_URL", "postgres://nowhere.invalid/db")
        .env("BIND", "127.0.0.1:0")
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--name <NAME>"), "{stderr}");
    assert!(
        stderr.contains("Usage: sandbox-portal org create --name <NAME>"),
        "{stderr}"
    );
    for from_env in ["--data-dir", "--database-url", "--bind"] {
        assert!(!stderr.contains(from_env), "{from_env} in {stderr}");
    }
    assert!(!data.exists(), "nothing ran");
}

/// A body that names a field twice is refused, whichever copy a proxy in front would have
/// read: it never acts on the last one silently. Nested objects are checked too.
#[actix_web::test]
async fn a_body_that_names_a_field_twice_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let admin = Script::as_user(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let rename = format!("/sandboxApiTokens/{}?orgId={}", token.id, org.id);

    let twice = admin
        .raw(Method::PUT, &rename, Some(r#"{"name":"a","name":"b"}"#))
        .await;
    twice.bad_request(r#""name" is given more than once"#);
    assert_eq!(app.tokens(org.id)[0].name, token.name, "not renamed");

    let login = Script::new(&app)
        .raw(
            Method::POST,
            "/authenticatedSession",
            Some(&format!(
                r#"{{"username":"mallory","username":"alice","password":"{PASSWORD}"}}"#
            )),
        )
        .await;
    login.bad_request(r#""username" is given more than once"#);
    let nested = admin
        .raw(
            Method::PUT,
            &rename,
            Some(r#"{"name":"c","extra":{"k":1,"k":2}}"#),
        )
        .await;
    nested.bad_request(r#""k" is given more than once"#);
    // Once each is fine.
    admin
        .raw(Method::PUT, &rename, Some(r#"{"name":"b"}"#))
        .await;
    assert_eq!(app.tokens(org.id)[0].name, "b");
}
