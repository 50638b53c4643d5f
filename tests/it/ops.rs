//! Operations: a busy or unreachable database is a 503 to retry, never a logout; the Submission
//! API's records are kept for SUBMISSION_RETENTION_DAYS and purged in batches.
use crate::cli::cli;
use crate::helpers::*;
use diesel::prelude::*;
use sandbox_portal::domain::role::Role;

const BUSY: &str = "The portal is busy or cannot reach its database";

fn assert_security_headers(res: &reqwest::Response) {
    let h = res.headers();
    assert!(
        h.get("content-security-policy")
            .is_some_and(|v| v.to_str().unwrap().contains("frame-ancestors 'none'")),
        "CSP missing: {h:?}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
}

/// Every connection of the app's pool, held by the test: a request that needs one waits for the
/// pool's time-out, exactly as under a flood of slow requests.
fn exhaust(app: &TestApp) -> Vec<sandbox_portal::db::DbConn> {
    (0..app.pool.max_size()).map(|_| app.conn()).collect()
}

#[actix_web::test]
async fn a_logged_in_person_gets_a_busy_page_not_the_login_form_while_the_pool_is_exhausted() {
    let app = TestApp::spawn_with(|s| s.pool_size = 2).await;
    let (org, _) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let anonymous = app.client();

    let held = exhaust(&app);
    let page = b.get(PAGE).await;
    let htmx = b.hx_get(PAGE).await;
    let home = b.get("/").await;
    // Without a session cookie nothing needs the database to know: login, as ever.
    let stranger = anonymous.get(PAGE).await;
    drop(held);

    assert_eq!(page.status(), 503);
    assert!(page.headers().get("location").is_none());
    assert_eq!(page.headers()["retry-after"], "5");
    assert_security_headers(&page);
    let body = page.text().await.unwrap();
    assert!(body.contains(BUSY), "{body}");
    assert!(
        body.contains("Sandbox Portal"),
        "the portal's header: {body}"
    );
    assert_eq!(htmx.status(), 503);
    assert!(htmx.headers().get("hx-redirect").is_none());
    assert_eq!(htmx.headers()["hx-retarget"], "#flash");
    assert!(htmx.text().await.unwrap().contains(BUSY));
    assert_eq!(home.status(), 503);
    assert_eq!(stranger.status(), 303);
    assert!(
        stranger.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    // The session was never given up: once a connection is free the page opens.
    let again = b.get(PAGE).await;
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("alice"));
}

#[actix_web::test]
async fn the_api_answers_503_in_its_error_shape_while_the_pool_is_exhausted() {
    let app = TestApp::spawn_with(|s| s.pool_size = 2).await;
    let (org, _) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let anonymous = app.client();

    let held = exhaust(&app);
    let res = b.get("/api/v1/sandboxApiTokens").await;
    let stranger = anonymous.get("/api/v1/sandboxApiTokens").await;
    drop(held);

    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    assert!(res.headers().get("www-authenticate").is_none());
    assert_security_headers(&res);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE");
    assert!(
        body["message"].as_str().unwrap().starts_with(BUSY),
        "{body}"
    );
    assert_eq!(stranger.status(), 401);
    let again = b.get("/api/v1/authenticatedSession").await;
    assert_eq!(again.status(), 200);

    // The contract says so on every operation that needs the database, with the header.
    let doc: serde_json::Value = anonymous
        .get("/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let mut documented = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let unavailable = &op["responses"]["503"];
            if path.ends_with("/openapi.json") {
                assert!(unavailable.is_null(), "{method} {path} needs no database");
                continue;
            }
            assert_eq!(
                unavailable["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody",
                "{method} {path}: {op}"
            );
            assert_eq!(
                unavailable["headers"]["Retry-After"]["schema"]["type"], "integer",
                "{method} {path}"
            );
            documented += 1;
        }
    }
    assert!(documented >= 15, "{documented} operations");
}

#[actix_web::test]
async fn with_the_database_down_a_session_is_a_503_with_security_headers_and_survives() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;

    let outage = Outage::start(&app);
    let page = b.get(PAGE).await;
    let api = b.get("/api/v1/authenticatedSession").await;
    let ready = b.get("/readyz").await;
    drop(outage);

    assert_eq!(page.status(), 503);
    assert!(page.headers().get("location").is_none());
    assert_eq!(page.headers()["retry-after"], "5");
    assert_security_headers(&page);
    assert!(page.text().await.unwrap().contains(BUSY));
    assert_eq!(api.status(), 503);
    assert_security_headers(&api);
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.text().await.unwrap(), "database unreachable");
    // Back up: the same cookie opens the page, nobody was logged out. (The pool retries its
    // connections with a back-off, so the first moments may still be 503s.)
    eventually("the portal to reach its database again", || async {
        b.get("/readyz").await.status() == 200
    })
    .await;
    let again = b.get(PAGE).await;
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("alice"));
}

fn exec(conn: &mut PgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql)
        .get_result::<N>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

/// Submissions and usage rows of an org and its token, `ago` days back (UTC).
fn usage_days_ago(conn: &mut PgConnection, org: uuid::Uuid, token: uuid::Uuid, ago: &[i32]) {
    for d in ago {
        exec(
            conn,
            &format!(
                "INSERT INTO org_daily_usage (org_id, day, calls, submissions, threshold_baseline) \
                 VALUES ('{org}', (now() AT TIME ZONE 'UTC')::date - {d}, 7, 3, 2)"
            ),
        );
        exec(
            conn,
            &format!(
                "INSERT INTO token_daily_usage (token_id, day, calls, submissions) \
                 VALUES ('{token}', (now() AT TIME ZONE 'UTC')::date - {d}, 7, 3)"
            ),
        );
    }
}

fn old_submissions(conn: &mut PgConnection, org: uuid::Uuid, token: uuid::Uuid, n: i32, ago: i32) {
    exec(
        conn,
        &format!(
            "INSERT INTO submissions (org_id, token_id, endpoint, md5, sha256, size_bytes, \
             file_type, created_at) \
             SELECT '{org}', '{token}', 'submit', 'm', 's', 1, 'PE', now() - interval '{ago} days' \
             FROM generate_series(1, {n})"
        ),
    );
}

#[actix_web::test]
async fn audit_purge_deletes_submission_records_past_their_retention_in_batches_and_keeps_recent_days()
 {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let mut conn = app.conn();
    // More than two batches of old submissions, and some recent ones.
    old_submissions(&mut conn, org.id, token.id, 12_001, 200);
    old_submissions(&mut conn, org.id, token.id, 4, 10);
    usage_days_ago(&mut conn, org.id, token.id, &[400, 200, 10, 1, 0]);

    let out = cli(&app.db.url, &["audit", "purge"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "purged 12001 submissions, 2 org usage days and 2 token usage days older than 180 days"
        ),
        "{stdout}"
    );
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM submissions"), 4);
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM org_daily_usage"),
        3
    );

    // The shortest retention still keeps yesterday's and today's counts, R10's baseline with them.
    let out = cli(
        &app.db.url,
        &["audit", "purge", "--submission-retention-days", "1"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM submissions"), 0);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM org_daily_usage WHERE calls = 7 AND submissions = 3 \
             AND threshold_baseline = 2 \
             AND day >= (now() AT TIME ZONE 'UTC')::date - 1"
        ),
        2
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM org_daily_usage"),
        2
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM token_daily_usage"),
        2
    );
}

#[actix_web::test]
async fn the_server_purges_submission_records_past_their_retention_as_it_does_the_audit_log() {
    let db = TestDb::new();
    {
        let mut conn = PgConnection::establish(&db.url).unwrap();
        let (org, token) = sandbox_portal::service::orgs::provision(
            &mut conn,
            &sandbox_portal::domain::token::TokenKeys::derive(SECRET.as_bytes()),
            &sandbox_portal::db::audit::Actor::cli(),
            &sandbox_portal::db::orgs::NewOrg {
                name: "Acme",
                cloud: "zscalerbeta.net",
                subscription_expires_at: Some(chrono::Utc::now() + chrono::Duration::days(30)),
                token_limit: 5,
                daily_quota: 100,
                abuse_threshold: 1000,
            },
        )
        .unwrap();
        let token = token.unwrap();
        old_submissions(&mut conn, org.id, token.id, 3, 200);
        old_submissions(&mut conn, org.id, token.id, 2, 10);
        usage_days_ago(&mut conn, org.id, token.id, &[200, 0]);
    }
    // The server purges when it starts, and every ten minutes after.
    let app = TestApp::spawn_on(db).await;
    let pool = app.pool.clone();
    eventually("the server's purge of old Submission API records", || {
        let pool = pool.clone();
        async move {
            let mut conn = pool.get().unwrap();
            count(&mut conn, "SELECT count(*) AS n FROM submissions") == 2
                && count(&mut conn, "SELECT count(*) AS n FROM org_daily_usage") == 1
                && count(&mut conn, "SELECT count(*) AS n FROM token_daily_usage") == 1
        }
    })
    .await;
}

/// A database that folds the case of ASCII letters only (LC_CTYPE C) is said at start, since
/// names unique without regard to case then are not so for "Ørsted" and "ørsted"; the private
/// cluster is made with C.UTF-8 and folds every letter.
#[actix_web::test]
async fn a_database_that_folds_ascii_only_is_warned_of_at_start() {
    const WARNING: &str = "folds the case of ASCII letters only";
    let app = TestApp::spawn().await;
    let mut conn = app.conn();
    let before = captured_logs().matches(WARNING).count();
    sandbox_portal::db::warn_if_case_folding_is_ascii_only(&mut conn);
    assert_eq!(
        captured_logs().matches(WARNING).count(),
        before,
        "this one folds all"
    );

    let admin_url = url::Url::parse(&maintenance_url(&app.db.url)).unwrap();
    let mut admin = PgConnection::establish(admin_url.as_str()).unwrap();
    let name = format!("sp_test_c_{}", uuid::Uuid::new_v4().simple());
    exec(
        &mut admin,
        &format!("CREATE DATABASE {name} TEMPLATE template0 LC_CTYPE 'C' LC_COLLATE 'C'"),
    );
    let mut c_url = admin_url.clone();
    c_url.set_path(&format!("/{name}"));
    let mut ascii_only = PgConnection::establish(c_url.as_str()).unwrap();
    sandbox_portal::db::warn_if_case_folding_is_ascii_only(&mut ascii_only);
    drop(ascii_only);
    exec(&mut admin, &format!("DROP DATABASE {name}"));
    assert_eq!(captured_logs().matches(WARNING).count(), before + 1);
}
