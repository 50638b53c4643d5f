//! HTTP methods and query parameters (RFC 9110): HEAD is GET without a body everywhere; a known
//! address asked with a method it does not take is a 405 naming, in `Allow`, exactly the ones
//! it does; and the JSON API refuses a query parameter it does not document, while the pages
//! keep ignoring them (links carry tracking tags).
use crate::helpers::*;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use sandbox_portal::domain::role::Role;
use serde_json::{Value, json};
use uuid::Uuid;

const API: &str = "/api/v1";

/// Headers that a HEAD must answer exactly as its GET does.
const SAME_AS_GET: &[&str] = &[
    "content-type",
    "cache-control",
    "location",
    "etag",
    "allow",
    "www-authenticate",
    "content-security-policy",
];

/// A client that sends nothing but what each test adds: no CSRF token, no htmx headers.
fn bare_client(cookies: std::sync::Arc<reqwest::cookie::Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("{}: not JSON: {:?}", self.status, self.body))
    }
}

async fn send(client: &reqwest::Client, method: Method, url: &str) -> Reply {
    let res = client.request(method, url).send().await.unwrap();
    Reply {
        status: res.status(),
        headers: res.headers().clone(),
        body: res.text().await.unwrap(),
    }
}

/// HEAD and GET of `url`: the same status and headers, and no body for the HEAD.
async fn assert_head_is_get(client: &reqwest::Client, url: &str, same_length: bool) -> Reply {
    let get = send(client, Method::GET, url).await;
    let head = send(client, Method::HEAD, url).await;
    assert_eq!(head.status, get.status, "HEAD {url}");
    assert_eq!(head.body, "", "HEAD {url} has no body");
    for name in SAME_AS_GET {
        assert_eq!(head.header(name), get.header(name), "HEAD {url}: {name}");
    }
    // The framing the GET had (RFC 9110 §8.6): its Content-Length, or chunks for a stream.
    assert_eq!(
        head.header("transfer-encoding"),
        get.header("transfer-encoding"),
        "HEAD {url}"
    );
    assert_eq!(
        head.header("content-length").is_empty(),
        get.header("content-length").is_empty(),
        "HEAD {url}: content-length"
    );
    if same_length {
        assert_eq!(
            head.header("content-length"),
            get.header("content-length"),
            "HEAD {url}"
        );
    }
    get
}

/// A logged-in API script: JSON in and out, cookie jar, nothing else.
async fn api_as(app: &TestApp, username: &str, role: Role, orgs: &[Uuid]) -> reqwest::Client {
    app.user(username, role, orgs);
    let client = bare_client(Default::default());
    let res = client
        .post(format!("{}{API}/authenticatedSession", app.addr))
        .json(&json!({ "username": username, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    client
}

/// Every page address, with the methods it takes as `Allow` should name them.
fn page_addresses(org: Uuid, token: Uuid) -> Vec<(String, &'static str)> {
    let tok = |action: &str| token_url(org, token, action);
    vec![
        ("/".into(), "GET, HEAD"),
        ("/login".into(), "GET, HEAD, POST"),
        ("/logout".into(), "POST"),
        (page_of(org), "GET, HEAD"),
        (add_url(org), "POST"),
        (tok("row"), "GET, HEAD"),
        (tok("reveal"), "POST"),
        (tok("copy"), "POST"),
        (tok("rename"), "GET, HEAD, POST"),
        (tok("regenerate"), "GET, HEAD, POST"),
        (tok("delete"), "GET, HEAD, POST"),
        ("/support/orgs".into(), "GET, HEAD, POST"),
        (format!("/support/orgs/{org}"), "GET, HEAD"),
        (format!("/support/orgs/{org}/subscription"), "POST"),
        (format!("/support/orgs/{org}/limits"), "POST"),
        (format!("/support/orgs/{org}/disable"), "POST"),
        (format!("/support/orgs/{org}/enable"), "POST"),
        (
            format!("/support/orgs/{org}/tokens/{token}/disable"),
            "POST",
        ),
        (format!("/support/orgs/{org}/tokens/{token}/enable"), "POST"),
        ("/admin/audit-log".into(), "GET, HEAD"),
        ("/admin/audit-log.csv".into(), "GET, HEAD"),
    ]
}

#[actix_web::test]
async fn head_on_a_page_answers_like_its_get_without_the_body() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let admin = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let support = app.login_as_support("sam").await;

    for path in [
        page_of(org.id),
        token_url(org.id, token.id, "row"),
        token_url(org.id, token.id, "rename"),
        token_url(org.id, token.id, "delete"),
        "/admin/audit-log".into(),
        "/admin/audit-log.csv".into(),
        "/".into(),
    ] {
        let get = assert_head_is_get(&admin.client, &admin.url(&path), false).await;
        assert!(
            get.status.is_success() || get.status.is_redirection(),
            "{path}"
        );
    }
    let get = assert_head_is_get(&support.client, &support.url("/support/orgs"), false).await;
    assert_eq!(get.status, 200);
    let console = format!("/support/orgs/{}", org.id);
    assert_eq!(
        assert_head_is_get(&support.client, &support.url(&console), false)
            .await
            .status,
        200
    );

    // Logged out: the same way to the login page, and the login page itself.
    let anonymous = app.client();
    let get = assert_head_is_get(&anonymous.client, &anonymous.url(PAGE), true).await;
    assert_eq!(get.status, 303);
    let get = assert_head_is_get(&anonymous.client, &anonymous.url("/login"), false).await;
    assert_eq!(get.status, 200);
    // An unknown address stays unknown.
    assert_eq!(
        send(&admin.client, Method::HEAD, &admin.url("/no/such/page"))
            .await
            .status,
        404
    );
    assert_eq!(app.tokens(org.id).len(), 1, "nothing changed");
}

#[actix_web::test]
async fn any_other_method_on_a_page_address_is_a_405_page_naming_exactly_the_methods_it_takes() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let admin = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let anonymous = app.client();

    for (path, allow) in page_addresses(org.id, token.id) {
        let takes = |m: &str| allow.split(", ").any(|a| a == m);
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
            if takes(method) {
                continue;
            }
            // Logged in or not, and with no CSRF token: the method is wrong whoever asks.
            for (who, browser) in [("alice", &admin), ("anonymous", &anonymous)] {
                let m = Method::from_bytes(method.as_bytes()).unwrap();
                let res = send(&browser.client, m, &browser.url(&path)).await;
                assert_eq!(res.status, 405, "{who}: {method} {path}: {}", res.body);
                assert_eq!(res.header("allow"), allow, "{who}: {method} {path}");
                assert!(
                    res.header("content-type").starts_with("text/html"),
                    "{who}: {method} {path}"
                );
                assert!(
                    res.body.contains("Method Not Allowed"),
                    "{who}: {method} {path}: the portal's error page"
                );
            }
        }
    }
    // The portal's own page, with the header of the person logged in.
    let put = send(&admin.client, Method::PUT, &admin.url(&page_of(org.id))).await;
    assert!(put.body.contains("alice"), "{}", put.body);
    assert!(
        put.body.contains("does not take PUT requests"),
        "{}",
        put.body
    );

    for path in ["/no/such/page", &format!("{PAGE}/nothing")] {
        for method in [Method::PUT, Method::DELETE, Method::OPTIONS] {
            let res = send(&admin.client, method.clone(), &admin.url(path)).await;
            assert_eq!(res.status, 404, "{method} {path}");
        }
    }
    assert_eq!(app.tokens(org.id).len(), 1, "nothing changed");
    assert_eq!(app.tokens(org.id)[0].name, token.name);
}

/// The CSRF check moved from the whole page scope onto the routes that change something: a
/// request no route takes is told so (405), while every form submission still needs the token.
#[actix_web::test]
async fn a_wrong_method_needs_no_csrf_token_to_be_told_405_but_every_page_post_still_does() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let admin = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;

    for (path, allow) in page_addresses(org.id, token.id) {
        let delete = send(&admin.client, Method::DELETE, &admin.url(&path)).await;
        assert_eq!(delete.status, 405, "DELETE {path}");
        if !allow.contains("POST") {
            continue;
        }
        let forged = admin
            .client
            .post(admin.url(&path))
            .form(&[
                ("name", "forged"),
                ("reason", "forged"),
                ("csrf_token", "x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403, "POST {path} without the CSRF token");
        let page = forged.text().await.unwrap();
        assert!(page.contains("Reload the page"), "POST {path}: {page}");
    }
    assert_eq!(app.tokens(org.id).len(), 1, "nothing changed");
    assert_eq!(app.tokens(org.id)[0].name, token.name);
    // Still logged in: the forged logout did not log out.
    assert_eq!(admin.get(PAGE).await.status(), 200);
}

#[actix_web::test]
async fn head_on_probes_and_assets_answers_like_get_and_other_methods_are_405() {
    let app = TestApp::spawn().await;
    let client = bare_client(Default::default());
    for path in [
        "/healthz",
        "/readyz",
        "/static/htmx.min.js",
        "/static/app.css",
    ] {
        let url = format!("{}{path}", app.addr);
        let get = assert_head_is_get(&client, &url, true).await;
        assert_eq!(get.status, 200, "{path}");
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let res = send(&client, method.clone(), &url).await;
            assert_eq!(res.status, 405, "{method} {path}");
            assert_eq!(res.header("allow"), "GET, HEAD", "{method} {path}");
        }
    }
    let missing = format!("{}/static/no-such-file.js", app.addr);
    assert_head_is_get(&client, &missing, true).await;
}

#[actix_web::test]
async fn head_on_an_api_read_answers_like_its_get_and_allow_names_head_wherever_get_is() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let admin = api_as(&app, "ada", Role::OrgAdmin, &[org.id]).await;
    let anonymous = bare_client(Default::default());
    let url = |path: &str| format!("{}{API}{path}", app.addr);

    let doc = send(&anonymous, Method::GET, &url("/openapi.json"))
        .await
        .json();
    assert_head_is_get(&anonymous, &url("/openapi.json"), true).await;
    for path in [
        "/authenticatedSession",
        "/sandboxApiTokens",
        "/sandbox/report/quota",
        "/auditLogs",
    ] {
        let get = assert_head_is_get(&admin, &url(path), false).await;
        assert_eq!(get.status, 200, "{path}: {}", get.body);
        // Not logged in: the same 401 and challenge as GET.
        let get = assert_head_is_get(&anonymous, &url(path), true).await;
        assert_eq!(get.status, 401, "{path}");
    }

    // Every documented path: any method it does not take names the ones it does, HEAD among
    // them exactly where GET is.
    let id = Uuid::new_v4().to_string();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let mut allow: Vec<&str> = Vec::new();
        for m in ["get", "post", "put", "delete", "patch"] {
            if item.get(m).is_some() {
                allow.push(if m == "get" { "GET, HEAD" } else { m });
            }
        }
        let allow = allow.join(", ").to_uppercase();
        let concrete = path.replace("{id}", &id).replace("{tid}", &id);
        let wrong = if allow.contains("PATCH") {
            Method::OPTIONS
        } else {
            Method::PATCH
        };
        let res = send(&admin, wrong.clone(), &format!("{}{concrete}", app.addr)).await;
        assert_eq!(res.status, 405, "{wrong} {path}");
        assert_eq!(res.header("allow"), allow, "{wrong} {path}");
        assert_eq!(res.json()["code"], "METHOD_NOT_ALLOWED");
        if !allow.contains("GET") {
            let head = send(&admin, Method::HEAD, &format!("{}{concrete}", app.addr)).await;
            assert_eq!(head.status, 405, "HEAD {path}");
            assert_eq!(head.header("allow"), allow, "HEAD {path}");
        }
    }
    // HEAD on an action changes nothing.
    let reveal = url(&format!("/sandboxApiTokens/{}/reveal", token.id));
    assert_eq!(send(&admin, Method::HEAD, &reveal).await.status, 405);
    assert!(
        !app.audit_actions().iter().any(|a| a.0 == "REVEAL_TOKEN"),
        "{:?}",
        app.audit_actions()
    );

    // The Submission API takes POST only, HEAD included.
    let submit = format!("{}/zscsb/submit", app.addr);
    let head = send(&anonymous, Method::HEAD, &submit).await;
    assert_eq!(head.status, 405);
    assert_eq!(head.header("allow"), "POST");
}

#[actix_web::test]
async fn every_api_read_with_query_parameters_refuses_an_unknown_one_by_name_while_pages_ignore_it()
{
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let support = api_as(&app, "sam", Role::Support, &[]).await;
    let doc = send(
        &support,
        Method::GET,
        &format!("{}{API}/openapi.json", app.addr),
    )
    .await
    .json();

    let mut checked = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(get) = item.get("get") else { continue };
        let accepted: Vec<&str> = get["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        if accepted.is_empty() {
            continue;
        }
        let base = if accepted.contains(&"orgId") {
            format!("{}{path}?orgId={}", app.addr, org.id)
        } else {
            format!("{}{path}?", app.addr)
        };
        let known = send(&support, Method::GET, &base).await;
        assert_eq!(known.status, 200, "{path}: {}", known.body);

        let one = send(&support, Method::GET, &format!("{base}&utm_source=mail")).await;
        assert_eq!(one.status, 400, "{path}: {}", one.body);
        let body = one.json();
        assert_eq!(body["code"], "BAD_REQUEST", "{path}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.starts_with(r#"Unknown query parameter "utm_source"; this address takes "#),
            "{path}: {message}"
        );
        assert!(
            message.contains(&accepted.join(", ")),
            "{path}: {message} lists {accepted:?}"
        );
        let two = send(&support, Method::GET, &format!("{base}&Search=x&orgid=y")).await;
        assert_eq!(two.status, 400, "{path}: {}", two.body);
        assert!(
            two.json()["message"]
                .as_str()
                .unwrap()
                .starts_with(r#"Unknown query parameters "Search", "orgid""#),
            "{path}: {}",
            two.body
        );
        let documented = &get["responses"]["400"]["description"];
        assert!(
            documented
                .as_str()
                .unwrap_or("")
                .contains("query parameter not listed here"),
            "{path}: the document says so: {documented}"
        );
        checked.push(path.trim_start_matches(API).to_owned());
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "/auditLogs",
            "/sandbox/report/quota",
            "/sandboxApiTokens",
            "/support/orgs",
        ]
    );

    // Who may not read the route hears that first, as for any other input.
    let anonymous = bare_client(Default::default());
    let res = send(
        &anonymous,
        Method::GET,
        &format!("{}{API}/support/orgs?utm_source=mail", app.addr),
    )
    .await;
    assert_eq!(res.status, 401);

    // Pages ignore what they do not know: a link with tracking tags still opens.
    let browser = app.login_as_support("sue").await;
    for path in [
        format!("{}&utm_source=mail&utm_campaign=x", page_of(org.id)),
        "/support/orgs?utm_source=mail".into(),
        format!("/support/orgs/{}?utm_source=mail", org.id),
        "/admin/audit-log?utm_source=mail".into(),
    ] {
        assert_eq!(browser.get(&path).await.status(), 200, "{path}");
    }
}

/// The same holds for every other operation, those that change something included: a
/// misspelt `?orgId=` on a DELETE must not quietly act on a default org. The refusal comes
/// after authentication, before the body is read, and nothing changes.
#[actix_web::test]
async fn every_api_operation_refuses_an_unknown_query_parameter_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let support = api_as(&app, "sam", Role::Support, &[]).await;
    let admin = api_as(&app, "ada", Role::OrgAdmin, &[org.id]).await;
    let anonymous = bare_client(Default::default());
    let doc = send(
        &anonymous,
        Method::GET,
        &format!("{}{API}/openapi.json", app.addr),
    )
    .await
    .json();
    let state = || {
        app.tokens(org.id)
            .into_iter()
            .map(|t| {
                (
                    t.id,
                    t.name,
                    t.value_hint,
                    t.disabled_at,
                    t.last_modified_at,
                )
            })
            .collect::<Vec<_>>()
    };
    let tokens_before = state();
    let audit_before = app.audit_actions().len();

    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if path.ends_with("/openapi.json") {
                continue;
            }
            let concrete = if path.starts_with(&format!("{API}/support/orgs/")) {
                path.replace("{id}", &org.id.to_string())
                    .replace("{tid}", &token.id.to_string())
            } else {
                path.replace("{id}", &token.id.to_string())
            };
            let (client, who) = if path.contains("/support/") {
                (&support, "support")
            } else if path.ends_with("/authenticatedSession") && method == "post" {
                (&anonymous, "anonymous")
            } else {
                (&admin, "admin")
            };
            let url = format!("{}{concrete}?utm_source=mail", app.addr);
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // A body that would be accepted (or refused for itself) if the query were fine.
            let res = client
                .request(m, &url)
                .json(&json!({"name": "renamed", "reason": "x", "username": "ada", "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            assert_eq!(status, 400, "{method} {path} as {who}: {body}");
            assert_eq!(body["code"], "BAD_REQUEST", "{method} {path}");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.starts_with(r#"Unknown query parameter "utm_source"; this address takes "#),
                "{method} {path}: {message}"
            );
            let documented = op["responses"]["400"]["description"].as_str().unwrap_or("");
            assert!(
                documented.contains("query parameter not listed here"),
                "{method} {path}: the document says so: {documented}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 18, "{checked} operations");
    assert_eq!(state(), tokens_before, "nothing changed");
    assert_eq!(app.audit_actions().len(), audit_before, "nothing audited");
    // The DELETE of the session was refused too: both are still logged in.
    for client in [&support, &admin] {
        let me = send(
            client,
            Method::GET,
            &format!("{}{API}/authenticatedSession", app.addr),
        )
        .await;
        assert_eq!(me.status, 200);
    }
    // A route that takes no parameter says so.
    let res = send(
        &admin,
        Method::GET,
        &format!("{}{API}/authenticatedSession?x=1", app.addr),
    )
    .await;
    assert_eq!(res.status, 400);
    assert!(
        res.json()["message"]
            .as_str()
            .unwrap()
            .ends_with("this address takes no query parameters."),
        "{}",
        res.body
    );
}

/// §7: a refused attempt is recorded with the method the client used, HEAD included, though
/// a HEAD is routed as its GET.
#[actix_web::test]
async fn a_refused_head_is_audited_as_a_head() {
    use diesel::prelude::*;
    use sandbox_portal::db::schema::audit_events as a;
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let admin = api_as(&app, "ada", Role::OrgAdmin, &[org.id]).await;

    for (method, path) in [
        (Method::HEAD, "/support/orgs"),
        (Method::HEAD, "/api/v1/support/orgs"),
        (Method::GET, "/support/orgs"),
    ] {
        let res = send(&admin, method.clone(), &format!("{}{path}", app.addr)).await;
        assert_eq!(res.status, 403, "{method} {path}");
    }
    let recorded: Vec<serde_json::Value> = a::table
        .filter(a::action.eq("ACCESS_DENIED"))
        .order(a::id.asc())
        .select(a::details)
        .load(&mut app.conn())
        .unwrap();
    let seen: Vec<(&str, &str)> = recorded
        .iter()
        .map(|d| (d["method"].as_str().unwrap(), d["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("HEAD", "/support/orgs"),
            ("HEAD", "/api/v1/support/orgs"),
            ("GET", "/support/orgs"),
        ]
    );
}
