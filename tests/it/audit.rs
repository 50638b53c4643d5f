use crate::cli::cli;
use crate::helpers::*;
use diesel::prelude::*;
use sandbox_portal::domain::role::Role;
use uuid::Uuid;

fn verify(app: &TestApp) -> (bool, String) {
    let out = cli(&app.db.url, &["audit", "verify"], None);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Alters the trail the way an intruder with database access would: triggers off.
fn behind_the_apps_back(app: &TestApp, sql: &str) {
    let mut conn = app.conn();
    conn.transaction(|c| {
        diesel::sql_query("SET LOCAL session_replication_role = replica").execute(c)?;
        diesel::sql_query(sql).execute(c)
    })
    .unwrap();
}

#[actix_web::test]
async fn audit_verify_accepts_the_trail_of_concurrent_writers_and_catches_an_edited_row() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let url = token_url(org.id, token.id, "reveal");
    futures::future::join_all((0..12).map(|_| b.hx_post(&url, &[]))).await;
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    assert!(out.contains("intact"));

    let ids: Vec<i64> = sandbox_portal::db::schema::audit_events::table
        .select(sandbox_portal::db::schema::audit_events::id)
        .order(sandbox_portal::db::schema::audit_events::id.asc())
        .load(&mut app.conn())
        .unwrap();
    let victim = ids[ids.len() / 2];
    behind_the_apps_back(
        &app,
        &format!("UPDATE audit_events SET actor = 'mallory' WHERE id = {victim}"),
    );
    let (ok, out) = verify(&app);
    assert!(!ok);
    assert!(out.contains(&format!("audit event {victim} ")), "{out}");
}

#[actix_web::test]
async fn audit_verify_catches_a_deleted_row() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    for i in 0..4 {
        app.add_token(org.id, &format!("t{i}"));
    }
    let ids: Vec<i64> = sandbox_portal::db::schema::audit_events::table
        .filter(sandbox_portal::db::schema::audit_events::org_id.eq(org.id))
        .select(sandbox_portal::db::schema::audit_events::id)
        .order(sandbox_portal::db::schema::audit_events::id.asc())
        .load(&mut app.conn())
        .unwrap();
    behind_the_apps_back(
        &app,
        &format!("DELETE FROM audit_events WHERE id = {}", ids[2]),
    );
    let (ok, out) = verify(&app);
    assert!(!ok);
    assert!(out.contains(&format!("audit event {} ", ids[3])), "{out}");
}

#[actix_web::test]
async fn the_retention_purge_removes_only_old_events_and_the_chain_still_verifies() {
    let app = TestApp::spawn().await;
    diesel::sql_query(
        "INSERT INTO audit_events (actor, action, interface, result, occurred_at) \
         SELECT 'old', 'LOGIN', 'UI', 'SUCCESS', now() - interval '200 days' FROM generate_series(1, 3)",
    )
    .execute(&mut app.conn())
    .unwrap();
    app.org("Acme");
    let before = app.audit_actions().len();
    let out = cli(&app.db.url, &["audit", "purge"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("purged 3 audit events"));
    assert_eq!(app.audit_actions().len(), before - 3);
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
    // Outside the purge, the database still refuses deletion.
    assert!(
        diesel::sql_query("DELETE FROM audit_events")
            .execute(&mut app.conn())
            .is_err()
    );
}

#[actix_web::test]
async fn the_audit_log_page_shows_own_org_events_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let (other, _) = app.org("Globex");
    app.add_token(other.id, "theirs");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let url = token_url(org.id, token.id, "reveal");
    for _ in 0..55 {
        b.hx_post(&url, &[]).await;
    }
    let page = b.text("/admin/audit-log").await;
    assert!(page.contains("REVEAL_TOKEN"));
    assert!(
        page.contains("<dt>via</dt><dd>reveal</dd>"),
        "details read as key and value, not JSON"
    );
    assert!(!page.contains("theirs"), "another org's events stay hidden");
    assert_eq!(
        page.matches("<tr>").count(),
        1 + 50,
        "header row and 50 events"
    );
    let next = page
        .split("&amp;before=")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an older-events link")
        .to_owned();
    assert!(!page.contains("Newest events"), "already the newest");
    let older = b.text(&format!("/admin/audit-log?before={next}")).await;
    assert!(older.contains("LOGIN") && older.contains("ADD_TOKEN"));
    assert!(
        older.contains("<a class=\"btn\" href=\"/admin/audit-log?\">Newest events</a>"),
        "a way back from an older page"
    );
    // Many events fall in one minute: shown to the second.
    let second = first_time_shown(&page);
    assert_eq!(second.len(), "2026-11-29 11:16:05 UTC".len(), "{second}");

    let logins = b.text("/admin/audit-log?action=LOGIN").await;
    assert!(logins.contains("<code>LOGIN</code>") && !logins.contains("<code>REVEAL_TOKEN</code>"));
    let today = chrono::Utc::now().date_naive();
    let yesterday = today.pred_opt().unwrap();
    let none = b.text(&format!("/admin/audit-log?to={yesterday}")).await;
    assert!(none.contains("No events match."));
    let some = b
        .text(&format!("/admin/audit-log?from={today}&user=alice"))
        .await;
    assert!(some.contains("REVEAL_TOKEN"));
    // Usernames are unique without regard to case, and so is the filter.
    let shouted = b
        .text(&format!("/admin/audit-log?from={today}&user=ALICE"))
        .await;
    assert!(shouted.contains("REVEAL_TOKEN"));
    // A filter that cannot be used is said next to the form, which keeps what was typed.
    let res = b
        .get(&format!(
            "/admin/audit-log?user=alice&from={today}&to={yesterday}"
        ))
        .await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("id=\"filter-error\""), "{page}");
    assert!(page.contains("The date range ends before it starts."));
    assert!(page.contains(&format!("value=\"{yesterday}\"")) && page.contains("value=\"alice\""));
    assert!(!page.contains("No events match."), "no results claimed");
    assert_eq!(b.get("/admin/audit-log?from=yesterday").await.status(), 400);
}

#[actix_web::test]
async fn the_audit_log_exports_as_csv_with_the_same_filters() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    let mut b = app.client();
    assert_eq!(b.login("alice", PASSWORD).await.status(), 303);
    b.refresh_csrf().await;
    b.hx_post(&token_url(org.id, token.id, "reveal"), &[]).await;
    // A name a spreadsheet would run as a formula.
    assert_eq!(
        b.hx_post(&add_url(org.id), &[("name", "=SUM(1)")])
            .await
            .status(),
        201
    );
    let res = b.get("/admin/audit-log.csv").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    assert!(csv.starts_with("time,actor,role,org,action"));
    assert!(csv.contains("REVEAL_TOKEN") && csv.contains("ADD_TOKEN"));
    let only = b.text("/admin/audit-log.csv?action=REVEAL_TOKEN").await;
    assert_eq!(only.lines().count(), 2, "{only}");
    assert!(
        csv.contains(",'=SUM(1),"),
        "formula cells are defused: {csv}"
    );
    assert!(!csv.contains(",=SUM(1),"));
}

#[actix_web::test]
async fn who_may_read_the_audit_log() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let (other, _) = app.org("Globex");
    for (name, role, status) in [
        ("admin", Role::OrgAdmin, 200),
        ("viewer", Role::OrgViewer, 200),
        ("connector", Role::ConnectorAdmin, 403),
        ("partner", Role::PartnerViewer, 403),
    ] {
        let b = app.login_as(name, role, &[org.id]).await;
        assert_eq!(b.get("/admin/audit-log").await.status(), status, "{name}");
        assert_eq!(
            b.get("/admin/audit-log.csv").await.status(),
            status,
            "{name}"
        );
    }
    let s = app.login_as_support("sam").await;
    let all = s.text("/admin/audit-log").await;
    assert!(all.contains(&org.id.to_string()) && all.contains(&other.id.to_string()));
    // Support reads org names, each a link to that org's events.
    let link = |id: Uuid, name: &str| {
        format!(
            "<a href=\"/admin/audit-log?org={id}\" aria-label=\"{name}: only this organization's events\">{name}</a>"
        )
    };
    assert!(all.contains(&link(org.id, "Acme")) && all.contains(&link(other.id, "Globex")));
    let one = s.text(&format!("/admin/audit-log?org={}", other.id)).await;
    assert!(one.contains(&link(other.id, "Globex")));
    assert!(!one.contains(&format!("?org={}\"", org.id)));
}

/// "No events match." spans the columns the viewer has: the Organization column is support's.
#[actix_web::test]
async fn the_empty_audit_table_spans_the_columns_each_viewer_sees() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let empty = "/admin/audit-log?action=ENABLE_USER";
    let admin = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    assert!(
        admin
            .text(empty)
            .await
            .contains(r#"<td colspan="8">No events match."#)
    );
    let support = app.login_as_support("sam").await;
    assert!(
        support
            .text(empty)
            .await
            .contains(r#"<td colspan="9">No events match."#)
    );
}

/// A partner's login and logout appear in the log of every org they see, not only in support's.
#[actix_web::test]
async fn a_partners_login_shows_in_each_of_their_orgs_logs() {
    let app = TestApp::spawn().await;
    let (acme, _) = app.org("Acme");
    let (globex, _) = app.org("Globex");
    let partner = app
        .login_as("pat", Role::PartnerViewer, &[acme.id, globex.id])
        .await;
    partner.post_form("/logout", &[]).await;
    for org in [acme.id, globex.id] {
        let admin = app
            .login_as(&format!("admin-{org}"), Role::OrgAdmin, &[org])
            .await;
        let log = admin.text("/admin/audit-log?user=pat").await;
        assert!(
            log.contains("LOGIN") && log.contains("LOGOUT"),
            "{org}: {log}"
        );
    }
}

/// Behind a trusted proxy (TRUSTED_PROXIES) the audit records the client its X-Forwarded-For
/// names; from anyone else the header is ignored, since anyone can send it.
#[actix_web::test]
async fn the_audit_takes_the_client_address_from_trusted_proxies_only() {
    let login_from = |app: &TestApp| {
        let (org, _) = app.org("Acme");
        app.user("alice", Role::OrgAdmin, &[org.id]);
        let b = app.client();
        async move {
            let page = b.text("/login").await;
            let csrf = csrf_in(&page).unwrap();
            b.client
                .post(b.url("/login"))
                .header("X-Forwarded-For", "198.51.100.1, 203.0.113.7")
                .form(&[
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("csrf_token", &csrf),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let behind =
        TestApp::spawn_with(|s| s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    assert_eq!(login_from(&behind).await, 303);
    let dump = behind.audit_dump();
    assert!(
        dump.contains("203.0.113.7") && !dump.contains("198.51.100.1"),
        "{dump}"
    );

    let direct = TestApp::spawn().await;
    assert_eq!(login_from(&direct).await, 303);
    assert!(!direct.audit_dump().contains("203.0.113.7"));
}

/// §9: a refused login costs one audit row whoever was named, so guessing at a partner's name
/// neither multiplies writes nor tells the account from a name nobody has.
#[actix_web::test]
async fn a_refused_login_is_one_audit_row_even_for_a_partner_of_several_orgs() {
    let app = TestApp::spawn().await;
    let (acme, _) = app.org("Acme");
    let (globex, _) = app.org("Globex");
    app.user("pat", Role::PartnerViewer, &[acme.id, globex.id]);
    let before = app.audit_actions().len();
    let mut b = app.client();
    assert_eq!(b.login("pat", "wrong").await.status(), 401);
    assert_eq!(app.audit_actions().len(), before + 1);
    assert_eq!(b.login("nobody-at-all", "wrong").await.status(), 401);
    assert_eq!(app.audit_actions().len(), before + 2);
}

/// §7 ("result"): attempts that are refused are audited as FAILURE, with who, where and why:
/// by role (ACCESS_DENIED, in the org aimed at) and by rule (R4 limit, R8 expired, R7
/// disabled, under the action that was attempted). Nothing else changes.
#[actix_web::test]
async fn refused_attempts_are_audited_as_failures_with_the_reason() {
    use sandbox_portal::db::schema::audit_events as a;
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    type Row = (
        String,
        Option<Uuid>,
        Option<Uuid>,
        String,
        serde_json::Value,
    );
    let failures = || -> Vec<Row> {
        a::table
            .filter(a::result.eq("FAILURE"))
            .filter(a::action.ne("LOGIN"))
            .order(a::id.asc())
            .select((a::action, a::org_id, a::resource_id, a::actor, a::details))
            .load(&mut app.conn())
            .unwrap()
    };

    // By role: a viewer forcing a rename, a partner forcing a reveal.
    let viewer = app.login_as("vera", Role::OrgViewer, &[org.id]).await;
    let res = viewer
        .hx_post(&token_url(org.id, token.id, "rename"), &[("name", "x")])
        .await;
    assert_eq!(res.status(), 403);
    let partner = app.login_as("pat", Role::PartnerViewer, &[org.id]).await;
    let res = partner
        .hx_post(&token_url(org.id, token.id, "reveal"), &[])
        .await;
    assert_eq!(res.status(), 403);
    let rows = failures();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1, rows[0].3.as_str()),
        ("ACCESS_DENIED", Some(org.id), "vera")
    );
    assert_eq!(rows[0].4["permission"], "manage_tokens");
    assert_eq!(
        (rows[1].0.as_str(), rows[1].3.as_str()),
        ("ACCESS_DENIED", "pat")
    );
    assert_eq!(rows[1].4["permission"], "reveal_token");

    // By rule: the limit (R4), then an expired subscription (R8).
    diesel::update(sandbox_portal::db::schema::organizations::table.find(org.id))
        .set(sandbox_portal::db::schema::organizations::token_limit.eq(1))
        .execute(&mut app.conn())
        .unwrap();
    let admin = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let res = admin.hx_post(&add_url(org.id), &[("name", "more")]).await;
    assert_eq!(res.status(), 409);
    sandbox_portal::db::orgs::set_subscription(
        &mut app.conn(),
        org.id,
        Some(chrono::Utc::now() - chrono::Duration::days(1)),
    )
    .unwrap();
    let res = admin
        .hx_post(&token_url(org.id, token.id, "regenerate"), &[])
        .await;
    assert_eq!(res.status(), 403);
    let rows = failures();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!((rows[2].0.as_str(), rows[2].1), ("ADD_TOKEN", Some(org.id)));
    assert_eq!(rows[2].4["refused"], "TOKEN_LIMIT_REACHED");
    assert_eq!(
        (rows[3].0.as_str(), rows[3].2),
        ("REGENERATE_TOKEN", Some(token.id))
    );
    assert_eq!(rows[3].4["refused"], "SUBSCRIPTION_EXPIRED");
    assert_eq!(app.tokens(org.id).len(), 1, "nothing changed");
    let (ok, out) = verify(&app);
    assert!(ok, "{out}");
}

/// Support picks the org of the audit log by its name (any case) as well as by its id; a name
/// nobody has is a 400 that says so, next to the form.
#[actix_web::test]
async fn support_filters_the_audit_log_by_an_orgs_name() {
    let app = TestApp::spawn().await;
    let (acme, _) = app.org("Acme Corp");
    let (globex, _) = app.org("Globex");
    let b = app.login_as_support("sam").await;
    let acme_id = acme.id.to_string();
    let by_name = b.text("/admin/audit-log?org=acme+corp").await;
    let by_id = b.text(&format!("/admin/audit-log?org={acme_id}")).await;
    for page in [&by_name, &by_id] {
        assert!(page.contains("Acme Corp"), "Acme's events");
        assert!(!page.contains("Globex"), "only Acme's events");
    }
    let all = b.text("/admin/audit-log").await;
    assert!(
        all.contains("Globex"),
        "{} is in the unfiltered log",
        globex.id
    );
    let res = b.get("/admin/audit-log?org=Initech").await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("There is no organization named"), "{page}");
    // The name as typed, not as Rust escapes it ("\u{f8}rsted"), without what is invisible
    // (a bell, a right-to-left override that would turn the message around).
    let res = b.get("/admin/audit-log?org=%C3%98rsted%07%E2%80%AE").await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    assert!(page.contains("named &#34;Ørsted&#34;"), "{page}");
    let csv = b.text("/admin/audit-log.csv?org=ACME+CORP").await;
    assert!(csv.lines().count() >= 2, "{csv}");
}

/// The first time a table row shows (`>2026-11-29 11:16:05 UTC</time>`).
fn first_time_shown(page: &str) -> String {
    page.split(" UTC</time>")
        .next()
        .and_then(|s| s.rsplit('>').next())
        .map(|t| format!("{t} UTC"))
        .unwrap_or_default()
}
