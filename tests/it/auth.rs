use crate::helpers::*;
use sandbox_portal::domain::role::Role;

#[actix_web::test]
async fn login_with_the_right_password_opens_the_token_page() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let mut b = app.client();
    let res = b.login("alice", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], PAGE);
    let page = b.text(PAGE).await;
    assert!(page.contains("Sandbox API Token"));
    assert!(page.contains("alice"));
}

#[actix_web::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let mut b = app.client();
    let wrong = b.login("alice", "not the password").await;
    let wrong_status = wrong.status();
    let wrong_body = wrong.text().await.unwrap().replace("alice", "NAME");
    let unknown = b.login("mallory", "not the password").await;
    let unknown_status = unknown.status();
    let unknown_body = unknown.text().await.unwrap().replace("mallory", "NAME");
    assert_eq!(wrong_status, 401);
    assert_eq!(unknown_status, wrong_status);
    assert!(wrong_body.contains("Invalid username or password."));
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("csrf"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&unknown_body), strip(&wrong_body));
}

#[actix_web::test]
async fn logins_and_failures_are_audited_without_the_password() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let mut b = app.client();
    b.login("alice", "wrong-password-123").await;
    b.login("alice", PASSWORD).await;
    let rows = app.audit_actions();
    let logins: Vec<_> = rows
        .iter()
        .filter(|r| r.0 == "LOGIN")
        .map(|r| r.1.as_str())
        .collect();
    assert_eq!(logins, ["FAILURE", "SUCCESS"]);
    // A password typed into the username box is not kept as typed either.
    b.login("hunter2-in-the-wrong-box", "x").await;
    let dump = app.audit_dump();
    assert!(!dump.contains("wrong-password-123"));
    assert!(!dump.contains(PASSWORD));
    assert!(!dump.contains("hunter2-in-the-wrong-box"));
    assert!(dump.contains("unknown user "));
}

#[actix_web::test]
async fn the_session_id_changes_at_login() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    // Fixation: the victim's browser carries a session id the attacker knows (their own).
    let mallory = app.login_as("mallory", Role::OrgViewer, &[org.id]).await;
    let planted = mallory
        .cookie_header()
        .split("; ")
        .find(|c| c.starts_with("sp_session="))
        .expect("a session cookie")
        .to_owned();
    let mut b = app.client();
    b.jar.add_cookie_str(&planted, &b.base.parse().unwrap());
    assert_eq!(b.login("alice", PASSWORD).await.status(), 303);
    let after = b.cookie_header();
    assert!(after.contains("sp_session="));
    assert!(!after.contains(&planted), "a new id at login");
    // The planted id does not open alice's session (renewing it ended it altogether).
    let replay = reqwest::Client::new()
        .get(b.url("/api/v1/authenticatedSession"))
        .header("Cookie", &planted)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
}

#[actix_web::test]
async fn after_logout_the_old_session_cookie_no_longer_works() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let mut b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let stolen = b.cookie_header();
    let before = b.text("/login").await;
    assert!(
        before.contains("You are logged in as <strong>alice</strong>"),
        "the form says who is logged in: {before}"
    );
    let res = b.post_form("/logout", &[]).await;
    assert_eq!(res.status(), 303);
    assert!(res.headers().contains_key("clear-site-data"));
    assert_eq!(res.headers()["location"], "/login?loggedOut=1");
    let after = b.text("/login?loggedOut=1").await;
    assert!(after.contains("You have logged out."), "{after}");
    assert!(!after.contains("You are logged in as"), "{after}");
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(b.url(PAGE))
        .header("Cookie", stolen)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
    assert!(
        replay.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    assert!(app.audit_actions().iter().any(|r| r.0 == "LOGOUT"));
    b.refresh_csrf_or_login_page().await;
}

impl Browser {
    async fn refresh_csrf_or_login_page(&mut self) {
        let res = self.get(PAGE).await;
        assert_eq!(
            res.status(),
            303,
            "the logged-out browser is sent to the login page"
        );
    }
}

#[actix_web::test]
async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let res = b
        .client
        .post(b.url(&add_url(org.id)))
        .form(&[("name", "sneaky")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = b
        .client
        .post(b.url(&add_url(org.id)))
        .form(&[("name", "sneaky"), ("csrf_token", "forged-value")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("Reload the page"));
    assert_eq!(app.tokens(org.id).len(), 1);
    let ok = b.post_form(&add_url(org.id), &[("name", "legit")]).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(app.tokens(org.id).len(), 2);
}

#[actix_web::test]
async fn repeated_failures_are_throttled_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let mut b = app.client();
    for _ in 0..5 {
        assert_eq!(b.login("alice", "wrong").await.status(), 401);
    }
    let res = b.login("alice", PASSWORD).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // An unknown name is throttled the same way, so throttling reveals nothing.
    for _ in 0..5 {
        b.login("ghost", "wrong").await;
    }
    assert_eq!(b.login("ghost", "wrong").await.status(), 429);
}

#[actix_web::test]
async fn pages_need_a_login_and_say_where_to_go() {
    let app = TestApp::spawn().await;
    let b = app.client();
    let res = b.get(PAGE).await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=")
    );
    let res = b.hx_get(PAGE).await;
    assert!(res.headers().contains_key("hx-redirect"));
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let b = app.client();
    for path in ["/login", "/healthz", "/static/htmx.min.js"] {
        let res = b.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert!(res.headers().contains_key("referrer-policy"));
    }
    let page = b.text("/login").await;
    assert!(!page.contains("<style"), "no inline style");
    assert!(!page.contains(" style="), "no inline style attribute");
    assert!(!page.contains("<script>"), "no inline script");
    assert_eq!(b.get("/readyz").await.status(), 200);
}

#[actix_web::test]
async fn a_session_past_its_absolute_lifetime_is_ended() {
    let app = TestApp::spawn_with(|s| s.session_absolute = chrono::Duration::seconds(-1)).await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let mut b = app.client();
    assert_eq!(b.login("alice", PASSWORD).await.status(), 303);
    let res = b.get(PAGE).await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
}

#[actix_web::test]
async fn the_login_form_never_redirects_off_site() {
    the_login_form_never_redirects_to("//evil.example/x").await;
    the_login_form_never_redirects_to("/\tevil.example/x").await;
    the_login_form_never_redirects_to("/\\evil.example").await;
    the_login_form_never_redirects_to("https://evil.example/").await;
}

async fn the_login_form_never_redirects_to(next: &str) {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let b = app.client();
    let page = b.text("/login").await;
    let csrf = csrf_in(&page).unwrap();
    let res = b
        .client
        .post(b.url("/login"))
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
            ("next", next),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], PAGE);
}

#[actix_web::test]
async fn parallel_guesses_take_turns_in_the_backoff() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let browsers: Vec<Browser> = (0..12).map(|_| app.client()).collect();
    let statuses: Vec<u16> = futures::future::join_all(
        browsers
            .into_iter()
            .map(|mut b| async move { b.login("alice", "a wrong guess").await.status().as_u16() }),
    )
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );
}

#[actix_web::test]
async fn an_idle_session_expires_server_side() {
    use diesel::prelude::*;
    use sandbox_portal::db::schema::web_sessions as ws;
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let mut b = app.client();
    assert_eq!(b.login("alice", PASSWORD).await.status(), 303);
    assert_eq!(b.get(PAGE).await.status(), 200);
    // Each request moves the expiry 30 minutes (SESSION_IDLE_MINUTES) ahead.
    let expires: Vec<chrono::DateTime<chrono::Utc>> = ws::table
        .filter(ws::user_id.is_not_null())
        .select(ws::expires_at)
        .load(&mut app.conn())
        .unwrap();
    let left = expires[0] - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(29) && left <= chrono::Duration::minutes(30),
        "{left}"
    );
    // Thirty idle minutes later, as far as the store is concerned:
    diesel::update(ws::table)
        .set(ws::expires_at.eq(chrono::Utc::now() - chrono::Duration::seconds(1)))
        .execute(&mut app.conn())
        .unwrap();
    let res = b.get(PAGE).await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
}

/// An unknown address is the portal's own 404 page (with its security headers), for visitors
/// and logged-in users alike; never an empty body the browser replaces with its own.
#[actix_web::test]
async fn an_unknown_page_gets_the_portals_404_page() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let anonymous = app.client();
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    for client in [&anonymous, &b] {
        let res = client.get("/no/such/page").await;
        assert_eq!(res.status(), 404);
        assert!(res.headers().contains_key("content-security-policy"));
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = res.text().await.unwrap();
        assert!(body.contains("does not exist"), "{body}");
    }
    // The logged-in person keeps the header: who they are, the way back, Log out.
    let page = b.text("/no/such/page").await;
    assert!(page.contains("alice") && page.contains("Log out"), "{page}");
    let bad_filter = b.text("/admin/audit-log?from=yesterday").await;
    assert!(bad_filter.contains("alice"), "{bad_filter}");
    assert!(!anonymous.text("/no/such/page").await.contains("Log out"));
}

/// An expired session turns a click into a trip to the login page and back to the same page
/// (org included), not into "your form has expired" on every button.
#[actix_web::test]
async fn after_the_session_expires_a_click_leads_to_login_and_back_to_the_same_page() {
    use diesel::prelude::*;
    use sandbox_portal::db::schema::web_sessions as ws;
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let mut b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    b.refresh_csrf_at(&page_of(org.id)).await;
    diesel::delete(ws::table).execute(&mut app.conn()).unwrap();

    let back = format!(
        "/login?next={}",
        sandbox_portal::error::urlencode(&page_of(org.id))
    );
    let res = b
        .client
        .post(b.url(&token_url(org.id, token.id, "reveal")))
        .header("HX-Request", "true")
        .header("HX-Current-URL", b.url(&page_of(org.id)))
        .header("X-CSRF-Token", &b.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["hx-redirect"], back.as_str());

    let res = b
        .post_form(&token_url(org.id, token.id, "delete"), &[])
        .await;
    assert_eq!(res.status(), 303);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login?next=")
    );

    let res = b.get(&page_of(org.id)).await;
    assert_eq!(res.headers()["location"], back.as_str());
    // The login form says why the person is there; a plain visit to it does not.
    assert!(b.text(&back).await.contains("your session has ended"));
    assert!(!b.text("/login").await.contains("your session has ended"));
    // And nothing was deleted on the way.
    assert_eq!(app.tokens(org.id).len(), 1);
}

/// §9: failures are throttled per account, but a browser that has logged in to the account
/// before has its own backoff, so someone guessing elsewhere cannot keep the admin out; its
/// cookie is bound to the account, so copying it to guess another account gains nothing.
#[actix_web::test]
async fn an_attacker_guessing_an_account_cannot_lock_out_a_browser_that_logged_in_before() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    app.user("bob", Role::OrgAdmin, &[org.id]);
    let mut alice = app.client();
    assert_eq!(alice.login("alice", PASSWORD).await.status(), 303);
    let device = alice
        .cookie_header()
        .split("; ")
        .find(|c| c.starts_with("sp_device="))
        .expect("a login-device cookie")
        .to_owned();

    let mut attacker = app.client();
    for _ in 0..6 {
        attacker.login("alice", "wrong").await;
    }
    assert_eq!(attacker.login("alice", PASSWORD).await.status(), 429);
    assert_eq!(alice.login("alice", PASSWORD).await.status(), 303);

    // Alice's browser is still throttled when it guesses, in its own bucket.
    let mut guesses = Vec::new();
    for _ in 0..6 {
        guesses.push(alice.login("alice", "wrong").await.status().as_u16());
    }
    assert_eq!(guesses.last(), Some(&429), "{guesses:?}");

    // Her cookie, copied, does not open a bucket of its own for bob.
    let mut copier = app.client();
    copier
        .jar
        .add_cookie_str(&device, &copier.base.parse().unwrap());
    for _ in 0..6 {
        copier.login("bob", "wrong").await;
    }
    let mut other = app.client();
    assert_eq!(other.login("bob", PASSWORD).await.status(), 429);
}

/// Text PostgreSQL cannot store (a NUL) is a failed login or a 400, never a 500.
#[actix_web::test]
async fn a_nul_in_a_login_or_a_filter_is_refused_not_a_server_error() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let mut b = app.client();
    assert_eq!(b.login("ali\0ce", "wrong").await.status(), 401);
    let api = reqwest::Client::new()
        .post(format!("{}/api/v1/authenticatedSession", app.addr))
        .json(&serde_json::json!({"username": "a\u{0}b", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["message"], "Invalid username or password.");

    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    for path in [
        "/admin/audit-log?user=%00",
        "/admin/audit-log?action=%00",
        "/admin/audit-log?before=-300000000000000000_1",
        "/admin/audit-log?from=-5000-01-01",
    ] {
        let res = b.get(path).await;
        assert_eq!(res.status(), 400, "{path}");
    }
}

/// `/` goes where logging in goes: support to the console, everyone else to the token page.
#[actix_web::test]
async fn the_home_address_leads_each_role_where_login_does() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let support = app.login_as_support("sam").await;
    assert_eq!(
        support.get("/").await.headers()["location"],
        "/support/orgs"
    );
    let admin = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    assert_eq!(admin.get("/").await.headers()["location"], PAGE);
    assert_eq!(app.client().get("/").await.headers()["location"], "/login");
}

/// Every name typed at the login form gets a throttle row; rows quiet for an hour are purged
/// (the longest backoff is a minute), so the table does not grow for good.
#[actix_web::test]
async fn throttle_rows_of_names_quiet_for_an_hour_are_purged() {
    use diesel::prelude::*;
    use sandbox_portal::db::schema::login_throttle as lt;
    let app = TestApp::spawn().await;
    let mut b = app.client();
    for name in ["ghost1", "ghost2"] {
        assert_eq!(b.login(name, "wrong").await.status(), 401);
    }
    let count = || {
        lt::table
            .count()
            .get_result::<i64>(&mut app.conn())
            .unwrap()
    };
    assert_eq!(count(), 2);
    diesel::sql_query(
        "UPDATE login_throttle SET last_failure_at = now() - interval '2 hours' \
         WHERE username = (SELECT min(username) FROM login_throttle)",
    )
    .execute(&mut app.conn())
    .unwrap();
    let purged = sandbox_portal::db::users::purge_stale_throttles(
        &mut app.conn(),
        chrono::Duration::hours(1),
    )
    .unwrap();
    assert_eq!((purged, count()), (1, 1));
}

/// Showing the login form writes nothing to the database (its CSRF token rides on a cookie of
/// its own), and the form still refuses a post that did not come from it.
#[actix_web::test]
async fn the_login_form_costs_no_session_row_and_still_refuses_forged_posts() {
    use diesel::prelude::*;
    use sandbox_portal::db::schema::web_sessions as ws;
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let sessions = || {
        ws::table
            .count()
            .get_result::<i64>(&mut app.conn())
            .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(app.client().get("/login").await.status(), 200);
    }
    assert_eq!(sessions(), 0);

    // No login cookie, or a token that is not its MAC: refused, nothing logged in.
    let forged = [
        ("username", "alice"),
        ("password", PASSWORD),
        ("csrf_token", "x"),
    ];
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = bare
        .post(format!("{}/login", app.addr))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let b = app.client();
    b.get("/login").await;
    let res = b
        .client
        .post(b.url("/login"))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(sessions(), 0);

    let mut b = app.client();
    assert_eq!(b.login("alice", PASSWORD).await.status(), 303);
    assert_eq!(sessions(), 1);
}

/// §7: logging in as someone else in a browser where another user is logged in ends that
/// user's session, and it is audited as their logout; nothing of their session carries over.
#[actix_web::test]
async fn logging_in_over_another_users_session_logs_them_out_audited() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let mut b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let alices = b.cookie_header();
    app.user("bob", Role::OrgViewer, &[org.id]);
    let logouts = |app: &TestApp| {
        app.audit_actions()
            .iter()
            .filter(|r| r.0 == "LOGOUT")
            .count()
    };
    assert_eq!(logouts(&app), 0);

    let res = b.login("bob", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(logouts(&app), 1, "alice's session ended, audited");
    let me = b.text("/api/v1/authenticatedSession").await;
    assert!(me.contains("\"username\":\"bob\""), "{me}");
    // Alice's old cookie opens nothing.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(b.url(PAGE))
        .header("Cookie", alices)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);

    // The same user logging in again is no logout.
    let res = b.login("bob", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(logouts(&app), 1);
}
