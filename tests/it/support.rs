use crate::helpers::*;
use chrono::{Duration, Utc};
use reqwest::Method;
use sandbox_portal::db;
use sandbox_portal::domain::role::Role;
use serde_json::{Value, json};
use uuid::Uuid;

fn org_url(org: uuid::Uuid, action: &str) -> String {
    format!("/support/orgs/{org}/{action}")
}

/// A support script on the JSON API: (status, body) of each call.
struct SupportApi {
    base: String,
    client: reqwest::Client,
}

impl SupportApi {
    async fn login(app: &TestApp, username: &str) -> SupportApi {
        app.user(username, Role::Support, &[]);
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let api = SupportApi {
            base: format!("{}/api/v1", app.addr),
            client: reqwest::Client::builder()
                .cookie_provider(jar)
                .build()
                .unwrap(),
        };
        let (status, body) = api
            .call(
                Method::POST,
                "/authenticatedSession",
                Some(json!({ "username": username, "password": PASSWORD })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        api
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text:?}"));
        (status, body)
    }
}

fn org_row(app: &TestApp, org: Uuid) -> db::models::Org {
    db::orgs::find(&mut app.conn(), org).unwrap().unwrap()
}

fn count_of(app: &TestApp, action: &str) -> usize {
    app.audit_actions().iter().filter(|r| r.0 == action).count()
}

/// The confirmation's form (JavaScript off: the org page with the dialog open).
fn confirmation_in(page: &str) -> &str {
    let start = page.find("<dialog").expect("a confirmation dialog");
    &page[start..]
}

#[actix_web::test]
async fn support_lands_on_the_console_and_finds_orgs_by_name_prefix_page_by_page() {
    let app = TestApp::spawn().await;
    for i in 0..55 {
        app.org(&format!("Org {i:03}"));
    }
    app.org("Zeta Corp");
    app.user("sam", Role::Support, &[]);
    let mut b = app.client();
    let res = b.login("sam", PASSWORD).await;
    assert_eq!(res.headers()["location"], "/support/orgs");
    let first = b.text("/support/orgs").await;
    assert!(first.contains("Org 000") && first.contains("Org 049"));
    assert!(!first.contains("Org 050"), "50 per page");
    let next = first
        .split("href=\"/support/orgs?q=&amp;after=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a next-page link")
        .to_owned();
    let second = b.text(&format!("/support/orgs?after={next}")).await;
    assert!(second.contains("Org 050") && second.contains("Zeta Corp"));
    assert!(!second.contains("Org 049"));
    let found = b.text("/support/orgs?q=zet").await;
    assert!(found.contains("Zeta Corp") && !found.contains("Org 001"));
}

#[actix_web::test]
async fn r2_support_provisions_an_org_whose_first_token_is_created_enabled() {
    let app = TestApp::spawn().await;
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let res = b
        .post_form(
            "/support/orgs",
            &[
                ("name", "Initech"),
                ("cloud", "zscalertwo.net"),
                ("subscription_days", "30"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let org_id: uuid::Uuid = location.rsplit('/').next().unwrap().parse().unwrap();
    let tokens = app.tokens(org_id);
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].disabled_at.is_none());
    let page = b.text(&location).await;
    assert!(page.contains("Initech") && page.contains("Active until"));
    assert!(
        !page.contains(app.value_of(org_id, tokens[0].id).expose()),
        "support never sees a value"
    );

    let bad = b
        .post_form("/support/orgs", &[("name", "X"), ("token_limit", "lots")])
        .await;
    assert_eq!(bad.status(), 400);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("Token limit must be a whole number")
    );
}

#[actix_web::test]
async fn r7_support_disables_a_token_with_a_reason_and_re_enables_the_same_value() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let path = format!("/support/orgs/{}/tokens/{}/disable", org.id, token.id);
    let res = b.post_form(&path, &[("reason", "  ")]).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("Give a reason"));
    assert!(
        app.tokens(org.id)[0].disabled_at.is_none(),
        "nothing was written"
    );

    let res = b
        .post_form(
            &path,
            &[("reason", "terms violation"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(res.status(), 303);
    // The org page it leads to confirms the change, once.
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(b.text(&next).await.contains("Token disabled."));
    assert!(!b.text(&next).await.contains("Token disabled."));
    let admin = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = admin.text(PAGE).await;
    assert!(page.contains("terms violation"));
    assert!(!page.contains("Add Sandbox API Token"));
    assert!(!page.contains("Regenerate token"));

    let res = b
        .post_form(
            &format!("/support/orgs/{}/tokens/{}/enable", org.id, token.id),
            &[],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = admin.text(PAGE).await;
    assert!(page.contains("Add Sandbox API Token") && page.contains("Regenerate token"));
    assert_eq!(app.value_of(org.id, token.id), value);
    let actions: Vec<String> = app.audit_actions().into_iter().map(|r| r.0).collect();
    assert!(actions.contains(&"DISABLE_TOKEN".into()) && actions.contains(&"ENABLE_TOKEN".into()));
}

#[actix_web::test]
async fn r8_support_expires_and_renews_a_subscription_from_the_console() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let res = b
        .post_form(
            &org_url(org.id, "subscription"),
            &[("action", "expire"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let admin = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    assert!(
        admin
            .text(PAGE)
            .await
            .contains("Sandbox subscription expired")
    );
    let res = b
        .post_form(
            &org_url(org.id, "subscription"),
            &[("action", "renew"), ("days", "0")],
        )
        .await;
    assert_eq!(res.status(), 400);
    let res = b
        .post_form(
            &org_url(org.id, "subscription"),
            &[("action", "renew"), ("days", "90")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = admin.text(PAGE).await;
    assert!(!page.contains("Sandbox subscription expired"));
    assert!(page.contains("Add Sandbox API Token"));
    assert_eq!(
        app.value_of(org.id, token.id),
        value,
        "the same value works again"
    );
}

#[actix_web::test]
async fn r10_support_disables_and_re_enables_an_orgs_sandbox_api_access() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    assert_eq!(
        b.post_form(
            &org_url(org.id, "disable"),
            &[("reason", "abuse"), ("confirmed", "yes")]
        )
        .await
        .status(),
        303
    );
    let page = b.text(&format!("/support/orgs/{}", org.id)).await;
    assert!(page.contains("Re-enable Sandbox API access"));
    assert_eq!(
        b.post_form(&org_url(org.id, "enable"), &[]).await.status(),
        303
    );
    let page = b.text(&format!("/support/orgs/{}", org.id)).await;
    assert!(page.contains("Disable for the whole organization"));
    let res = b
        .post_form(
            &org_url(org.id, "limits"),
            &[("token_limit", "3"), ("daily_quota", "7")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let page = b.text(&format!("/support/orgs/{}", org.id)).await;
    assert!(page.contains("of 7 (daily quota)"));
}

#[actix_web::test]
async fn only_support_reaches_the_console() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    for (name, role) in [
        ("admin", Role::OrgAdmin),
        ("viewer", Role::OrgViewer),
        ("connector", Role::ConnectorAdmin),
        ("partner", Role::PartnerViewer),
    ] {
        let mut b = app.login_as(name, role, &[org.id]).await;
        b.refresh_csrf().await;
        assert_eq!(b.get("/support/orgs").await.status(), 403, "{name}");
        assert_eq!(
            b.get(&format!("/support/orgs/{}", org.id)).await.status(),
            403,
            "{name}"
        );
        let path = format!("/support/orgs/{}/tokens/{}/disable", org.id, token.id);
        assert_eq!(
            b.post_form(&path, &[("reason", "x")]).await.status(),
            403,
            "{name}"
        );
        assert_eq!(
            b.post_form("/support/orgs", &[("name", "Evil")])
                .await
                .status(),
            403
        );
    }
    assert!(app.tokens(org.id)[0].disabled_at.is_none());
}

#[actix_web::test]
async fn provisioning_refuses_subscription_days_outside_1_to_3650_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    // Past i64 days of chrono (a panic), past PostgreSQL's range, zero and negative (an org
    // expired from the start).
    for days in ["99999999999", "95000000", "-99999999", "0", "-5", "3651"] {
        let res = b
            .post_form(
                "/support/orgs",
                &[
                    ("name", "Initech"),
                    ("cloud", "zscalertwo.net"),
                    ("subscription_days", days),
                    ("daily_quota", "250"),
                ],
            )
            .await;
        assert_eq!(res.status(), 400, "{days}");
        let page = res.text().await.unwrap();
        assert!(
            page.contains("The subscription must last 1 to 3650 days."),
            "{days}: {page}"
        );
        for typed in [
            "value=\"Initech\"",
            "value=\"zscalertwo.net\"",
            &format!("value=\"{days}\""),
            "value=\"250\"",
        ] {
            assert!(page.contains(typed), "{days}: {typed} kept");
        }
    }
    assert!(
        db::orgs::find_by_name(&mut app.conn(), "Initech")
            .unwrap()
            .is_none(),
        "nothing was written"
    );
    let res = b
        .post_form(
            "/support/orgs",
            &[("name", "Initech"), ("subscription_days", "3650")],
        )
        .await;
    assert_eq!(res.status(), 303);
}

#[actix_web::test]
async fn r2_provisioning_without_a_subscription_says_that_no_token_was_created() {
    let app = TestApp::spawn().await;
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let res = b.post_form("/support/orgs", &[("name", "Initech")]).await;
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let org_id: Uuid = location.rsplit('/').next().unwrap().parse().unwrap();
    assert!(
        app.tokens(org_id).is_empty(),
        "R2: no subscription, no token"
    );
    let page = b.text(&location).await;
    assert!(
        page.contains(
            "Organization &#34;Initech&#34; created without a Sandbox subscription, so it has no \
             Sandbox API token yet."
        ) || page.contains(
            "Organization &quot;Initech&quot; created without a Sandbox subscription, so it has \
             no Sandbox API token yet."
        ),
        "{page}"
    );
    assert!(!page.contains("created with one Sandbox API token"));
}

#[actix_web::test]
async fn a_duplicate_org_name_at_provisioning_is_409_like_the_api_and_keeps_what_was_typed() {
    let app = TestApp::spawn().await;
    app.org("Acme");
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let res = b
        .post_form("/support/orgs", &[("name", "Acme"), ("token_limit", "9")])
        .await;
    assert_eq!(res.status(), 409);
    let page = res.text().await.unwrap();
    assert!(page.contains("already exists"), "{page}");
    assert!(page.contains("value=\"Acme\"") && page.contains("value=\"9\""));
    let api = SupportApi::login(&app, "sue").await;
    let (status, body) = api
        .call(
            Method::POST,
            "/support/orgs",
            Some(json!({ "name": "Acme" })),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (409, Some("CONFLICT")));
}

#[actix_web::test]
async fn a_nul_character_in_support_input_is_refused_with_400_or_matches_nothing_never_a_500() {
    let app = TestApp::spawn().await;
    app.org("Acme");
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    // Search: no name can hold a NUL, so it matches nothing.
    let res = b.get("/support/orgs?q=%00").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("No organization matches")
    );
    let res = b.get("/support/orgs?q=Ac%00").await;
    assert_eq!(res.status(), 200);
    let res = b
        .get(&format!("/support/orgs?after=Acme%00%1F{}", Uuid::nil()))
        .await;
    assert_eq!(res.status(), 200);
    for (name, cloud, says) in [
        ("Ini\0tech", "zscaler.net", "without control characters"),
        ("Initech", "zscaler\0.net", "must be a domain name"),
    ] {
        let res = b
            .post_form("/support/orgs", &[("name", name), ("cloud", cloud)])
            .await;
        assert_eq!(res.status(), 400, "{name:?} {cloud:?}");
        assert!(
            res.text().await.unwrap().contains(says),
            "{name:?} {cloud:?}"
        );
    }

    let api = SupportApi::login(&app, "sue").await;
    let (status, body) = api
        .call(Method::GET, "/support/orgs?search=%00", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orgs"], json!([]));
    for body in [
        json!({ "name": "Ini\u{0}tech" }),
        json!({ "name": "Initech", "cloud": "\u{0}" }),
    ] {
        let (status, answer) = api
            .call(Method::POST, "/support/orgs", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["code"], "BAD_REQUEST");
    }
    let (status, answer) = api
        .call(
            Method::POST,
            "/support/users",
            Some(json!({
                "username": "pe\u{0}ter",
                "password": PASSWORD,
                "role": "support",
            })),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("control characters")
    );
    assert_eq!(count_of(&app, "PROVISION_ORG"), 1, "only Acme");
}

#[actix_web::test]
async fn r8_the_api_refuses_a_subscription_end_outside_the_years_1970_to_9999_with_400() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let before = org_row(&app, org.id).subscription_expires_at;
    let api = SupportApi::login(&app, "sue").await;
    let path = format!("/support/orgs/{}/subscription", org.id);
    for at in [
        "-5000-01-01T00:00:00Z",
        "+200000-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "+10000-01-01T00:00:00Z",
    ] {
        let (status, body) = api
            .call(Method::PUT, &path, Some(json!({ "expiresAt": at })))
            .await;
        assert_eq!(status, 400, "{at}: {body}");
        assert_eq!(body["code"], "BAD_REQUEST");
        assert!(
            body["message"].as_str().unwrap().contains("1970")
                && body["message"].as_str().unwrap().contains("9999"),
            "{body}"
        );
        let (status, body) = api
            .call(
                Method::POST,
                "/support/orgs",
                Some(json!({ "name": "Initech", "subscriptionExpiresAt": at })),
            )
            .await;
        assert_eq!(status, 400, "{at}: {body}");
    }
    assert_eq!(org_row(&app, org.id).subscription_expires_at, before);
    assert_eq!(count_of(&app, "SUBSCRIPTION_CHANGE"), 0);
    // A past end is how a subscription is expired (R8).
    let (status, body) = api
        .call(
            Method::PUT,
            &path,
            Some(json!({ "expiresAt": "2020-01-01T00:00:00Z" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subscription"]["status"], "EXPIRED");
}

#[actix_web::test]
async fn r8_renewing_early_extends_from_the_current_end_and_says_the_new_end_date() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let end = Utc::now() + Duration::days(1000);
    db::orgs::set_subscription(&mut app.conn(), org.id, Some(end)).unwrap();
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let res = b
        .post_form(
            &org_url(org.id, "subscription"),
            &[("action", "renew"), ("days", "30")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let renewed = org_row(&app, org.id).subscription_expires_at.unwrap();
    let want = end + Duration::days(30);
    assert!(
        (renewed - want).num_seconds().abs() < 2,
        "{renewed} should be {want}"
    );
    let page = b.text(&format!("/support/orgs/{}", org.id)).await;
    // The stored end, to the minute and with its zone, as every time in the portal reads.
    assert!(
        page.contains(&format!(
            "Subscription renewed until {}.",
            renewed.format("%Y-%m-%d %H:%M UTC")
        )),
        "{page}"
    );

    // An expired subscription renews from now.
    db::orgs::set_subscription(
        &mut app.conn(),
        org.id,
        Some(Utc::now() - Duration::days(400)),
    )
    .unwrap();
    let res = b
        .post_form(
            &org_url(org.id, "subscription"),
            &[("action", "renew"), ("days", "30")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let renewed = org_row(&app, org.id).subscription_expires_at.unwrap();
    assert!(
        (renewed - (Utc::now() + Duration::days(30)))
            .num_seconds()
            .abs()
            < 5
    );

    // A refused renewal shows what was typed beside the message.
    let res = b
        .post_form(
            &org_url(org.id, "subscription"),
            &[("action", "renew"), ("days", "4000")],
        )
        .await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("1 to 3650 days") && page.contains("value=\"4000\""));
}

#[actix_web::test]
async fn a_refused_limits_change_shows_what_was_typed_with_the_message() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let res = b
        .post_form(
            &org_url(org.id, "limits"),
            &[
                ("token_limit", "7"),
                ("daily_quota", "lots"),
                ("abuse_threshold", "2000"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("Daily quota must be a whole number."));
    for typed in ["value=\"7\"", "value=\"lots\"", "value=\"2000\""] {
        assert!(page.contains(typed), "{typed} kept");
    }
    assert!(!page.contains("value=\"5\""), "not the stored limit");
    assert_eq!(org_row(&app, org.id).token_limit, 5, "nothing was written");
}

#[actix_web::test]
async fn r4_a_token_limit_below_the_current_count_is_saved_and_the_confirmation_says_so() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    for n in 2..=4 {
        app.add_token(org.id, &format!("t{n}"));
    }
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let res = b
        .post_form(&org_url(org.id, "limits"), &[("token_limit", "3")])
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(org_row(&app, org.id).token_limit, 3);
    let page = b.text(&format!("/support/orgs/{}", org.id)).await;
    assert!(
        page.contains(
            "Limits saved. The organization has 4 tokens, above the new limit of 3: it cannot \
             add tokens until it has fewer than 3."
        ),
        "{page}"
    );
    let res = b
        .post_form(&org_url(org.id, "limits"), &[("token_limit", "4")])
        .await;
    assert_eq!(res.status(), 303);
    let page = b.text(&format!("/support/orgs/{}", org.id)).await;
    assert!(page.contains("Limits saved.") && !page.contains("above the new limit"));
}

#[actix_web::test]
async fn r7_disabling_a_token_asks_for_confirmation_first_with_and_without_javascript() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let mut b = app.login_as_support("sam").await;
    let page = b.text(&format!("/support/orgs/{}", org.id)).await;
    b.refresh_csrf_at(&format!("/support/orgs/{}", org.id))
        .await;
    let field = format!("id=\"reason-{}\"", token.id);
    let input = page
        .split(&field)
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    assert!(
        input.contains("required"),
        "the reason is required: {input}"
    );
    assert!(page.contains("id=\"org-reason\""));
    let org_input = page
        .split("id=\"org-reason\"")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    assert!(org_input.contains("required"));

    let path = format!("/support/orgs/{}/tokens/{}/disable", org.id, token.id);
    // JavaScript off: the first click shows the org page with the confirmation open.
    let res = b.post_form(&path, &[("reason", "abuse <42>")]).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let dialog = confirmation_in(&page);
    assert!(dialog.contains(&format!("action=\"{path}\"")));
    assert!(
        dialog.contains("name=\"reason\" value=\"abuse &#60;42&#62;\"")
            || dialog.contains("name=\"reason\" value=\"abuse &lt;42&gt;\""),
        "{dialog}"
    );
    assert!(dialog.contains("name=\"confirmed\" value=\"yes\""));
    assert!(dialog.contains("data-dialog-cancel"));
    // With htmx: only the dialog, for the modal root.
    let res = b.hx_post(&path, &[("reason", "abuse")]).await;
    assert_eq!(res.status(), 200);
    let fragment = res.text().await.unwrap();
    assert!(fragment.trim_start().starts_with("<dialog"), "{fragment}");
    assert!(!fragment.contains("<html"));
    assert!(app.tokens(org.id)[0].disabled_at.is_none(), "nothing yet");
    assert_eq!(count_of(&app, "DISABLE_TOKEN"), 0);

    let res = b
        .post_form(&path, &[("reason", "abuse"), ("confirmed", "yes")])
        .await;
    assert_eq!(res.status(), 303);
    assert!(app.tokens(org.id)[0].disabled_at.is_some());
}

#[actix_web::test]
async fn r8_r10_expire_now_and_disabling_the_whole_org_ask_for_confirmation_first() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let before = org_row(&app, org.id);

    let sub = org_url(org.id, "subscription");
    let res = b.post_form(&sub, &[("action", "expire")]).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let dialog = confirmation_in(&page);
    assert!(dialog.contains("name=\"action\" value=\"expire\""));
    assert!(dialog.contains("name=\"confirmed\" value=\"yes\""));
    let res = b.hx_post(&sub, &[("action", "expire")]).await;
    assert!(
        res.text()
            .await
            .unwrap()
            .trim_start()
            .starts_with("<dialog")
    );

    let off = org_url(org.id, "disable");
    let res = b.post_form(&off, &[("reason", "abuse")]).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(confirmation_in(&page).contains("name=\"reason\" value=\"abuse\""));
    // A bad reason is refused at the first step, beside the field, with what was typed.
    let long = "x".repeat(201);
    let res = b.post_form(&off, &[("reason", &long)]).await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("Give a reason") && page.contains(&format!("value=\"{long}\"")));
    assert!(!page.contains("<dialog"));

    let now = org_row(&app, org.id);
    assert_eq!(now.subscription_expires_at, before.subscription_expires_at);
    assert!(now.api_disabled_at.is_none(), "nothing yet");
    assert_eq!(
        count_of(&app, "SUBSCRIPTION_CHANGE") + count_of(&app, "DISABLE_ORG_API"),
        0
    );

    let res = b
        .post_form(&sub, &[("action", "expire"), ("confirmed", "yes")])
        .await;
    assert_eq!(res.status(), 303);
    let res = b
        .post_form(&off, &[("reason", "abuse"), ("confirmed", "yes")])
        .await;
    assert_eq!(res.status(), 303);
    let now = org_row(&app, org.id);
    assert!(now.subscription_expires_at.unwrap() < Utc::now());
    assert_eq!(now.api_disabled_reason.as_deref(), Some("abuse"));
}

#[actix_web::test]
async fn r7_r10_disabling_what_is_already_disabled_is_409_and_keeps_the_first_reason() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let api = SupportApi::login(&app, "sue").await;

    // One token, through the web UI and the API alike.
    let web = format!("/support/orgs/{}/tokens/{}/disable", org.id, token.id);
    let res = b
        .post_form(&web, &[("reason", "first"), ("confirmed", "yes")])
        .await;
    assert_eq!(res.status(), 303);
    let res = b
        .post_form(&web, &[("reason", "second"), ("confirmed", "yes")])
        .await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("already disabled"));
    // Nor is a confirmation offered for it.
    assert_eq!(
        b.post_form(&web, &[("reason", "second")]).await.status(),
        409
    );
    let tok = format!("/support/orgs/{}/sandboxApiTokens/{}", org.id, token.id);
    let (status, body) = api
        .call(
            Method::POST,
            &format!("{tok}/disable"),
            Some(json!({ "reason": "third" })),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("CONFLICT")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already disabled")
    );
    assert_eq!(
        app.tokens(org.id)[0].disabled_reason.as_deref(),
        Some("first")
    );
    assert_eq!(count_of(&app, "DISABLE_TOKEN"), 1);
    let (status, _) = api.call(Method::POST, &format!("{tok}/enable"), None).await;
    assert_eq!(status, 200);
    let (status, body) = api.call(Method::POST, &format!("{tok}/enable"), None).await;
    assert_eq!(status, 409, "{body}");
    let res = b
        .post_form(
            &format!("/support/orgs/{}/tokens/{}/enable", org.id, token.id),
            &[],
        )
        .await;
    assert_eq!(res.status(), 409);
    assert_eq!(count_of(&app, "ENABLE_TOKEN"), 1);

    // The whole org.
    let res = b
        .post_form(
            &org_url(org.id, "disable"),
            &[("reason", "first"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/support/orgs/{}/disable", org.id),
            Some(json!({ "reason": "second" })),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let res = b
        .post_form(
            &org_url(org.id, "disable"),
            &[("reason", "second"), ("confirmed", "yes")],
        )
        .await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("already disabled"));
    assert_eq!(
        org_row(&app, org.id).api_disabled_reason.as_deref(),
        Some("first")
    );
    assert_eq!(count_of(&app, "DISABLE_ORG_API"), 1);
    assert_eq!(
        b.post_form(&org_url(org.id, "enable"), &[]).await.status(),
        303
    );
    let (status, _) = api
        .call(
            Method::POST,
            &format!("/support/orgs/{}/enable", org.id),
            None,
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        b.post_form(&org_url(org.id, "enable"), &[]).await.status(),
        409
    );
    assert_eq!(count_of(&app, "ENABLE_ORG_API"), 1);
}

/// R2 ("initially provisioned … enabled, and displayed"): an org provisioned without a
/// subscription gets its first token when its subscription starts, from the console or the API.
/// A renewal of an org that had a subscription creates nothing, even with no token left.
#[actix_web::test]
async fn r2_the_first_token_is_created_when_a_subscription_starts_after_provisioning() {
    let app = TestApp::spawn().await;
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let res = b.post_form("/support/orgs", &[("name", "Initech")]).await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let initech: Uuid = location.rsplit('/').next().unwrap().parse().unwrap();
    assert!(app.tokens(initech).is_empty());
    b.refresh_csrf_at(&location).await;
    let res = b
        .post_form(
            &org_url(initech, "subscription"),
            &[("action", "renew"), ("days", "30")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let tokens = app.tokens(initech);
    assert_eq!(tokens.len(), 1, "R2: the first token");
    assert!(tokens[0].disabled_at.is_none());
    assert_eq!(tokens[0].name, "Token 1");
    assert!(
        app.audit_actions()
            .iter()
            .any(|r| r.0 == "ADD_TOKEN" && r.2 == Some(tokens[0].id)),
        "the new token is audited"
    );

    let api = SupportApi::login(&app, "sue").await;
    let (status, body) = api
        .call(
            Method::POST,
            "/support/orgs",
            Some(json!({ "name": "Globex" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let globex: Uuid = body["id"].as_str().unwrap().parse().unwrap();
    let end = (Utc::now() + Duration::days(30)).to_rfc3339();
    let (status, body) = api
        .call(
            Method::PUT,
            &format!("/support/orgs/{globex}/subscription"),
            Some(json!({ "expiresAt": end })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.tokens(globex).len(), 1);

    // Had a subscription: renewing after every token was deleted gives none back.
    let (org, token) = app.org("Umbrella");
    sandbox_portal::service::tokens::delete(
        &mut app.conn(),
        &sandbox_portal::db::audit::Actor::cli(),
        org.id,
        token.id,
    )
    .unwrap();
    let end = (Utc::now() + Duration::days(90)).to_rfc3339();
    let (status, _) = api
        .call(
            Method::PUT,
            &format!("/support/orgs/{}/subscription", org.id),
            Some(json!({ "expiresAt": end })),
        )
        .await;
    assert_eq!(status, 200);
    assert!(app.tokens(org.id).is_empty());
}

/// The org search matches the start of a name without regard to case for every letter, not
/// only ASCII ones, through the console and the API alike; and names that differ only in case
/// are one name.
#[actix_web::test]
async fn org_search_and_unique_names_fold_the_case_of_non_ascii_letters_too() {
    let app = TestApp::spawn().await;
    app.org("Ørsted Energy");
    app.org("Acme");
    let b = app.login_as_support("sam").await;
    for search in ["%C3%98rsted", "%C3%B8RSTED", "%C3%B8"] {
        let page = b.text(&format!("/support/orgs?q={search}")).await;
        assert!(page.contains("Ørsted Energy"), "{search}: {page}");
        assert!(!page.contains(">Acme<"), "{search}");
    }
    let api = SupportApi::login(&app, "sue").await;
    let (status, body) = api
        .call(Method::GET, "/support/orgs?search=%C3%B8rsted", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["orgs"][0]["name"], "Ørsted Energy", "{body}");
    let (status, body) = api
        .call(
            Method::POST,
            "/support/orgs",
            Some(json!({ "name": "øRSTED ENERGY" })),
        )
        .await;
    assert_eq!(status, 409, "{body}");
}

/// The OpenAPI document gives the bounds the server enforces (R4's limit, R10/R11's counts,
/// R9's names), and the server keeps to them at each edge.
#[actix_web::test]
async fn the_documented_bounds_are_the_enforced_ones() {
    use sandbox_portal::service::orgs::TOKEN_LIMIT_MAX;
    let app = TestApp::spawn().await;
    let api = SupportApi::login(&app, "sue").await;
    let (_, doc) = api.call(Method::GET, "/openapi.json", None).await;
    let schemas = &doc["components"]["schemas"];
    for request in ["ProvisionRequest", "LimitsRequest"] {
        let fields = &schemas[request]["properties"];
        assert_eq!(fields["tokenLimit"]["minimum"], 1, "{request}: {fields}");
        assert_eq!(
            fields["tokenLimit"]["maximum"], TOKEN_LIMIT_MAX,
            "{request}"
        );
        assert_eq!(fields["dailyQuota"]["minimum"], 0, "{request}");
        assert_eq!(fields["abuseThreshold"]["minimum"], 0, "{request}");
    }
    for request in ["AddRequest", "RenameRequest"] {
        let name = &schemas[request]["properties"]["name"];
        assert_eq!(name["minLength"], 1, "{request}: {name}");
        assert_eq!(name["maxLength"], 10, "{request}");
    }

    for (limit, status) in [
        (0, 400),
        (1, 201),
        (TOKEN_LIMIT_MAX, 201),
        (TOKEN_LIMIT_MAX + 1, 400),
    ] {
        let (got, body) = api
            .call(
                Method::POST,
                "/support/orgs",
                Some(json!({ "name": format!("Limit {limit}"), "tokenLimit": limit })),
            )
            .await;
        assert_eq!(got, status, "tokenLimit {limit}: {body}");
    }
    for (field, value, status) in [("dailyQuota", -1, 400), ("abuseThreshold", 0, 201)] {
        let (got, body) = api
            .call(
                Method::POST,
                "/support/orgs",
                Some(json!({ "name": format!("{field} {value}"), field: value })),
            )
            .await;
        assert_eq!(got, status, "{field} {value}: {body}");
    }
}
