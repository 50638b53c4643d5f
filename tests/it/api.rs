//! The JSON management API of SPEC §6, over real HTTP against the real app.
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use sandbox_portal::db;
use sandbox_portal::domain::role::Role;
use sandbox_portal::domain::token::TokenValue;
use serde_json::{Value, json};
use uuid::Uuid;

const API: &str = "/api/v1";

/// A script talking to the API: JSON in and out, a cookie jar, no browser headers.
struct Api {
    base: String,
    client: reqwest::Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// Asserts an error answer: status, code, and a message for people.
    fn refused(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(self.code(), code, "{}", self.body);
        assert!(
            !self.body["message"].as_str().unwrap_or("").is_empty(),
            "{}",
            self.body
        );
    }

    fn no_store(&self) -> bool {
        self.headers
            .get("cache-control")
            .is_some_and(|v| v.to_str().unwrap().contains("no-store"))
    }

    fn value(&self) -> TokenValue {
        TokenValue::parse(self.body["token"].as_str().expect("a token value")).expect("well-formed")
    }
}

impl Api {
    fn new(app: &TestApp) -> Api {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Api {
            base: app.addr.clone(),
            client: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar,
        }
    }

    fn cookie(&self) -> String {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&self.base.parse().unwrap())
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{API}{path}", self.base))
    }

    async fn answer(req: reqwest::RequestBuilder) -> Answer {
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text:?}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::answer(req).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn post_empty(&self, path: &str) -> Answer {
        self.call(Method::POST, path, None).await
    }

    async fn put(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }

    async fn login(&self, username: &str, password: &str) -> Answer {
        self.post(
            "/authenticatedSession",
            json!({ "username": username, "password": password }),
        )
        .await
    }
}

/// A new user of this role, logged in through the API.
async fn api_as(app: &TestApp, username: &str, role: Role, orgs: &[Uuid]) -> Api {
    app.user(username, role, orgs);
    let api = Api::new(app);
    let res = api.login(username, PASSWORD).await;
    assert_eq!(res.status, 200, "login of {username}: {}", res.body);
    api
}

/// (action, interface, result, resource) of every audit row, oldest first.
fn audit_rows(app: &TestApp) -> Vec<(String, String, String, Option<Uuid>)> {
    use db::schema::audit_events as a;
    use diesel::prelude::*;
    a::table
        .order(a::id.asc())
        .select((a::action, a::interface, a::result, a::resource_id))
        .load(&mut app.conn())
        .unwrap()
}

fn later(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

#[actix_web::test]
async fn login_sets_the_session_cookie_ignores_api_key_and_timestamp_and_is_audited_as_api() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let api = Api::new(&app);

    let res = api
        .post(
            "/authenticatedSession",
            json!({ "username": "alice", "password": PASSWORD,
                    "apiKey": "zia-legacy-key", "timestamp": "1700000000000" }),
        )
        .await;

    assert_eq!(res.status, 200, "{}", res.body);
    assert_eq!(
        res.body,
        json!({ "username": "alice", "role": "org_admin", "orgIds": [org.id] })
    );
    let set_cookie = res
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("sp_session="))
        .expect("the session cookie");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let me = api.get("/authenticatedSession").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["username"], "alice");
    let logins: Vec<_> = audit_rows(&app)
        .into_iter()
        .filter(|r| r.0 == "LOGIN")
        .collect();
    assert_eq!(logins.len(), 1);
    assert_eq!(
        (logins[0].1.as_str(), logins[0].2.as_str()),
        ("API", "SUCCESS")
    );
    assert!(!app.audit_dump().contains("zia-legacy-key"));
}

#[actix_web::test]
async fn without_a_session_the_api_answers_401_json_and_authorization_precedes_input_checks() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let api = Api::new(&app);
    api.get("/authenticatedSession")
        .await
        .refused(401, "UNAUTHORIZED");
    api.get(&tokens_of(org.id))
        .await
        .refused(401, "UNAUTHORIZED");
    api.post_empty(&tok(org.id, token.id, "reveal"))
        .await
        .refused(401, "UNAUTHORIZED");
    api.delete("/authenticatedSession")
        .await
        .refused(401, "UNAUTHORIZED");
    // Authorization is decided before the body is looked at.
    let broken = api
        .request(Method::POST, &tokens_of(org.id))
        .header("content-type", "application/json")
        .body("{");
    Api::answer(broken).await.refused(401, "UNAUTHORIZED");
    let viewer = api_as(&app, "vera", Role::OrgViewer, &[org.id]).await;
    viewer
        .put(&tok(org.id, token.id, ""), json!({}))
        .await
        .refused(403, "FORBIDDEN");
    viewer
        .get("/support/orgs?page=abc")
        .await
        .refused(403, "FORBIDDEN");
}

#[actix_web::test]
async fn a_wrong_password_is_401_and_repeated_failures_are_429_with_retry_after() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let api = Api::new(&app);
    for _ in 0..5 {
        api.login("alice", "wrong")
            .await
            .refused(401, "UNAUTHORIZED");
    }
    let res = api.login("alice", PASSWORD).await;
    res.refused(429, "TOO_MANY_REQUESTS");
    let wait: u64 = res.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1);
    assert!(api.cookie().is_empty(), "no session for a refused login");
}

#[actix_web::test]
async fn logout_deletes_the_server_side_session_and_is_audited() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let api = api_as(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let stolen = api.cookie();

    let res = api.delete("/authenticatedSession").await;

    assert_eq!(res.status, 204);
    // §9: the browser drops what it kept of the session, as at the web logout.
    assert_eq!(
        res.headers
            .get("clear-site-data")
            .map(|v| v.to_str().unwrap()),
        Some("\"cache\", \"storage\"")
    );
    api.get("/authenticatedSession")
        .await
        .refused(401, "UNAUTHORIZED");
    let replay = Api::answer(
        reqwest::Client::new()
            .get(format!("{}{API}/authenticatedSession", app.addr))
            .header("Cookie", stolen),
    )
    .await;
    replay.refused(401, "UNAUTHORIZED");
    assert!(
        audit_rows(&app)
            .iter()
            .any(|r| r.0 == "LOGOUT" && r.1 == "API")
    );
}

#[actix_web::test]
async fn r3_r5_r6_r9_add_reveal_rename_regenerate_delete_through_the_api_each_audited_as_api() {
    let app = TestApp::spawn().await;
    let (org, first) = app.org("Acme");
    let api = api_as(&app, "alice", Role::OrgAdmin, &[org.id]).await;

    // The list is masked (R3) and has the fields of §6.
    let list = api.get("/sandboxApiTokens").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["baseUrl"], "https://csbapi.zscalerbeta.net");
    assert_eq!(list.body["tokenLimit"], 5);
    assert_eq!(list.body["subscription"]["status"], "ACTIVE");
    let listed = &list.body["tokens"][0];
    assert_eq!(listed["id"], json!(first.id));
    assert_eq!(listed["status"], "ENABLED");
    assert_eq!(listed["lastUsedOn"], Value::Null);
    assert_eq!(listed["callsToday"], 0);
    for field in [
        "name",
        "maskedToken",
        "disabledReason",
        "lastModifiedBy",
        "lastModifiedOn",
        "createdOn",
    ] {
        assert!(listed.get(field).is_some(), "{field} in {listed}");
    }
    let created = listed["createdOn"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok() && created.ends_with('Z'));
    let first_value = app.value_of(org.id, first.id);
    assert!(!list.body.to_string().contains(first_value.expose()));

    // Add: 201, the value once, not cached.
    let added = api.post("/sandboxApiTokens", json!({ "name": "ci" })).await;
    assert_eq!(added.status, 201, "{}", added.body);
    assert!(added.no_store());
    assert_eq!(added.body["name"], "ci");
    assert_eq!(added.body["status"], "ENABLED");
    let id: Uuid = serde_json::from_value(added.body["id"].clone()).unwrap();
    let value = added.value();
    assert_eq!(app.token_for_value(&value).map(|t| t.id), Some(id));

    // Reveal.
    let revealed = api.post_empty(&tok(org.id, id, "reveal")).await;
    assert_eq!(revealed.status, 200);
    assert!(revealed.no_store());
    assert_eq!(revealed.body, json!({ "token": value.expose() }));

    // Rename (R9).
    let renamed = api
        .put(&tok(org.id, id, ""), json!({ "name": " ci-prod " }))
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "ci-prod");
    assert!(renamed.body.get("token").is_none());

    // Regenerate (R5): the old value matches nothing at once.
    let regenerated = api.post_empty(&tok(org.id, id, "regenerate")).await;
    assert_eq!(regenerated.status, 200);
    assert!(regenerated.no_store());
    let new_value = regenerated.value();
    assert_ne!(new_value, value);
    assert!(app.token_for_value(&value).is_none());
    assert_eq!(app.token_for_value(&new_value).map(|t| t.id), Some(id));

    // Delete (R6).
    let deleted = api.delete(&tok(org.id, id, "")).await;
    assert_eq!(deleted.status, 204);
    assert!(app.token_for_value(&new_value).is_none());
    assert_eq!(app.tokens(org.id).len(), 1);

    let rows = audit_rows(&app);
    for action in [
        "ADD_TOKEN",
        "REVEAL_TOKEN",
        "RENAME_TOKEN",
        "REGENERATE_TOKEN",
        "DELETE_TOKEN",
    ] {
        let matching: Vec<_> = rows
            .iter()
            .filter(|r| r.0 == action && r.1 == "API")
            .collect();
        assert_eq!(matching.len(), 1, "{action}: {rows:?}");
        assert_eq!(matching[0].3, Some(id), "{action}");
    }
    let dump = app.audit_dump();
    assert!(!dump.contains(value.expose()) && !dump.contains(new_value.expose()));
}

#[actix_web::test]
async fn add_without_a_body_names_the_token_itself() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let api = api_as(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let added = api.post_empty("/sandboxApiTokens").await;
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(added.body["name"], "Token 2");
}

#[actix_web::test]
async fn malformed_input_gets_400_json_that_says_what_is_wrong() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let api = api_as(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let json_text = |method: Method, path: &str, text: &'static str| {
        api.request(method, path)
            .header("content-type", "application/json")
            .body(text)
    };

    let broken = Api::answer(json_text(Method::POST, "/sandboxApiTokens", "{\"name\": ")).await;
    broken.refused(400, "BAD_REQUEST");
    assert!(broken.body["message"].as_str().unwrap().contains("JSON"));

    let missing = api.put(&tok(org.id, token.id, ""), json!({})).await;
    missing.refused(400, "BAD_REQUEST");
    assert!(
        missing.body["message"]
            .as_str()
            .unwrap()
            .contains("name is required"),
        "{}",
        missing.body
    );

    let wrong_type = api
        .put(&tok(org.id, token.id, ""), json!({ "name": 5 }))
        .await;
    wrong_type.refused(400, "BAD_REQUEST");
    assert!(
        wrong_type.body["message"]
            .as_str()
            .unwrap()
            .contains("name must be a string"),
        "{}",
        wrong_type.body
    );

    let too_long = api
        .post("/sandboxApiTokens", json!({ "name": "elevenchars" }))
        .await;
    too_long.refused(400, "BAD_REQUEST");

    let not_json = Api::answer(
        api.request(Method::PUT, &tok(org.id, token.id, ""))
            .header("content-type", "text/plain")
            .body("name=x"),
    )
    .await;
    not_json.refused(400, "BAD_REQUEST");

    api.get("/auditLogs?page=abc")
        .await
        .refused(400, "BAD_REQUEST");
    api.get("/no/such/route").await.refused(404, "NOT_FOUND");
    assert_eq!(app.tokens(org.id).len(), 1);
    assert_eq!(app.tokens(org.id)[0].name, token.name);
}

#[actix_web::test]
async fn an_oversized_body_gets_413_json() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let api = api_as(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let big = "x".repeat(100 * 1024);
    let res = api.post("/sandboxApiTokens", json!({ "name": big })).await;
    res.refused(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(app.tokens(org.id).len(), 1);
}

#[actix_web::test]
async fn another_orgs_token_id_and_a_malformed_id_give_404() {
    let app = TestApp::spawn().await;
    let (mine, _) = app.org("Acme");
    let (theirs, their_token) = app.org("Globex");
    let api = api_as(&app, "alice", Role::OrgAdmin, &[mine.id]).await;
    for res in [
        api.post_empty(&tok(mine.id, their_token.id, "reveal"))
            .await,
        api.post_empty(&tok(mine.id, their_token.id, "regenerate"))
            .await,
        api.put(&tok(mine.id, their_token.id, ""), json!({ "name": "mine" }))
            .await,
        api.delete(&tok(mine.id, their_token.id, "")).await,
        api.delete(&tok(theirs.id, their_token.id, "")).await,
        api.get(&tokens_of(theirs.id)).await,
        api.post_empty(&format!(
            "/sandboxApiTokens/not-a-uuid/reveal?orgId={}",
            mine.id
        ))
        .await,
    ] {
        res.refused(404, "NOT_FOUND");
    }
    // A malformed ?orgId= is an input error, not an id (review_b).
    api.get("/sandboxApiTokens?orgId=not-a-uuid")
        .await
        .refused(400, "BAD_REQUEST");
    assert_eq!(app.tokens(theirs.id)[0].name, their_token.name);
    assert_eq!(app.tokens(theirs.id).len(), 1);
}

#[actix_web::test]
async fn r8_an_expired_subscription_refuses_every_change_and_renewal_restores_the_same_values() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let (second, _) = app.add_token(org.id, "second");
    let values = [
        app.value_of(org.id, token.id),
        app.value_of(org.id, second.id),
    ];
    let support = api_as(&app, "sam", Role::Support, &[]).await;
    let admin = api_as(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let sub = format!("/support/orgs/{}/subscription", org.id);

    let expired = support.put(&sub, json!({ "expiresAt": later(-1) })).await;
    assert_eq!(expired.status, 200, "{}", expired.body);
    assert_eq!(expired.body["subscription"]["status"], "EXPIRED");

    let list = admin.get("/sandboxApiTokens").await;
    assert_eq!(list.status, 200, "GETs keep working");
    assert_eq!(list.body["subscription"]["status"], "EXPIRED");
    for t in list.body["tokens"].as_array().unwrap() {
        assert_eq!(t["status"], "DISABLED");
        assert_eq!(t["disabledReason"], "Sandbox subscription expired");
    }
    assert_eq!(admin.get("/sandbox/report/quota").await.status, 200);
    for res in [
        admin
            .post("/sandboxApiTokens", json!({ "name": "new" }))
            .await,
        admin.post_empty(&tok(org.id, token.id, "reveal")).await,
        admin
            .put(&tok(org.id, token.id, ""), json!({ "name": "x" }))
            .await,
        admin.post_empty(&tok(org.id, token.id, "regenerate")).await,
        admin.delete(&tok(org.id, second.id, "")).await,
    ] {
        res.refused(403, "SUBSCRIPTION_EXPIRED");
    }
    // Not invalidated: the values still belong to their tokens.
    for v in &values {
        assert!(app.token_for_value(v).is_some());
    }

    let renewed = support.put(&sub, json!({ "expiresAt": later(365) })).await;
    assert_eq!(renewed.body["subscription"]["status"], "ACTIVE");
    let list = admin.get("/sandboxApiTokens").await;
    assert!(
        list.body["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "ENABLED")
    );
    assert_eq!(
        app.token_for_value(&values[0]).map(|t| t.id),
        Some(token.id)
    );
    assert_eq!(
        app.token_for_value(&values[1]).map(|t| t.id),
        Some(second.id)
    );
    let revealed = admin.post_empty(&tok(org.id, token.id, "reveal")).await;
    assert_eq!(revealed.body["token"], values[0].expose());
    assert_eq!(
        admin
            .put(&tok(org.id, token.id, ""), json!({ "name": "again" }))
            .await
            .status,
        200
    );
    assert_eq!(admin.post_empty("/sandboxApiTokens").await.status, 201);

    let changes: Vec<_> = audit_rows(&app)
        .into_iter()
        .filter(|r| r.0 == "SUBSCRIPTION_CHANGE")
        .collect();
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|r| r.1 == "API" && r.3 == Some(org.id)));
}

#[actix_web::test]
async fn r7_support_disables_a_token_then_regenerate_and_delete_get_token_disabled_and_add_is_refused()
 {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let (other, _) = app.add_token(org.id, "other");
    let support = api_as(&app, "sam", Role::Support, &[]).await;
    let admin = api_as(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let base = format!("/support/orgs/{}/sandboxApiTokens/{}", org.id, token.id);

    support
        .post(&format!("{base}/disable"), json!({ "reason": "" }))
        .await
        .refused(400, "BAD_REQUEST");
    support
        .post(&format!("{base}/disable"), json!({}))
        .await
        .refused(400, "BAD_REQUEST");
    let disabled = support
        .post(
            &format!("{base}/disable"),
            json!({ "reason": "terms violation" }),
        )
        .await;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert_eq!(disabled.body["status"], "DISABLED");
    assert_eq!(disabled.body["disabledReason"], "terms violation");

    admin
        .post_empty(&tok(org.id, token.id, "regenerate"))
        .await
        .refused(403, "TOKEN_DISABLED");
    admin
        .delete(&tok(org.id, token.id, ""))
        .await
        .refused(403, "TOKEN_DISABLED");
    admin
        .post("/sandboxApiTokens", json!({}))
        .await
        .refused(403, "TOKEN_DISABLED");
    // The other token is not disabled: it may still be regenerated.
    assert_eq!(
        admin
            .post_empty(&tok(org.id, other.id, "regenerate"))
            .await
            .status,
        200
    );
    // Only support re-enables.
    admin
        .post_empty(&format!("{base}/enable"))
        .await
        .refused(403, "FORBIDDEN");

    let enabled = support.post_empty(&format!("{base}/enable")).await;
    assert_eq!(enabled.status, 200);
    assert_eq!(enabled.body["status"], "ENABLED");
    assert_eq!(enabled.body["disabledReason"], Value::Null);
    assert_eq!(admin.post("/sandboxApiTokens", json!({})).await.status, 201);
    assert_eq!(
        admin
            .post_empty(&tok(org.id, token.id, "regenerate"))
            .await
            .status,
        200
    );
    let rows = audit_rows(&app);
    assert!(
        rows.iter()
            .any(|r| r.0 == "DISABLE_TOKEN" && r.3 == Some(token.id))
    );
    assert!(
        rows.iter()
            .any(|r| r.0 == "ENABLE_TOKEN" && r.3 == Some(token.id))
    );

    let elsewhere = format!(
        "/support/orgs/{}/sandboxApiTokens/{}/disable",
        Uuid::new_v4(),
        token.id
    );
    support
        .post(&elsewhere, json!({ "reason": "x" }))
        .await
        .refused(404, "NOT_FOUND");
}

#[actix_web::test]
async fn r10_support_disables_the_orgs_api_access_and_every_token_shows_disabled() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    app.add_token(org.id, "other");
    let support = api_as(&app, "sam", Role::Support, &[]).await;
    let admin = api_as(&app, "alice", Role::OrgAdmin, &[org.id]).await;

    let off = support
        .post(
            &format!("/support/orgs/{}/disable", org.id),
            json!({ "reason": "API call threshold exceeded" }),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.body["apiAccess"]["status"], "DISABLED");
    assert_eq!(
        off.body["apiAccess"]["disabledReason"],
        "API call threshold exceeded"
    );

    let list = admin.get("/sandboxApiTokens").await;
    let tokens = list.body["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().all(|t| t["status"] == "DISABLED"));
    admin
        .post("/sandboxApiTokens", json!({}))
        .await
        .refused(403, "TOKEN_DISABLED");
    admin
        .post_empty(&tok(org.id, token.id, "regenerate"))
        .await
        .refused(403, "TOKEN_DISABLED");

    let on = support
        .post_empty(&format!("/support/orgs/{}/enable", org.id))
        .await;
    assert_eq!(on.body["apiAccess"]["status"], "ENABLED");
    let list = admin.get("/sandboxApiTokens").await;
    assert!(
        list.body["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "ENABLED")
    );
    let rows = audit_rows(&app);
    assert!(
        rows.iter()
            .any(|r| r.0 == "DISABLE_ORG_API" && r.1 == "API")
    );
    assert!(rows.iter().any(|r| r.0 == "ENABLE_ORG_API" && r.1 == "API"));
}

#[actix_web::test]
async fn r4_support_lowers_the_limit_and_add_at_the_limit_gets_409_token_limit_reached() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let support = api_as(&app, "sam", Role::Support, &[]).await;
    let admin = api_as(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let limits = format!("/support/orgs/{}/limits", org.id);

    support
        .put(&limits, json!({ "tokenLimit": 0 }))
        .await
        .refused(400, "BAD_REQUEST");
    let changed = support
        .put(&limits, json!({ "tokenLimit": 2, "dailyQuota": 7 }))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["tokenLimit"], 2);
    assert_eq!(changed.body["dailyQuota"], 7);
    assert_eq!(changed.body["abuseThreshold"], 1000, "left out, kept");

    assert_eq!(admin.post("/sandboxApiTokens", json!({})).await.status, 201);
    admin
        .post("/sandboxApiTokens", json!({}))
        .await
        .refused(409, "TOKEN_LIMIT_REACHED");
    assert_eq!(app.tokens(org.id).len(), 2);

    let quota = admin.get("/sandbox/report/quota").await;
    assert_eq!(quota.status, 200);
    let q = &quota.body[0];
    assert_eq!(
        (q["allowed"].clone(), q["scale"].clone()),
        (json!(7), json!("DAILY"))
    );
    assert_eq!(
        (q["used"].clone(), q["unused"].clone()),
        (json!(0), json!(7))
    );
    let start = q["startTime"].as_str().unwrap();
    assert!(start.ends_with("T00:00:00Z"), "{start}");
    assert!(
        audit_rows(&app)
            .iter()
            .any(|r| r.0 == "LIMITS_CHANGE" && r.3 == Some(org.id))
    );
}

#[actix_web::test]
async fn r2_support_provisions_an_org_with_one_enabled_token_finds_it_and_gives_it_users() {
    let app = TestApp::spawn().await;
    app.org("Globex");
    let support = api_as(&app, "sam", Role::Support, &[]).await;

    let created = support
        .post(
            "/support/orgs",
            json!({ "name": "Initech", "subscriptionExpiresAt": later(30) }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["cloud"], "zscaler.net");
    assert_eq!(created.body["tokenLimit"], 5);
    assert_eq!(created.body["dailyQuota"], 100);
    assert_eq!(created.body["abuseThreshold"], 1000);
    assert_eq!(created.body["tokenCount"], 1);
    let org: Uuid = serde_json::from_value(created.body["id"].clone()).unwrap();
    let tokens = app.tokens(org);
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].disabled_at.is_none());
    support
        .post("/support/orgs", json!({ "name": "initech" }))
        .await
        .refused(409, "CONFLICT");
    support
        .post("/support/orgs", json!({ "cloud": "x" }))
        .await
        .refused(400, "BAD_REQUEST");

    let found = support.get("/support/orgs?search=INIT").await;
    assert_eq!(found.status, 200);
    let names: Vec<_> = found.body["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Initech"]);
    assert_eq!(found.body["orgs"][0]["subscription"]["status"], "ACTIVE");
    assert_eq!(found.body["orgs"][0]["apiAccess"]["status"], "ENABLED");
    let all = support.get("/support/orgs").await;
    assert_eq!(all.body["orgs"].as_array().unwrap().len(), 2);
    assert_eq!(all.body["hasMore"], false);
    assert_eq!(
        support.get("/support/orgs?search=%25").await.body["orgs"],
        json!([]),
        "a % is matched literally"
    );

    let user = support
        .post(
            "/support/users",
            json!({ "username": "ina", "password": PASSWORD, "role": "org_admin", "orgIds": [org] }),
        )
        .await;
    assert_eq!(user.status, 201, "{}", user.body);
    assert_eq!(user.body["role"], "org_admin");
    support
        .post(
            "/support/users",
            json!({ "username": "ina", "password": PASSWORD, "role": "org_admin", "orgIds": [org] }),
        )
        .await
        .refused(409, "CONFLICT");
    support
        .post(
            "/support/users",
            json!({ "username": "bob", "password": PASSWORD, "role": "root", "orgIds": [org] }),
        )
        .await
        .refused(400, "BAD_REQUEST");
    // A guessable password is refused with zxcvbn's reason, and nobody is created.
    let weak = support
        .post(
            "/support/users",
            json!({ "username": "ivy", "password": "P@ssw0rd2024!", "role": "org_admin", "orgIds": [org] }),
        )
        .await;
    weak.refused(400, "BAD_REQUEST");
    let message = weak.body["message"].as_str().unwrap();
    assert!(message.contains("too easy to guess"), "{message}");
    assert!(
        !message.contains("P@ssw0rd"),
        "the password is not echoed: {message}"
    );
    assert!(
        db::users::find_by_username(&mut app.conn(), "ivy")
            .unwrap()
            .is_none()
    );
    let ina = Api::new(&app);
    assert_eq!(ina.login("ina", PASSWORD).await.status, 200);
    let list = ina.get("/sandboxApiTokens").await;
    assert_eq!(list.body["tokens"][0]["status"], "ENABLED");

    let rows = audit_rows(&app);
    assert!(rows.iter().any(|r| r.0 == "PROVISION_ORG" && r.1 == "API"));
    assert!(rows.iter().any(|r| r.0 == "CREATE_USER" && r.1 == "API"));
}

#[actix_web::test]
async fn the_audit_log_shows_the_callers_org_to_admins_and_every_org_to_support() {
    let app = TestApp::spawn().await;
    let (mine, token) = app.org("Acme");
    let (theirs, _) = app.org("Globex");
    let admin = api_as(&app, "alice", Role::OrgAdmin, &[mine.id]).await;
    let support = api_as(&app, "sam", Role::Support, &[]).await;
    admin.post_empty(&tok(mine.id, token.id, "reveal")).await;

    let own = admin.get("/auditLogs").await;
    assert_eq!(own.status, 200);
    assert_eq!(
        (own.body["page"].clone(), own.body["pageSize"].clone()),
        (json!(1), json!(50))
    );
    let events = own.body["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e["orgId"] == json!(mine.id)),
        "{events:?}"
    );
    assert_eq!(events[0]["action"], "REVEAL_TOKEN", "newest first");
    assert_eq!(events[0]["interface"], "API");
    let reveals = admin.get("/auditLogs?action=REVEAL_TOKEN").await;
    assert_eq!(reveals.body["events"].as_array().unwrap().len(), 1);
    admin
        .get(&format!("/auditLogs?orgId={}", theirs.id))
        .await
        .refused(404, "NOT_FOUND");

    let every = support.get("/auditLogs").await;
    let orgs: std::collections::HashSet<_> = every.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["orgId"].clone())
        .collect();
    assert!(orgs.contains(&json!(mine.id)) && orgs.contains(&json!(theirs.id)));
    let one = support
        .get(&format!("/auditLogs?orgId={}", theirs.id))
        .await;
    assert!(
        one.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["orgId"] == json!(theirs.id))
    );
    let value = app.value_of(mine.id, token.id);
    assert!(!every.body.to_string().contains(value.expose()));
}

#[actix_web::test]
async fn cross_site_unsafe_requests_are_refused_and_same_origin_ones_pass() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let api = api_as(&app, "alice", Role::OrgAdmin, &[org.id]).await;
    let own_origin = app.addr.clone();
    let add = |h: &'static str, v: String| {
        api.request(Method::POST, "/sandboxApiTokens")
            .header(h, v)
            .json(&json!({}))
    };

    for req in [
        add("origin", "https://evil.example".into()),
        add("sec-fetch-site", "cross-site".into()),
        add("sec-fetch-site", "same-site".into()),
        add("origin", "null".into()),
    ] {
        let res = Api::answer(req).await;
        res.refused(403, "FORBIDDEN");
        assert_eq!(res.body["message"], "Cross-site request refused");
    }
    // A cross-site login is refused too: no login CSRF.
    let login = Api::answer(
        api.request(Method::POST, "/authenticatedSession")
            .header("origin", "https://evil.example")
            .json(&json!({ "username": "alice", "password": PASSWORD })),
    )
    .await;
    login.refused(403, "FORBIDDEN");
    assert_eq!(app.tokens(org.id).len(), 1);

    assert_eq!(
        Api::answer(add("origin", own_origin.clone())).await.status,
        201
    );
    assert_eq!(
        Api::answer(add("sec-fetch-site", "same-origin".into()))
            .await
            .status,
        201
    );
    assert_eq!(
        Api::answer(add("sec-fetch-site", "none".into()))
            .await
            .status,
        201
    );
    let read = Api::answer(
        api.request(Method::GET, "/sandboxApiTokens")
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site"),
    )
    .await;
    assert_eq!(read.status, 200, "reads are not refused");
}

/// The rows of SPEC §6, as (method, path) with OpenAPI's placeholders.
const SPEC_ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/authenticatedSession"),
    ("get", "/api/v1/authenticatedSession"),
    ("delete", "/api/v1/authenticatedSession"),
    ("get", "/api/v1/sandboxApiTokens"),
    ("post", "/api/v1/sandboxApiTokens"),
    ("post", "/api/v1/sandboxApiTokens/{id}/reveal"),
    ("put", "/api/v1/sandboxApiTokens/{id}"),
    ("post", "/api/v1/sandboxApiTokens/{id}/regenerate"),
    ("delete", "/api/v1/sandboxApiTokens/{id}"),
    ("get", "/api/v1/sandbox/report/quota"),
    ("get", "/api/v1/auditLogs"),
    ("get", "/api/v1/support/orgs"),
    ("post", "/api/v1/support/orgs"),
    ("put", "/api/v1/support/orgs/{id}/subscription"),
    ("put", "/api/v1/support/orgs/{id}/limits"),
    ("post", "/api/v1/support/orgs/{id}/disable"),
    ("post", "/api/v1/support/orgs/{id}/enable"),
    (
        "post",
        "/api/v1/support/orgs/{id}/sandboxApiTokens/{tid}/disable",
    ),
    (
        "post",
        "/api/v1/support/orgs/{id}/sandboxApiTokens/{tid}/enable",
    ),
    ("post", "/api/v1/support/users"),
    ("get", "/api/v1/openapi.json"),
];

#[actix_web::test]
async fn openapi_lists_exactly_the_routes_of_section_6_and_each_one_is_routed() {
    let app = TestApp::spawn().await;
    let api = Api::new(&app);
    let doc = api.get("/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    let mut listed: Vec<(String, String)> = Vec::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                listed.push((method.clone(), path.clone()));
            }
        }
    }
    let mut expected: Vec<(String, String)> = SPEC_ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    for schema in ["TokenObject", "ErrorBody", "SessionInfo", "OrgObject"] {
        assert!(
            doc.body["components"]["schemas"].get(schema).is_some(),
            "{schema}"
        );
    }

    // Everything the document lists answers (never the 404 of an unrouted path).
    let id = Uuid::new_v4();
    for (method, path) in &listed {
        let concrete = path
            .trim_start_matches(API)
            .replace("{id}", &id.to_string())
            .replace("{tid}", &id.to_string());
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = api.call(m, &concrete, Some(json!({}))).await;
        let expected = match (method.as_str(), concrete.as_str()) {
            ("get", "/openapi.json") => 200,
            ("post", "/authenticatedSession") => 400,
            _ => 401,
        };
        assert_eq!(
            res.status.as_u16(),
            expected,
            "{method} {path}: {}",
            res.body
        );
    }
}

/// (method, path, body, roles allowed, status when allowed)
type Case<'a> = (Method, String, Option<Value>, &'a [Role], u16);

/// Every API route × every role of §4 (plus no login) → the status the matrix gives.
#[actix_web::test]
async fn the_role_matrix_of_section_4_holds_for_every_api_route() {
    use Role::*;
    let app = TestApp::spawn().await;
    let all = [OrgAdmin, OrgViewer, ConnectorAdmin, PartnerViewer, Support];
    let auditors = [OrgAdmin, OrgViewer, Support];
    let revealers = [OrgAdmin, OrgViewer, ConnectorAdmin];
    let anyone: &[Role] = &all;
    let future = later(30);
    // An org nobody below is granted: its objects must be 404 for every org-bound role.
    let (foreign, f1) = app.org("Foreign");
    let (f2, _) = app.add_token(foreign.id, "two");
    let doc = Api::new(&app).get("/openapi.json").await.body;

    for role in all.iter().copied().map(Some).chain([None]) {
        let label = role.map_or("anonymous", |r| r.as_str());
        // Each role acts on an org of its own, so one role's changes cannot affect another's.
        let (org, t1) = app.org(&format!("Org {label}"));
        let (t2, _) = app.add_token(org.id, "two");
        let (t3, _) = app.add_token(org.id, "three");
        let api = match role {
            Some(Support) => api_as(&app, &format!("u-{label}"), Support, &[]).await,
            Some(r) => api_as(&app, &format!("u-{label}"), r, &[org.id]).await,
            None => Api::new(&app),
        };
        let o = org.id;
        let (a, b, c) = (t1.id, t2.id, t3.id);
        let table: Vec<Case> = vec![
            (
                Method::GET,
                "/authenticatedSession".into(),
                None,
                anyone,
                200,
            ),
            (Method::GET, tokens_of(o), None, anyone, 200),
            (
                Method::POST,
                tokens_of(o),
                Some(json!({})),
                &[OrgAdmin],
                201,
            ),
            (Method::POST, tok(o, a, "reveal"), None, &revealers, 200),
            (
                Method::PUT,
                tok(o, a, ""),
                Some(json!({ "name": "renamed" })),
                &[OrgAdmin],
                200,
            ),
            (
                Method::POST,
                tok(o, a, "regenerate"),
                None,
                &[OrgAdmin],
                200,
            ),
            (Method::DELETE, tok(o, b, ""), None, &[OrgAdmin], 204),
            (
                Method::GET,
                format!("/sandbox/report/quota?orgId={o}"),
                None,
                anyone,
                200,
            ),
            (Method::GET, "/auditLogs".into(), None, &auditors, 200),
            (Method::GET, "/support/orgs".into(), None, &[Support], 200),
            (
                Method::POST,
                "/support/orgs".into(),
                Some(json!({ "name": format!("New {label}") })),
                &[Support],
                201,
            ),
            (
                Method::PUT,
                format!("/support/orgs/{o}/subscription"),
                Some(json!({ "expiresAt": future })),
                &[Support],
                200,
            ),
            (
                Method::PUT,
                format!("/support/orgs/{o}/limits"),
                Some(json!({ "dailyQuota": 200 })),
                &[Support],
                200,
            ),
            (
                Method::POST,
                format!("/support/orgs/{o}/disable"),
                Some(json!({ "reason": "test" })),
                &[Support],
                200,
            ),
            (
                Method::POST,
                format!("/support/orgs/{o}/enable"),
                None,
                &[Support],
                200,
            ),
            (
                Method::POST,
                format!("/support/orgs/{o}/sandboxApiTokens/{c}/disable"),
                Some(json!({ "reason": "test" })),
                &[Support],
                200,
            ),
            (
                Method::POST,
                format!("/support/orgs/{o}/sandboxApiTokens/{c}/enable"),
                None,
                &[Support],
                200,
            ),
            (
                Method::POST,
                "/support/users".into(),
                Some(
                    json!({ "username": format!("new-{label}"), "password": PASSWORD,
                              "role": "org_viewer", "orgIds": [o] }),
                ),
                &[Support],
                201,
            ),
            (Method::GET, "/openapi.json".into(), None, anyone, 200),
            (
                Method::DELETE,
                "/authenticatedSession".into(),
                None,
                anyone,
                204,
            ),
        ];
        assert_eq!(
            table.len(),
            SPEC_ROUTES.len() - 1,
            "every route but login (the setup) is in the table"
        );
        // First, as the table ends by logging out: another org's objects, for roles bound
        // to their own orgs, are never revealed to exist.
        if matches!(role, Some(r) if r != Support) {
            let (fo, fa, fb) = (foreign.id, f1.id, f2.id);
            let elsewhere: Vec<(Method, String, Option<Value>)> = vec![
                (Method::GET, tokens_of(fo), None),
                (Method::POST, tokens_of(fo), Some(json!({}))),
                (Method::POST, tok(fo, fa, "reveal"), None),
                (Method::PUT, tok(fo, fa, ""), Some(json!({ "name": "x" }))),
                (Method::POST, tok(fo, fa, "regenerate"), None),
                (Method::DELETE, tok(fo, fb, ""), None),
                (
                    Method::GET,
                    format!("/sandbox/report/quota?orgId={fo}"),
                    None,
                ),
            ];
            for (method, path, body) in elsewhere {
                let res = api.call(method.clone(), &path, body).await;
                assert_documented(&doc, &method, &path, &res);
                assert_eq!(
                    res.status.as_u16(),
                    404,
                    "{label}: {method} {path}: {}",
                    res.body
                );
            }
            // Their token through my org: unknown here, once the role may reveal at all.
            let res = api.call(Method::POST, &tok(o, fa, "reveal"), None).await;
            let want = if role.is_some_and(|r| revealers.contains(&r)) {
                404
            } else {
                403
            };
            assert_eq!(res.status.as_u16(), want, "{label}: their token via my org");
        }
        for (method, path, body, allowed, ok) in table {
            let expected = match role {
                None if path == "/openapi.json" => ok,
                None => 401,
                Some(r) if allowed.contains(&r) => ok,
                Some(_) => 403,
            };
            let res = api.call(method.clone(), &path, body).await;
            assert_eq!(
                res.status.as_u16(),
                expected,
                "{label}: {method} {path}: {}",
                res.body
            );
            assert_documented(&doc, &method, &path, &res);
            if expected >= 400 {
                assert!(!res.code().is_empty(), "{label}: {method} {path}");
            }
        }
    }
    assert_eq!(
        app.tokens(foreign.id).len(),
        2,
        "nothing happened to the foreign org"
    );
}

async fn submission_status(app: &TestApp, value: &TokenValue) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/zscsb/submit?force=1", app.addr))
        .bearer_auth(value.expose())
        .body("sample")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn until_submission_gets(app: &TestApp, value: &TokenValue, status: u16) {
    eventually(&format!("a Submission API {status}"), || async move {
        submission_status(app, value).await == status
    })
    .await;
}

#[actix_web::test]
async fn r7_r8_r10_support_changes_through_the_api_reach_the_submission_api_and_renewal_restores_the_same_value()
 {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let support = api_as(&app, "sam", Role::Support, &[]).await;
    assert_eq!(submission_status(&app, &value).await, 200);
    let sub = format!("/support/orgs/{}/subscription", org.id);
    let one = format!("/support/orgs/{}/sandboxApiTokens/{}", org.id, token.id);
    let all = format!("/support/orgs/{}", org.id);

    // R8: expired, refused; renewed, the very same value works again.
    assert_eq!(
        support
            .put(&sub, json!({ "expiresAt": later(-1) }))
            .await
            .status,
        200
    );
    until_submission_gets(&app, &value, 403).await;
    assert_eq!(
        support
            .put(&sub, json!({ "expiresAt": later(30) }))
            .await
            .status,
        200
    );
    until_submission_gets(&app, &value, 200).await;

    // R7: one token.
    let reason = json!({ "reason": "terms violation" });
    assert_eq!(
        support
            .post(&format!("{one}/disable"), reason.clone())
            .await
            .status,
        200
    );
    until_submission_gets(&app, &value, 403).await;
    assert_eq!(
        support.post_empty(&format!("{one}/enable")).await.status,
        200
    );
    until_submission_gets(&app, &value, 200).await;

    // R10: the whole org.
    assert_eq!(
        support.post(&format!("{all}/disable"), reason).await.status,
        200
    );
    until_submission_gets(&app, &value, 403).await;
    assert_eq!(
        support.post_empty(&format!("{all}/enable")).await.status,
        200
    );
    until_submission_gets(&app, &value, 200).await;
    assert_eq!(app.value_of(org.id, token.id), value);
}

/// §6: support and partner users name the org with `?orgId=`; a script that forgets it, or
/// names two, gets a 400 that says so instead of another org's tokens.
#[actix_web::test]
async fn a_user_of_several_orgs_must_name_one_with_org_id() {
    let app = TestApp::spawn().await;
    let (acme, _) = app.org("Acme");
    let (globex, _) = app.org("Globex");
    let partner = api_as(&app, "pat", Role::PartnerViewer, &[acme.id, globex.id]).await;
    let support = api_as(&app, "sam", Role::Support, &[]).await;
    for api in [&partner, &support] {
        api.get("/sandboxApiTokens")
            .await
            .refused(400, "BAD_REQUEST");
        api.get(&format!(
            "/sandboxApiTokens?orgId={}&orgId={}",
            acme.id, globex.id
        ))
        .await
        .refused(400, "BAD_REQUEST");
        let named = api.get(&tokens_of(globex.id)).await;
        assert_eq!(named.status, 200);
    }
    // A role that may not act hears that first (§4), not the input rules.
    partner
        .post("/sandboxApiTokens", json!({ "name": "x" }))
        .await
        .refused(403, "FORBIDDEN");
    // One org: nothing to choose.
    let admin = api_as(&app, "ada", Role::OrgAdmin, &[acme.id]).await;
    assert_eq!(admin.get("/sandboxApiTokens").await.status, 200);
}

/// A refused API login says why, in the login page's words.
#[actix_web::test]
async fn a_refused_api_login_says_the_credentials_are_wrong() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let answer = Api::new(&app).login("alice", "wrong").await;
    answer.refused(401, "UNAUTHORIZED");
    assert_eq!(answer.body["message"], "Invalid username or password.");
}

/// R10 and R8 say what actually happened: an org disabled by the threshold shows that reason on
/// every token (as the page's banner does), and an org without any subscription is not told
/// that its subscription "has expired".
#[actix_web::test]
async fn r10_r8_refusals_name_the_real_reason() {
    use diesel::prelude::*;
    use sandbox_portal::db::schema::organizations as o;
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let admin = api_as(&app, "ada", Role::OrgAdmin, &[org.id]).await;
    diesel::update(o::table.find(org.id))
        .set((
            o::api_disabled_at.eq(Some(chrono::Utc::now())),
            o::api_disabled_reason.eq(Some("API call threshold exceeded")),
            o::api_disabled_by.eq(Some("system")),
        ))
        .execute(&mut app.conn())
        .unwrap();
    let list = admin.get(&tokens_of(org.id)).await;
    assert_eq!(list.body["tokens"][0]["status"], "DISABLED");
    assert_eq!(
        list.body["tokens"][0]["disabledReason"],
        "API call threshold exceeded"
    );
    let refused = admin.post_empty(&tok(org.id, token.id, "regenerate")).await;
    refused.refused(403, "TOKEN_DISABLED");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("for your organization"),
        "{}",
        refused.body
    );

    let (bare, _) = app.org("Globex");
    diesel::update(o::table.find(bare.id))
        .set(o::subscription_expires_at.eq(None::<chrono::DateTime<chrono::Utc>>))
        .execute(&mut app.conn())
        .unwrap();
    let other = api_as(&app, "gus", Role::OrgAdmin, &[bare.id]).await;
    let refused = other
        .post(&tokens_of(bare.id), json!({ "name": "ci" }))
        .await;
    refused.refused(403, "SUBSCRIPTION_EXPIRED");
    let message = refused.body["message"].as_str().unwrap();
    assert!(message.contains("no Sandbox subscription"), "{message}");
    let list = other.get(&tokens_of(bare.id)).await;
    assert_eq!(list.body["tokens"][0]["status"], "DISABLED");
    assert_eq!(
        list.body["tokens"][0]["disabledReason"],
        "No Sandbox subscription"
    );
}

/// Request bodies are not decompressed (a small zstd or gzip body can inflate to gigabytes
/// before any limit applies): a compressed JSON body gets a 415 that says to send it plain.
#[actix_web::test]
async fn a_compressed_json_body_is_refused_with_a_clear_415() {
    use std::io::Write;
    let app = TestApp::spawn().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"{"username":"alice","password":"x"}"#)
        .unwrap();
    let answer = Api::answer(
        Api::new(&app)
            .request(Method::POST, "/authenticatedSession")
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .body(gz.finish().unwrap()),
    )
    .await;
    answer.refused(415, "UNSUPPORTED_MEDIA_TYPE");
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("uncompressed"),
        "{}",
        answer.body
    );
}

/// The answer to a create is what was stored: an org named twice is one grant, and the
/// answer says one, as the user's own session does afterwards.
#[actix_web::test]
async fn creating_a_user_answers_with_the_stored_grants_not_the_request() {
    let app = TestApp::spawn().await;
    let (acme, _) = app.org("Acme");
    let (globex, _) = app.org("Globex");
    let support = api_as(&app, "sam", Role::Support, &[]).await;

    let viewer = support
        .post(
            "/support/users",
            json!({ "username": "vic", "password": PASSWORD, "role": "org_viewer",
                    "orgIds": [acme.id, acme.id] }),
        )
        .await;
    let partner = support
        .post(
            "/support/users",
            json!({ "username": "pat", "password": PASSWORD, "role": "partner_viewer",
                    "orgIds": [globex.id, acme.id, globex.id] }),
        )
        .await;

    assert_eq!(viewer.status, 201, "{}", viewer.body);
    assert_eq!(viewer.body["orgIds"], json!([acme.id]));
    assert_eq!(partner.status, 201, "{}", partner.body);
    for (answer, username) in [(&viewer, "vic"), (&partner, "pat")] {
        let id: Uuid = serde_json::from_value(answer.body["id"].clone()).unwrap();
        let mut stored = db::users::org_ids(&mut app.conn(), id).unwrap();
        stored.sort();
        let mut answered: Vec<Uuid> =
            serde_json::from_value(answer.body["orgIds"].clone()).unwrap();
        answered.sort();
        assert_eq!(answered, stored, "{username}");
        let session = Api::new(&app);
        let me = session.login(username, PASSWORD).await;
        let mut seen: Vec<Uuid> = serde_json::from_value(me.body["orgIds"].clone()).unwrap();
        seen.sort();
        assert_eq!(seen, answered, "{username}");
        assert_eq!(me.body["role"], answer.body["role"], "{username}");
    }
}

/// R13: the API's `?search=` is the console's "Name starts with" (any case, literal), so the
/// same text finds the same orgs through both.
#[actix_web::test]
async fn r13_org_search_is_the_same_name_prefix_rule_in_the_api_and_the_console() {
    let app = TestApp::spawn().await;
    for name in [
        "Inc Alpha",
        "incubator",
        "INC Zulu",
        "Big Inc",
        "Acme Inc.",
        "Zinc Works",
        "In_c Ltd",
    ] {
        app.org(name);
    }
    let api = api_as(&app, "sue", Role::Support, &[]).await;
    let console = app.login_as_support("sam").await;

    for (text, expected) in [
        ("Inc", &["INC Zulu", "Inc Alpha", "incubator"][..]),
        (" inc ", &["INC Zulu", "Inc Alpha", "incubator"]),
        ("inc a", &["Inc Alpha"]),
        ("In_", &["In_c Ltd"]),
        ("nc", &[]),
    ] {
        let q = encode(text);
        let found = api.get(&format!("/support/orgs?search={q}")).await;
        assert_eq!(found.status, 200, "{}", found.body);
        let by_api: Vec<(String, String)> = found.body["orgs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["id"].as_str().unwrap().to_owned(),
                    o["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let page = console.text(&format!("/support/orgs?q={q}")).await;
        let by_console: Vec<String> = page
            .split("<a href=\"/support/orgs/")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .map(str::to_owned)
            .collect();

        let ids: Vec<String> = by_api.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(ids, by_console, "{text:?}: the API and the console differ");
        let mut names: Vec<&str> = by_api.iter().map(|(_, n)| n.as_str()).collect();
        names.sort_by_key(|n| n.to_lowercase());
        let mut want = expected.to_vec();
        want.sort_by_key(|n| n.to_lowercase());
        assert_eq!(names, want, "{text:?}");
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The parameter of `path`'s GET called `name`, as documented.
fn documented_param(doc: &Value, path: &str, name: &str) -> Value {
    doc["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: no parameters"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{path}: no parameter {name}"))
        .clone()
}

/// `?page=` counts from 1 on both paged routes: page 0 is refused, not quietly page 1, and
/// the document says where it starts.
#[actix_web::test]
async fn page_zero_is_a_400_on_every_paged_route_as_documented() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let support = api_as(&app, "sam", Role::Support, &[]).await;
    let admin = api_as(&app, "ada", Role::OrgAdmin, &[org.id]).await;
    let doc = Api::new(&app).get("/openapi.json").await.body;

    for (api, path) in [
        (&support, "/auditLogs"),
        (&admin, "/auditLogs"),
        (&support, "/support/orgs"),
    ] {
        api.get(&format!("{path}?page=0"))
            .await
            .refused(400, "BAD_REQUEST");
        let first = api.get(&format!("{path}?page=1")).await;
        assert_eq!(first.status, 200, "{path}: {}", first.body);
        assert_eq!(first.body["page"], 1);
        let page = documented_param(&doc, &format!("{API}{path}"), "page");
        assert_eq!(page["schema"]["minimum"], 1, "{path}: {page}");
        assert!(
            doc["paths"][format!("{API}{path}")]["get"]["responses"]
                .get("400")
                .is_some(),
            "{path}: the 400 is documented"
        );
    }
    // Who may not read the route hears that first.
    admin
        .get("/support/orgs?page=0")
        .await
        .refused(403, "FORBIDDEN");
    Api::new(&app)
        .get("/auditLogs?page=0")
        .await
        .refused(401, "UNAUTHORIZED");
}

/// A method a documented path does not offer is a 405 that names the ones it does, in the
/// API's JSON; a path that does not exist stays a 404.
#[actix_web::test]
async fn a_wrong_method_on_an_api_path_is_405_json_with_allow() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let admin = api_as(&app, "ada", Role::OrgAdmin, &[org.id]).await;
    let anonymous = Api::new(&app);
    let doc = anonymous.get("/openapi.json").await.body;

    let reveal = admin.get(&tok(org.id, token.id, "reveal")).await;
    reveal.refused(405, "METHOD_NOT_ALLOWED");
    assert_eq!(reveal.headers["allow"], "POST");
    let patch = admin
        .call(Method::PATCH, &tok(org.id, token.id, ""), Some(json!({})))
        .await;
    patch.refused(405, "METHOD_NOT_ALLOWED");
    assert_eq!(patch.headers["allow"], "PUT, DELETE");
    assert_eq!(app.tokens(org.id).len(), 1, "nothing happened");

    // Every documented path, every other method, logged in or not.
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let id = Uuid::new_v4().to_string();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let offered: Vec<&str> = methods
            .iter()
            .copied()
            .filter(|m| item.get(m.to_lowercase()).is_some())
            .collect();
        let concrete = path
            .trim_start_matches(API)
            .replace("{id}", &id)
            .replace("{tid}", &id);
        for m in methods.iter().filter(|m| !offered.contains(m)) {
            for api in [&admin, &anonymous] {
                let res = api
                    .call(Method::from_bytes(m.as_bytes()).unwrap(), &concrete, None)
                    .await;
                res.refused(405, "METHOD_NOT_ALLOWED");
                // A GET route answers HEAD as well.
                assert_eq!(
                    res.headers["allow"].to_str().unwrap(),
                    offered.join(", ").replace("GET", "GET, HEAD"),
                    "{m} {path}"
                );
            }
        }
    }

    for path in ["/nowhere", "/sandboxApiTokens/", "/sandboxApiTokens/x/y/z"] {
        admin.get(path).await.refused(404, "NOT_FOUND");
        admin
            .call(Method::PATCH, path, None)
            .await
            .refused(404, "NOT_FOUND");
    }
}

/// The statuses the document gives `method` on the path `concrete` (ids filled in, query
/// allowed) instantiates.
fn documented_statuses(doc: &Value, method: &Method, concrete: &str) -> Vec<u16> {
    let path = format!("{API}{}", concrete.split('?').next().unwrap());
    let (_, item) = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(template, _)| {
            let t: Vec<&str> = template.split('/').collect();
            let p: Vec<&str> = path.split('/').collect();
            t.len() == p.len()
                && t.iter()
                    .zip(&p)
                    .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
        })
        .unwrap_or_else(|| panic!("{path} is not documented"));
    item[method.as_str().to_lowercase()]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
        .keys()
        .map(|k| k.parse().unwrap())
        .collect()
}

fn assert_documented(doc: &Value, method: &Method, concrete: &str, res: &Answer) {
    let documented = documented_statuses(doc, method, concrete);
    assert!(
        documented.contains(&res.status.as_u16()),
        "{method} {concrete} answered {} {}, the document lists only {documented:?}",
        res.status,
        res.body
    );
}

/// What generated clients learn from the document: which routes need the session cookie
/// (and may answer 401), and every status a route answers to the callers it meets, among
/// them the 400 of a user of several orgs who does not name one.
#[actix_web::test]
async fn the_document_names_the_session_cookie_and_every_status_each_route_answers() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let (other, _) = app.org("Globex");
    let anonymous = Api::new(&app);
    let doc = anonymous.get("/openapi.json").await.body;

    assert_eq!(
        doc["components"]["securitySchemes"]["session"],
        json!({ "type": "apiKey", "in": "cookie", "name": "sp_session",
                "description": doc["components"]["securitySchemes"]["session"]["description"] })
    );
    for (method, path) in SPEC_ROUTES {
        let op = &doc["paths"][path][method];
        let public =
            *path == "/api/v1/openapi.json" || (*method == "post" && path.ends_with("Session"));
        if public {
            assert!(op.get("security").is_none(), "{method} {path}: {op}");
        } else {
            assert_eq!(
                op["security"],
                json!([{ "session": [] }]),
                "{method} {path}"
            );
            assert!(op["responses"].get("401").is_some(), "{method} {path}: 401");
        }
    }

    let support = api_as(&app, "sam", Role::Support, &[]).await;
    let partner = api_as(&app, "pat", Role::PartnerViewer, &[org.id, other.id]).await;
    let viewer = api_as(&app, "vic", Role::OrgViewer, &[org.id]).await;
    let admin = api_as(&app, "ada", Role::OrgAdmin, &[org.id]).await;
    // The cases the document used to leave out, answered as documented.
    for (api, path, status) in [
        (&support, "/sandboxApiTokens".to_owned(), 400),
        (&partner, "/sandboxApiTokens".to_owned(), 400),
        (&support, "/sandbox/report/quota".to_owned(), 400),
        (&partner, "/sandbox/report/quota".to_owned(), 400),
        (
            &support,
            format!("/sandbox/report/quota?orgId={}", Uuid::new_v4()),
            404,
        ),
        (
            &admin,
            format!("/sandbox/report/quota?orgId={}", other.id),
            404,
        ),
        (&anonymous, "/sandbox/report/quota".to_owned(), 401),
        (&anonymous, "/support/orgs".to_owned(), 401),
    ] {
        let res = api.get(&path).await;
        assert_eq!(res.status.as_u16(), status, "{path}: {}", res.body);
        assert_documented(&doc, &Method::GET, &path, &res);
    }

    // Every route, for callers who meet each kind of refusal: whatever they hear is listed.
    let unknown = Uuid::new_v4();
    let concrete = |path: &str, org: Uuid| {
        let p = path.trim_start_matches(API);
        let p = if p.starts_with("/sandboxApiTokens/") {
            p.replace("{id}", &token.id.to_string())
        } else {
            p.replace("{id}", &org.to_string())
        };
        let p = p.replace("{tid}", &token.id.to_string());
        if p.starts_with("/sandbox") {
            format!("{p}?orgId={org}")
        } else {
            p
        }
    };
    // Logging out ends the walk of each caller.
    let mut routes = SPEC_ROUTES.to_vec();
    routes.sort_by_key(|(m, p)| *m == "delete" && p.ends_with("Session"));
    for (label, api, org_id) in [
        ("anonymous", &anonymous, org.id),
        ("viewer", &viewer, org.id),
        ("partner", &partner, org.id),
        ("support, unknown org", &support, unknown),
        ("admin, other org", &admin, other.id),
        ("admin", &admin, org.id),
    ] {
        for (method, path) in &routes {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut path = concrete(path, org_id);
            if label == "partner" {
                path = path.split('?').next().unwrap().to_owned();
            }
            let res = api.call(m.clone(), &path, Some(json!({}))).await;
            assert_documented(&doc, &m, &path, &res);
            assert!(res.status != 500, "{label}: {m} {path}");
            // A browser's cross-site request (§6: no CSRF token, refused instead).
            if m != Method::GET {
                let res = Api::answer(
                    api.request(m.clone(), &path)
                        .header("Sec-Fetch-Site", "cross-site")
                        .json(&json!({})),
                )
                .await;
                res.refused(403, "FORBIDDEN");
                assert_documented(&doc, &m, &path, &res);
            }
        }
    }
    // An oversized body is refused as documented wherever a body is read, by a caller who
    // may take the action (the body is read after authorization).
    let support = api_as(&app, "sue", Role::Support, &[]).await;
    let admin = api_as(&app, "abe", Role::OrgAdmin, &[org.id]).await;
    let big = "x".repeat(70 * 1024);
    for (method, path) in SPEC_ROUTES {
        if doc["paths"][path][method].get("requestBody").is_none() {
            continue;
        }
        let api = if path.contains("/support/") {
            &support
        } else {
            &admin
        };
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let path = concrete(path, org.id);
        let res = api
            .call(m.clone(), &path, Some(json!({ "name": big })))
            .await;
        res.refused(413, "PAYLOAD_TOO_LARGE");
        assert_documented(&doc, &m, &path, &res);
    }
}

/// Over https the cookie has the `__Host-` prefix, and the document says so.
#[actix_web::test]
async fn over_https_the_document_names_the_host_prefixed_session_cookie() {
    let app = TestApp::spawn_with(|s| s.public_url = Some("https://portal.example".into())).await;
    let doc = Api::new(&app).get("/openapi.json").await.body;
    assert_eq!(
        doc["components"]["securitySchemes"]["session"]["name"],
        "__Host-sp_session"
    );
}

/// Behind a TLS-terminating proxy the Host header is the proxy's upstream name: a browser
/// request from PUBLIC_URL's origin is this site's, and another origin is still refused.
#[actix_web::test]
async fn behind_a_proxy_the_public_urls_origin_is_same_site() {
    let app =
        TestApp::spawn_with(|s| s.public_url = Some("https://portal.example.com".into())).await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let login = |origin: &'static str| {
        Api::answer(
            Api::new(&app)
                .request(Method::POST, "/authenticatedSession")
                .header("Origin", origin)
                .header("Sec-Fetch-Site", "same-origin")
                .json(&json!({ "username": "alice", "password": PASSWORD })),
        )
    };
    assert_eq!(login("https://portal.example.com").await.status, 200);
    login("https://evil.example")
        .await
        .refused(403, "FORBIDDEN");
}
