//! Input rules: names that could pass for the system's or read backwards in the audit trail,
//! and limit changes that change nothing.
use crate::cli::cli;
use crate::helpers::*;
use diesel::prelude::*;
use sandbox_portal::db;
use sandbox_portal::db::schema::{audit_events as a, organizations as o, users as u};
use sandbox_portal::domain::role::Role;
use serde_json::{Value, json};

/// A script on the JSON API: a cookie jar, JSON in and out.
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    async fn support(app: &TestApp, username: &str) -> Api {
        app.user(username, Role::Support, &[]);
        let api = Api {
            base: app.addr.clone(),
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        let (status, body) = api
            .call(
                reqwest::Method::POST,
                "/authenticatedSession",
                json!({ "username": username, "password": PASSWORD }),
            )
            .await;
        assert_eq!(status, 200, "login: {body}");
        api
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let res = self
            .client
            .request(method, format!("{}/api/v1{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, body).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, body).await
    }
}

fn new_user(username: &str) -> Value {
    json!({ "username": username, "password": PASSWORD, "role": "support", "orgIds": [] })
}

fn user_count(app: &TestApp) -> i64 {
    u::table.count().get_result(&mut app.conn()).unwrap()
}

fn org_count(app: &TestApp) -> i64 {
    o::table.count().get_result(&mut app.conn()).unwrap()
}

fn count_of(app: &TestApp, action: &str) -> usize {
    app.audit_actions().iter().filter(|r| r.0 == action).count()
}

/// The actors of the audit rows written through this interface.
fn actors_of(app: &TestApp, interface: &str) -> Vec<String> {
    a::table
        .filter(a::interface.eq(interface))
        .select(a::actor)
        .distinct()
        .load(&mut app.conn())
        .unwrap()
}

fn refused_as_bad_request(answer: &(u16, Value), words: &str) {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{body}");
    assert_eq!(body["code"], "BAD_REQUEST", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{words:?} in {message:?}");
}

/// SPEC §7: the actor of a row is a user or the system. Whatever names the system (R10's
/// threshold disable, written by the database) and the command line write, no user can take,
/// in any case or spacing.
#[actix_web::test]
async fn no_user_can_be_named_as_the_system_or_the_cli_are_in_the_audit_trail() {
    let app = TestApp::spawn().await;
    let (org, first) = app.org("Acme");
    // R10 writes its row as the system.
    diesel::update(o::table.find(org.id))
        .set(o::abuse_threshold.eq(1))
        .execute(&mut app.conn())
        .unwrap();
    let value = app.value_of(org.id, first.id);
    assert_eq!(submit(&app.addr, value.expose(), b"a file").await.0, 200);
    assert_eq!(submit(&app.addr, value.expose(), b"a file").await.0, 403);
    // The command line writes its rows as itself.
    let out = cli(&app.db.url, &["org", "create", "--name", "Initech"], None);
    assert!(out.status.success(), "{out:?}");
    let system = actors_of(&app, "SYSTEM");
    let command_line = actors_of(&app, "CLI");
    assert_eq!(system.len(), 1, "{system:?}");
    assert_eq!(command_line.len(), 1, "{command_line:?}");
    let support = Api::support(&app, "sam").await;
    let (users, events) = (user_count(&app), app.audit_actions().len());

    for actor in system.iter().chain(&command_line) {
        for name in [
            actor.clone(),
            actor.to_uppercase(),
            format!("  {}  ", capitalised(actor)),
        ] {
            let answer = support.post("/support/users", new_user(&name)).await;
            refused_as_bad_request(&answer, "reserved");
        }
    }

    assert_eq!(user_count(&app), users, "no user was created");
    assert_eq!(app.audit_actions().len(), events, "nothing was audited");
    // A name that only starts like one is anybody's.
    let (status, body) = support.post("/support/users", new_user("systems")).await;
    assert_eq!(status, 201, "{body}");
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// R13: the command line refuses the reserved names as the API does, with the reason.
#[actix_web::test]
async fn the_cli_refuses_to_create_a_user_named_system_or_cli() {
    let app = TestApp::spawn().await;
    let users = user_count(&app);
    for name in ["System", "CLI"] {
        let out = cli(
            &app.db.url,
            &["user", "create", "--username", name, "--role", "support"],
            Some(&format!("{PASSWORD}\n")),
        );
        assert!(!out.status.success(), "{name} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is reserved"), "{name}: {stderr}");
    }
    assert_eq!(user_count(&app), users, "no user was created");
    assert_eq!(count_of(&app, "CREATE_USER"), 0);
}

/// A bidi override or an invisible character in a username or an org name would make the audit
/// log and "Last Modified By" read as something else. Refused, as in a token's name, through
/// the API.
#[actix_web::test]
async fn the_api_refuses_usernames_and_org_names_with_invisible_or_bidi_characters() {
    let app = TestApp::spawn().await;
    let support = Api::support(&app, "sam").await;
    let (users, orgs, events) = (user_count(&app), org_count(&app), app.audit_actions().len());

    for name in [
        "p9\u{202e}",
        "al\u{200b}ice",
        "bob\u{2066}",
        "\u{feff}carol",
    ] {
        let answer = support.post("/support/users", new_user(name)).await;
        refused_as_bad_request(&answer, "visible characters");
    }
    for name in [
        "\u{202e}gro",
        "Acme\u{200d}Corp",
        "Init\u{2068}ech",
        "Acme\u{3164}",
    ] {
        let answer = support.post("/support/orgs", json!({ "name": name })).await;
        refused_as_bad_request(&answer, "visible characters");
    }

    assert_eq!(user_count(&app), users, "no user was created");
    assert_eq!(org_count(&app), orgs, "no org was created");
    assert_eq!(app.audit_actions().len(), events, "nothing was audited");
    // Spaces and letters of any script stay welcome in an org's name.
    let (status, body) = support
        .post("/support/orgs", json!({ "name": "Société Générale 日本" }))
        .await;
    assert_eq!(status, 201, "{body}");
}

/// R13: the same through the command line's `user create` and `org create`.
#[actix_web::test]
async fn the_cli_refuses_usernames_and_org_names_with_invisible_or_bidi_characters() {
    let app = TestApp::spawn().await;
    let (users, orgs) = (user_count(&app), org_count(&app));
    let out = cli(
        &app.db.url,
        &[
            "user",
            "create",
            "--username",
            "p9\u{202e}",
            "--role",
            "support",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(!out.status.success(), "the username was accepted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("visible characters"), "{stderr}");
    let out = cli(
        &app.db.url,
        &["org", "create", "--name", "\u{202e}gro"],
        None,
    );
    assert!(!out.status.success(), "the org name was accepted");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("visible characters"), "{stderr}");
    assert_eq!((user_count(&app), org_count(&app)), (users, orgs));
    assert!(app.audit_actions().is_empty(), "nothing was audited");
}

/// The support console's provisioning form refuses such a name beside its field.
#[actix_web::test]
async fn the_console_refuses_an_org_name_with_a_bidi_override_beside_the_field() {
    let app = TestApp::spawn().await;
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let orgs = org_count(&app);

    let res = b
        .post_form("/support/orgs", &[("name", "\u{202e}gro")])
        .await;

    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(
        page.contains(
            "The organization name can only hold visible characters and spaces (no formatting \
             or invisible characters)."
        ),
        "{page}"
    );
    assert_eq!(org_count(&app), orgs, "no org was created");
    assert_eq!(count_of(&app, "PROVISION_ORG"), 0);
}

/// A limits change that names no limit is refused and says which can be given; one that gives
/// the limits the org already has is an idempotent PUT: 200, and no audit row of a change
/// that is none.
#[actix_web::test]
async fn a_limits_change_naming_no_limit_is_refused_and_one_that_changes_nothing_is_not_audited() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let support = Api::support(&app, "sam").await;
    let limits = format!("/support/orgs/{}/limits", org.id);

    for empty in [
        json!({}),
        json!({ "tokenLimit": null }),
        json!({ "tokenLimit": null, "dailyQuota": null, "abuseThreshold": null }),
    ] {
        let answer = support.put(&limits, empty.clone()).await;
        refused_as_bad_request(&answer, "tokenLimit");
        for field in ["dailyQuota", "abuseThreshold"] {
            assert!(answer.1["message"].as_str().unwrap().contains(field));
        }
    }
    assert_eq!(count_of(&app, "LIMITS_CHANGE"), 0);

    for same in [
        json!({ "tokenLimit": 5 }),
        json!({ "tokenLimit": 5, "dailyQuota": 100, "abuseThreshold": 1000 }),
        json!({ "dailyQuota": 100, "abuseThreshold": null }),
    ] {
        let (status, body) = support.put(&limits, same).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (
                body["tokenLimit"].clone(),
                body["dailyQuota"].clone(),
                body["abuseThreshold"].clone()
            ),
            (json!(5), json!(100), json!(1000))
        );
    }
    assert_eq!(
        count_of(&app, "LIMITS_CHANGE"),
        0,
        "no change, no audit row"
    );

    let (status, body) = support
        .put(&limits, json!({ "tokenLimit": 5, "dailyQuota": 7 }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dailyQuota"], 7);
    assert_eq!(
        count_of(&app, "LIMITS_CHANGE"),
        1,
        "a real change is audited"
    );
}

/// The console's limits form shares the rule: the limits as they are give a friendly "nothing
/// changed" and no audit row; a form with every field emptied is refused with the reason.
#[actix_web::test]
async fn the_console_says_nothing_changed_for_the_same_limits_and_refuses_an_empty_form() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let mut b = app.login_as_support("sam").await;
    let page = format!("/support/orgs/{}", org.id);
    let url = format!("/support/orgs/{}/limits", org.id);
    b.refresh_csrf_at(&page).await;

    let res = b
        .post_form(
            &url,
            &[
                ("token_limit", "5"),
                ("daily_quota", "100"),
                ("abuse_threshold", "1000"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let shown = b.text(&page).await;
    assert!(
        shown.contains("Nothing changed: the organization already has these limits."),
        "{shown}"
    );
    assert!(!shown.contains("Limits saved."), "{shown}");
    assert_eq!(
        count_of(&app, "LIMITS_CHANGE"),
        0,
        "no change, no audit row"
    );

    let res = b
        .post_form(
            &url,
            &[
                ("token_limit", ""),
                ("daily_quota", ""),
                ("abuse_threshold", ""),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    let shown = res.text().await.unwrap();
    assert!(
        shown.contains("Give at least one limit to change"),
        "{shown}"
    );
    assert_eq!(count_of(&app, "LIMITS_CHANGE"), 0, "nothing was audited");
    let row = db::orgs::find(&mut app.conn(), org.id).unwrap().unwrap();
    assert_eq!(
        (row.token_limit, row.daily_quota, row.abuse_threshold),
        (5, 100, 1000)
    );
}
