//! Edges of the JSON API and the Submission API: answers read outside the
//! change's transaction, `?orgId=` and empty or compressed bodies answered with the wrong
//! status, a blank name accepted on add, a 503 without `Retry-After`, and a token given twice.
use crate::helpers::*;
use diesel::prelude::*;
use reqwest::{Method, header};
use sandbox_portal::db::schema::{organizations as o, submissions as s};
use sandbox_portal::domain::role::Role;
use serde_json::{Value, json};
use std::io::{Read, Write};
use uuid::Uuid;

const API: &str = "/api/v1";

/// A script on the JSON API: a cookie jar, no browser headers.
struct Api {
    base: String,
    client: reqwest::Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }

    /// An error answer with this status and code.
    fn refused(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert!(!self.message().is_empty(), "{}", self.body);
        self
    }

    fn says(&self, words: &str) -> &Self {
        assert!(
            self.message().contains(words),
            "wanted {words:?} in {:?}",
            self.message()
        );
        self
    }
}

impl Api {
    async fn as_user(app: &TestApp, username: &str, role: Role, orgs: &[Uuid]) -> Api {
        app.user(username, role, orgs);
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let api = Api {
            base: app.addr.clone(),
            client: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar,
        };
        let r = api
            .json(
                Method::POST,
                "/authenticatedSession",
                json!({"username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        api
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{API}{path}", self.base))
    }

    async fn send(req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        Self::send(self.request(Method::GET, path)).await
    }

    async fn json(&self, method: Method, path: &str, body: Value) -> Reply {
        Self::send(self.request(method, path).json(&body)).await
    }

    /// What many clients send when there is nothing to send: the JSON header, no body.
    async fn empty_json(&self, method: Method, path: &str) -> Reply {
        Self::send(
            self.request(method, path)
                .header(header::CONTENT_TYPE, "application/json"),
        )
        .await
    }

    fn cookie(&self) -> String {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&self.base.parse().unwrap())
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

fn success_rows(app: &TestApp, action: &str) -> usize {
    app.audit_actions()
        .iter()
        .filter(|(a, r, _)| a == action && r == "SUCCESS")
        .count()
}

// --- 1. The answer to a change is read in the change's transaction ---------------------------

/// An app whose database gives up on a lock after a moment, as a busy production database
/// would under `lock_timeout`, instead of waiting for ever.
async fn app_with_lock_timeout() -> TestApp {
    let db = TestDb::new();
    let mut admin = PgConnection::establish(&maintenance_url(&db.url)).unwrap();
    diesel::sql_query(format!(
        "ALTER DATABASE {} SET lock_timeout = '300ms'",
        db.name
    ))
    .execute(&mut admin)
    .unwrap();
    TestApp::spawn_on(db).await
}

/// Another session holding the usage table, e.g. a maintenance job. The token list (what the
/// answer to a token change is built from) reads that table; add, regenerate and disable do
/// not touch it, so with this held the change itself succeeds and only its answer cannot be
/// read.
struct UsageTableHeld(PgConnection);

impl UsageTableHeld {
    fn take(app: &TestApp) -> UsageTableHeld {
        let mut c = PgConnection::establish(&app.db.url).unwrap();
        diesel::sql_query("BEGIN").execute(&mut c).unwrap();
        diesel::sql_query("LOCK TABLE token_daily_usage IN ACCESS EXCLUSIVE MODE")
            .execute(&mut c)
            .unwrap();
        UsageTableHeld(c)
    }
}

impl Drop for UsageTableHeld {
    fn drop(&mut self) {
        let _ = diesel::sql_query("ROLLBACK").execute(&mut self.0);
    }
}

/// The token page with htmx shows a new value only in the answer to the add or regenerate:
/// when that answer cannot be read, the change is undone too, so no value is lost unseen (the
/// old one revoked, the new one never shown).
#[actix_web::test]
async fn on_the_page_an_add_or_regenerate_whose_answer_cannot_be_read_is_undone() {
    let app = app_with_lock_timeout().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;

    let held = UsageTableHeld::take(&app);
    let added = b.hx_post(&add_url(org.id), &[("name", "ci")]).await;
    let regenerated = b
        .hx_post(&token_url(org.id, token.id, "regenerate"), &[])
        .await;
    drop(held);
    for (what, res) in [("add", added), ("regenerate", regenerated)] {
        assert!(res.status().as_u16() >= 500, "{what}: {}", res.status());
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("token-value"),
            "{what}: no value shown: {body}"
        );
    }
    assert_eq!(app.tokens(org.id).len(), 1, "the add was undone");
    assert_eq!(
        app.value_of(org.id, token.id),
        value,
        "the old value still works"
    );

    // With the table free, both work and show the new value.
    let added = b.hx_post(&add_url(org.id), &[("name", "ci")]).await;
    assert_eq!(added.status(), 201);
    let regenerated = b
        .hx_post(&token_url(org.id, token.id, "regenerate"), &[])
        .await;
    assert_eq!(regenerated.status(), 200);
    let new_value = app.value_of(org.id, token.id);
    assert_ne!(new_value, value);
    assert!(
        regenerated
            .text()
            .await
            .unwrap()
            .contains(new_value.expose())
    );
}

#[actix_web::test]
async fn a_token_change_whose_answer_cannot_be_read_is_undone_so_a_retry_is_safe() {
    let app = app_with_lock_timeout().await;
    let (org, token) = app.org("Acme");
    let admin = Api::as_user(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let support = Api::as_user(&app, "sam", Role::Support, &[]).await;
    let value = app.value_of(org.id, token.id);

    let audited = |app: &TestApp| {
        ["ADD_TOKEN", "REGENERATE_TOKEN", "DISABLE_TOKEN"].map(|a| success_rows(app, a))
    };
    let audited_before = audited(&app);

    let held = UsageTableHeld::take(&app);
    let added = admin
        .json(Method::POST, &tokens_of(org.id), json!({"name": "ci"}))
        .await;
    let regenerated = admin
        .json(
            Method::POST,
            &tok(org.id, token.id, "regenerate"),
            json!({}),
        )
        .await;
    let disabled = support
        .json(
            Method::POST,
            &format!(
                "/support/orgs/{}/sandboxApiTokens/{}/disable",
                org.id, token.id
            ),
            json!({"reason": "abuse"}),
        )
        .await;
    drop(held);

    // Each failed, and its failure is the truth: nothing was changed, so trying again neither
    // adds a second token nor rotates the value the client never received.
    for (what, r) in [
        ("add", &added),
        ("regenerate", &regenerated),
        ("disable", &disabled),
    ] {
        assert!(r.status >= 500, "{what}: {} {}", r.status, r.body);
        assert!(r.body.get("token").is_none(), "{what}: {}", r.body);
    }
    let tokens = app.tokens(org.id);
    assert_eq!(tokens.len(), 1, "the add was undone");
    assert_eq!(
        app.value_of(org.id, token.id),
        value,
        "the value is the old one"
    );
    assert!(tokens[0].disabled_at.is_none(), "the disable was undone");
    assert_eq!(audited(&app), audited_before, "audited as done");

    // Once the table is free the same calls succeed, and the answers are the committed state.
    let added = admin
        .json(Method::POST, &tokens_of(org.id), json!({"name": "ci"}))
        .await;
    assert_eq!(added.status, 201, "{}", added.body);
    let regenerated = admin
        .json(
            Method::POST,
            &tok(org.id, token.id, "regenerate"),
            json!({}),
        )
        .await;
    assert_eq!(regenerated.status, 200, "{}", regenerated.body);
    let listed = admin.get(&tokens_of(org.id)).await;
    for answer in [&added.body, &regenerated.body] {
        let id = answer["id"].as_str().unwrap();
        let row = listed.body["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap();
        for field in [
            "name",
            "maskedToken",
            "lastModifiedOn",
            "createdOn",
            "status",
        ] {
            assert_eq!(answer[field], row[field], "{field}");
        }
    }
    assert_ne!(app.value_of(org.id, token.id), value);
}

// --- 2. ?orgId= ---------------------------------------------------------------------------

#[actix_web::test]
async fn a_malformed_org_id_is_a_400_naming_org_id_and_an_unknown_one_stays_a_404() {
    let app = TestApp::spawn().await;
    let (acme, token) = app.org("Acme");
    let (globex, _) = app.org("Globex");
    let admin = Api::as_user(&app, "alice", Role::OrgAdmin, &[acme.id]).await;
    let support = Api::as_user(&app, "sam", Role::Support, &[]).await;

    for api in [&admin, &support] {
        for path in [
            "/sandboxApiTokens?orgId=nope",
            "/sandboxApiTokens?orgId=",
            "/sandbox/report/quota?orgId=nope",
            "/auditLogs?orgId=nope",
            "/auditLogs?orgId=",
        ] {
            api.get(path)
                .await
                .refused(400, "BAD_REQUEST")
                .says("orgId")
                .says("organization id");
        }
    }
    // A change aimed at a malformed org changes nothing.
    admin
        .json(
            Method::POST,
            "/sandboxApiTokens?orgId=nope",
            json!({"name": "x"}),
        )
        .await
        .refused(400, "BAD_REQUEST")
        .says("orgId");
    assert_eq!(
        Api::send(admin.request(
            Method::DELETE,
            &format!("/sandboxApiTokens/{}?orgId=nope", token.id)
        ))
        .await
        .status,
        400
    );
    assert_eq!(app.tokens(acme.id).len(), 1);

    // Well-formed but unknown, or another org's: 404, as before.
    let unknown = Uuid::new_v4();
    admin
        .get(&tokens_of(globex.id))
        .await
        .refused(404, "NOT_FOUND");
    admin
        .get(&format!("/auditLogs?orgId={}", globex.id))
        .await
        .refused(404, "NOT_FOUND");
    support
        .get(&tokens_of(unknown))
        .await
        .refused(404, "NOT_FOUND");

    // Named twice: said so, by name.
    for path in [
        format!("/sandboxApiTokens?orgId={}&orgId={}", acme.id, globex.id),
        format!("/sandboxApiTokens?orgId={0}&orgId={0}", acme.id),
        format!("/auditLogs?orgId={}&orgId={}", acme.id, globex.id),
    ] {
        support
            .get(&path)
            .await
            .refused(400, "BAD_REQUEST")
            .says("orgId is given more than once");
    }

    // The pages' ?org= works as it did: an org that parses opens, one that does not is 404.
    let mut b = Browser::new(&app.addr);
    assert_eq!(b.login("sam", PASSWORD).await.status(), 303);
    b.refresh_csrf_at(&page_of(acme.id)).await;
    assert_eq!(b.get(&page_of(globex.id)).await.status(), 200);
    assert_eq!(b.get(&format!("{PAGE}?org=nope")).await.status(), 404);
    assert_eq!(b.get(&format!("{PAGE}?org=")).await.status(), 404);
    assert_eq!(
        b.get(&format!("{PAGE}?org={}&org={}", acme.id, globex.id))
            .await
            .status(),
        400
    );
}

// --- 3. An empty body with Content-Type: application/json ---------------------------------

/// A chunked request whose body turns out empty (reqwest cannot send one without a stream).
fn chunked_empty_post(app: &TestApp, path: &str, cookie: &str) -> (u16, String) {
    let addr = app.addr.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {API}{path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[actix_web::test]
async fn an_empty_json_body_is_no_body_where_one_is_optional_and_said_to_be_missing_where_required()
{
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let admin = Api::as_user(&app, "alice", Role::OrgAdmin, &[org.id]).await;

    let added = admin.empty_json(Method::POST, &tokens_of(org.id)).await;
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(added.body["name"], "Token 2");
    let (status, answer) = chunked_empty_post(&app, &tokens_of(org.id), &admin.cookie());
    assert_eq!(status, 201, "{answer}");
    assert!(answer.contains("\"name\":\"Token 3\""), "{answer}");

    // Required: the answer says a body is needed, not that "" is bad JSON.
    let renamed = admin
        .empty_json(Method::PUT, &tok(org.id, token.id, ""))
        .await;
    renamed
        .refused(400, "BAD_REQUEST")
        .says("needs a JSON body");
    assert!(!renamed.message().contains("not valid JSON"));
    assert_eq!(app.tokens(org.id)[0].name, token.name);
    // A body that is there but broken is still a syntax error.
    Api::send(
        admin
            .request(Method::PUT, &tok(org.id, token.id, ""))
            .header(header::CONTENT_TYPE, "application/json")
            .body("{"),
    )
    .await
    .refused(400, "BAD_REQUEST")
    .says("not valid JSON");
}

// --- 4. A name given on add is held to R9 ---------------------------------------------------

#[actix_web::test]
async fn a_blank_name_on_add_is_refused_like_a_rename_after_the_orgs_rules() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let admin = Api::as_user(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let rename = admin
        .json(Method::PUT, &tok(org.id, token.id, ""), json!({"name": ""}))
        .await;
    rename.refused(400, "BAD_REQUEST");

    for name in ["", "   ", "eleven chars"] {
        let r = admin
            .json(Method::POST, &tokens_of(org.id), json!({ "name": name }))
            .await;
        r.refused(400, "BAD_REQUEST");
        if name.trim().is_empty() {
            assert_eq!(r.message(), rename.message());
        }
    }
    assert_eq!(app.tokens(org.id).len(), 1);
    assert_eq!(
        success_rows(&app, "ADD_TOKEN"),
        1,
        "only the provisioned one"
    );

    // At the limit the org's rule comes first, whatever the name, and the same through the
    // API and the page (R13): one order, in `service::tokens::add`.
    diesel::update(o::table.find(org.id))
        .set(o::token_limit.eq(1))
        .execute(&mut app.conn())
        .unwrap();
    for name in [" ", "eleven chars", "ok"] {
        admin
            .json(Method::POST, &tokens_of(org.id), json!({ "name": name }))
            .await
            .refused(409, "TOKEN_LIMIT_REACHED");
    }
    let page = app.login_as("adele", Role::OrgAdmin, &[org.id]).await;
    for name in ["eleven chars", "ok"] {
        let res = page.hx_post(&add_url(org.id), &[("name", name)]).await;
        assert_eq!(res.status(), 409, "{name}");
    }
    diesel::update(o::table.find(org.id))
        .set(o::token_limit.eq(5))
        .execute(&mut app.conn())
        .unwrap();

    // Left out, or null: the default name.
    let r = admin
        .json(Method::POST, &tokens_of(org.id), json!({ "name": null }))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["name"], "Token 2");
    // A name that is given is stored as R9 trims it.
    let r = admin
        .json(
            Method::POST,
            &tokens_of(org.id),
            json!({ "name": "  ci  " }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["name"], "ci");

    // The page's form sends its empty field to mean "the default name", as it did.
    let b = app.login_as("ada", Role::OrgAdmin, &[org.id]).await;
    let res = b.post_form(&add_url(org.id), &[("name", "")]).await;
    assert!(res.status().is_success() || res.status().is_redirection());
    assert!(app.tokens(org.id).iter().any(|t| t.name == "Token 3"));
}

// --- 5. A compressed body is 415 ------------------------------------------------------------

#[actix_web::test]
async fn a_compressed_management_body_is_415_and_documented_on_every_operation_with_a_body() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let admin = Api::as_user(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"name":"zipped"}"#).unwrap();
    let r = Api::send(
        admin
            .request(Method::PUT, &tok(org.id, token.id, ""))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_ENCODING, "gzip")
            .body(gz.finish().unwrap()),
    )
    .await;
    r.refused(415, "UNSUPPORTED_MEDIA_TYPE")
        .says("uncompressed");
    assert_eq!(app.tokens(org.id)[0].name, token.name);

    let doc = admin.get("/openapi.json").await.body;
    let mut with_body = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let documented = op["responses"].get("415").is_some();
            if op.get("requestBody").is_some() {
                with_body += 1;
                assert!(documented, "{method} {path}: 415");
            } else {
                assert!(!documented, "{method} {path} takes no body");
            }
        }
    }
    assert!(with_body >= 8, "{with_body}");
}

// --- 6 and 7. The Submission API -------------------------------------------------------------

#[actix_web::test]
async fn a_submission_that_cannot_be_recorded_is_a_503_with_retry_after() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);

    let outage = Outage::start(&app);
    let res = reqwest::Client::new()
        .post(format!("{}/zscsb/submit?force=1", app.addr))
        .bearer_auth(value.expose())
        .body("%PDF-1.7\nhello")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
    let body: Value = res.json().await.unwrap();
    drop(outage);

    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], 503);
    assert_eq!(retry_after.unwrap(), "5");
}

#[actix_web::test]
async fn a_submission_naming_its_token_twice_differently_is_refused_without_the_values() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let (_, other) = app.add_token(org.id, "other");
    let client = reqwest::Client::new();
    let submit = format!("{}/zscsb/submit", app.addr);
    let bad = "sbx_bad_value_given_second";

    let two_headers = client
        .post(&submit)
        .header(header::AUTHORIZATION, format!("Bearer {}", value.expose()))
        .header(header::AUTHORIZATION, format!("Bearer {bad}"))
        .body("hello")
        .send()
        .await
        .unwrap();
    let bearer_and_query = client
        .post(format!("{submit}?api_token={}", other.expose()))
        .bearer_auth(value.expose())
        .body("hello")
        .send()
        .await
        .unwrap();
    let two_queries = client
        .post(format!(
            "{submit}?api_token={}&api_token={}",
            value.expose(),
            other.expose()
        ))
        .body("hello")
        .send()
        .await
        .unwrap();
    for (what, res, words) in [
        ("two headers", two_headers, "one, Authorization"),
        ("bearer and query", bearer_and_query, "more than once"),
        ("two queries", two_queries, "more than once"),
    ] {
        assert_eq!(res.status(), 400, "{what}");
        let text = res.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["code"], 400, "{what}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(words), "{what}: {message}");
        for v in [value.expose(), other.expose(), bad] {
            assert!(!text.contains(v), "{what}: a value in {text}");
        }
    }
    let recorded: i64 = s::table.count().get_result(&mut app.conn()).unwrap();
    assert_eq!(recorded, 0);

    // The same value both ways is one token, and accepted.
    let same = client
        .post(format!("{submit}?api_token={}&force=1", value.expose()))
        .bearer_auth(value.expose())
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    let logs = captured_logs();
    for v in [value.expose(), other.expose(), bad] {
        assert!(!logs.contains(v), "a token value in the logs");
    }
}
