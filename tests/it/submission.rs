use crate::helpers::*;
use diesel::prelude::*;
use sandbox_portal::db;
use sandbox_portal::db::schema::{org_daily_usage as od, organizations as o, submissions as s};
use sandbox_portal::domain::role::Role;
use sandbox_portal::domain::token::TokenValue;
use serde_json::Value;
use std::io::Write;
use uuid::Uuid;

const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

fn set_org(app: &TestApp, org: Uuid, quota: i32, threshold: i32) {
    diesel::update(o::table.find(org))
        .set((o::daily_quota.eq(quota), o::abuse_threshold.eq(threshold)))
        .execute(&mut app.conn())
        .unwrap();
}

fn usage_today(app: &TestApp, org: Uuid) -> (i32, i32) {
    od::table
        .filter(od::org_id.eq(org))
        .select((od::calls, od::submissions))
        .first(&mut app.conn())
        .unwrap_or((0, 0))
}

#[actix_web::test]
async fn an_accepted_submission_is_recorded_and_counted() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let (status, body, _) = submit(&app.addr, value.expose(), b"%PDF-1.7\nhello").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], 200);
    assert_eq!(body["message"], "/submit response OK");
    assert_eq!(body["fileType"], "pdf");
    assert_eq!(body["sandboxSubmission"], "Submitted");
    assert_eq!(body["md5"], md5_of(b"%PDF-1.7\nhello"));
    let rows: Vec<(Uuid, String, i64)> = s::table
        .select((s::org_id, s::file_type, s::size_bytes))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(rows, vec![(org.id, "pdf".to_owned(), 14)]);
    assert_eq!(usage_today(&app, org.id), (1, 1));
    let token = app.tokens(org.id).remove(0);
    assert!(token.last_used_at.is_some());

    // The page shows it: calls today and a relative "last used".
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = b.text(PAGE).await;
    assert!(page.contains("just now"));
    assert!(page.contains("class=\"num\">1</td>"));
    // The usage pictures: a 14-day sparkline per token and the quota gauge.
    assert!(page.contains("Calls over the last 14 days: 1 in all"));
    assert!(page.contains("<strong>1</strong> of 100 daily quota"));
    assert!(page.contains("aria-label=\"1% of the daily quota used\""));
}

/// Files over 256 KiB are hashed and typed off the async worker: the answer and the record must
/// be the same as for a small file.
#[actix_web::test]
async fn a_large_file_is_typed_hashed_and_recorded_like_a_small_one() {
    let app = TestApp::spawn_with(|s| s.submission_max_bytes = 4 * 1024 * 1024).await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let mut file = b"%PDF-1.7\n".to_vec();
    file.resize(3 * 1024 * 1024 + 7, b'x');
    let (status, body, _) = submit(&app.addr, value.expose(), &file).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fileType"], "pdf");
    assert_eq!(body["md5"], md5_of(&file));
    let rows: Vec<(String, i64)> = s::table
        .select((s::file_type, s::size_bytes))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(rows, vec![("pdf".to_owned(), file.len() as i64)]);
    assert_eq!(usage_today(&app, org.id), (1, 1));
}

#[actix_web::test]
async fn a_deleted_tokens_submissions_stay_recorded_under_its_id() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let (status, body, _) = submit(&app.addr, value.expose(), b"hello").await;
    assert_eq!(status, 200, "{body}");
    sandbox_portal::service::tokens::delete(
        &mut app.conn(),
        &sandbox_portal::db::audit::Actor::cli(),
        org.id,
        token.id,
    )
    .unwrap();
    // A log of who submitted what: deleting the token rewrites none of it.
    let rows: Vec<(Uuid, Option<Uuid>)> = s::table
        .select((s::org_id, s::token_id))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(rows, vec![(org.id, Some(token.id))]);
    let (status, _, _) = submit(&app.addr, value.expose(), b"hello").await;
    assert_eq!(status, 401);
}

fn md5_of(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

#[actix_web::test]
async fn the_eicar_test_file_is_reported_as_a_virus_and_the_query_token_works() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let res = reqwest::Client::new()
        .post(format!(
            "{}/zscsb/discan?api_token={}",
            app.addr,
            value.expose()
        ))
        .body(EICAR)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["virusType"], "Virus");
    assert_eq!(body["virusName"], "EICAR-Test-File");
    assert_eq!(body["message"], "/discan response OK");
}

#[actix_web::test]
async fn missing_malformed_and_unknown_tokens_get_401_and_record_nothing() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let res = reqwest::Client::new()
        .post(format!("{}/zscsb/submit", app.addr))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], 401);
    let mut tampered = value.expose().to_owned();
    tampered.replace_range(10..11, if &tampered[10..11] == "a" { "b" } else { "a" });
    let unknown = TokenValue::generate();
    for bad in ["not-a-token", tampered.as_str(), unknown.expose()] {
        let (status, body, _) = submit(&app.addr, bad, b"x").await;
        assert_eq!(status, 401, "{bad}");
        assert_eq!(body["code"], 401);
    }
    assert_eq!(usage_today(&app, org.id), (0, 0));
}

#[actix_web::test]
async fn empty_oversized_and_gzip_bodies() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let (status, body, _) = submit(&app.addr, value.expose(), b"").await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(400)));
    let big = vec![b'A'; 64 * 1024 + 1];
    let (status, body, _) = submit(&app.addr, value.expose(), &big).await;
    assert_eq!((status, body["code"].as_u64()), (413, Some(413)));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("limit of 65536 bytes"),
        "{body}"
    );

    let original = b"MZ\x90\x00 a small executable-looking file".repeat(10);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&original).unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/zscsb/submit", app.addr))
        .bearer_auth(value.expose())
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["fileType"], "exe");
    assert_eq!(body["md5"], md5_of(&original));

    // x-gzip is gzip, and deflate (zlib) is decoded too: the file, not its wrapping, is what
    // gets typed, hashed and recorded.
    let eicar_gz = {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(EICAR.as_bytes()).unwrap();
        gz.finish().unwrap()
    };
    let deflated = {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&original).unwrap();
        z.finish().unwrap()
    };
    for (encoding, body, md5) in [
        ("x-gzip", eicar_gz, md5_of(EICAR.as_bytes())),
        ("deflate", deflated, md5_of(&original)),
    ] {
        let res = reqwest::Client::new()
            .post(format!("{}/zscsb/submit", app.addr))
            .bearer_auth(value.expose())
            .header("Content-Encoding", encoding)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{encoding}");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["md5"], md5, "{encoding}");
    }

    // A gzip bomb is measured after decoding.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![0u8; 1024 * 1024]).unwrap();
    let res = reqwest::Client::new()
        .post(format!("{}/zscsb/submit", app.addr))
        .bearer_auth(value.expose())
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}

#[actix_web::test]
async fn r7_a_disabled_token_gets_403() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let mut conn = app.conn();
    conn.transaction(|c| {
        db::tokens::set_disabled(c, org.id, token.id, Some(("terms violation", "support")))?;
        db::notify::org_changed(c, org.id)
    })
    .unwrap();
    let gate = app.gate.clone();
    let digest = app.keys.digest(&value);
    eventually("the gate to see the disable", || {
        let gate = gate.clone();
        async move {
            !matches!(
                gate.check(&digest, chrono::Utc::now()),
                sandbox_portal::submission::gate::Verdict::Pass { .. }
            )
        }
    })
    .await;
    let (status, body, _) = submit(&app.addr, value.expose(), b"x").await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], 403);
}

#[actix_web::test]
async fn r8_an_expired_subscription_refuses_the_tokens_and_renewal_restores_the_same_values() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let set_expiry = |days: i64| {
        let mut conn = app.conn();
        conn.transaction(|c| {
            diesel::update(o::table.find(org.id))
                .set(
                    o::subscription_expires_at
                        .eq(chrono::Utc::now() + chrono::Duration::days(days)),
                )
                .execute(c)?;
            db::notify::org_changed(c, org.id)
        })
        .unwrap();
    };
    set_expiry(-1);
    let base = app.addr.clone();
    let v = value.expose().to_owned();
    eventually("a 403 after expiry", || {
        let (base, v) = (base.clone(), v.clone());
        async move { submit(&base, &v, b"x").await.0 == 403 }
    })
    .await;
    set_expiry(30);
    eventually("a 200 after renewal", || {
        let (base, v) = (base.clone(), v.clone());
        async move { submit(&base, &v, b"x").await.0 == 200 }
    })
    .await;
    assert_eq!(
        app.value_of(org.id, token.id),
        value,
        "the value never changed"
    );
}

#[actix_web::test]
async fn r11_concurrent_submissions_past_the_daily_quota_get_429_with_retry_after() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    set_org(&app, org.id, 3, 1000);
    let value = app.value_of(org.id, token.id);
    let results = futures::future::join_all((0..12).map(|i| {
        let (base, v) = (app.addr.clone(), value.expose().to_owned());
        async move { submit(&base, &v, format!("file {i}").as_bytes()).await }
    }))
    .await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let limited: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    assert_eq!(ok, 3);
    assert_eq!(limited.len(), 9);
    for (_, body, headers) in &limited {
        assert_eq!(body["code"], 429);
        let secs: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=86_400).contains(&secs));
    }
    assert_eq!(usage_today(&app, org.id), (12, 3), "every call is counted");
    assert!(
        app.tokens(org.id)[0].disabled_at.is_none(),
        "R11: the token stays enabled"
    );
}

#[actix_web::test]
async fn r10_crossing_the_abuse_threshold_disables_the_org_exactly_once() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    set_org(&app, org.id, 1000, 5);
    let value = app.value_of(org.id, token.id);
    let results = futures::future::join_all((0..16).map(|i| {
        let (base, v) = (app.addr.clone(), value.expose().to_owned());
        async move { submit(&base, &v, format!("file {i}").as_bytes()).await.0 }
    }))
    .await;
    let ok = results.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 5, "{results:?}");
    assert!(
        results.iter().all(|s| *s == 200 || *s == 403),
        "{results:?}"
    );
    let disabled: (Option<String>, Option<String>) = o::table
        .find(org.id)
        .select((o::api_disabled_reason, o::api_disabled_by))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(disabled.0.as_deref(), Some("API call threshold exceeded"));
    assert_eq!(disabled.1.as_deref(), Some("system"));
    let audits = app
        .audit_actions()
        .into_iter()
        .filter(|r| r.0 == "THRESHOLD_DISABLE")
        .count();
    assert_eq!(audits, 1, "disabled exactly once");
    let (status, _, _) = submit(&app.addr, value.expose(), b"later").await;
    assert_eq!(status, 403);
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = b.text(PAGE).await;
    assert!(page.contains("Sandbox API access disabled"));
    assert!(!page.contains("Add Sandbox API Token"));
}

#[actix_web::test]
async fn r5_once_regenerate_returns_the_old_value_is_refused_by_every_instance() {
    let app = TestApp::spawn().await;
    let second = app.another_instance().await;
    let (org, token) = app.org("Acme");
    let old = app.value_of(org.id, token.id);
    let v = old.expose().to_owned();
    let base2 = second.addr.clone();
    eventually("instance 2 to accept the provisioned token", || {
        let (base, v) = (base2.clone(), v.clone());
        async move { submit(&base, &v, b"x").await.0 == 200 }
    })
    .await;

    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let res = b
        .hx_post(&token_url(org.id, token.id, "regenerate"), &[])
        .await;
    assert_eq!(res.status(), 200);
    // No waiting: the very next call on the other instance is refused.
    let (status, _, _) = submit(&second.addr, old.expose(), b"x").await;
    assert_eq!(status, 401);
    let new = app.value_of(org.id, token.id).expose().to_owned();
    assert_eq!(
        submit(&second.addr, &new, b"x").await.0,
        200,
        "the new value works at once on the other instance too"
    );
    let res = b.hx_post(&token_url(org.id, token.id, "delete"), &[]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        submit(&second.addr, &new, b"x").await.0,
        401,
        "R6 on every instance"
    );
}

#[actix_web::test]
async fn a_killed_listener_connection_never_lets_a_stale_value_through() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let old = app.value_of(org.id, token.id);
    let (base, v) = (app.addr.clone(), old.expose().to_owned());
    eventually("the gate to know the provisioned token", || {
        let (base, v) = (base.clone(), v.clone());
        async move { submit(&base, &v, b"x").await.0 == 200 }
    })
    .await;
    let before = app.gate.reloads();
    let killed: Vec<KilledRow> = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity \
         WHERE application_name = $1 AND datname = current_database()",
    )
    .bind::<diesel::sql_types::Text, _>(sandbox_portal::submission::gate::LISTENER_APP_NAME)
    .load(&mut app.conn())
    .unwrap();
    assert_eq!(killed.len(), 1, "one listener connection");

    // Regenerate while the listener is down: its gate still knows the old digest.
    let mut conn = app.conn();
    sandbox_portal::service::tokens::regenerate(
        &mut conn,
        &app.keys,
        &sandbox_portal::db::audit::Actor::cli(),
        org.id,
        token.id,
    )
    .unwrap();
    let (status, _, _) = submit(&app.addr, old.expose(), b"x").await;
    assert_eq!(
        status, 401,
        "the stale gate passed it on, the writer refused it"
    );

    // The listener reconnects and reloads the whole gate.
    eventually("the listener to reconnect and reload", || {
        std::future::ready(app.gate.reloads() > before)
    })
    .await;
    let new = app.value_of(org.id, token.id).expose().to_owned();
    assert_eq!(submit(&app.addr, &new, b"x").await.0, 200);
    assert_eq!(submit(&app.addr, old.expose(), b"x").await.0, 401);
}

#[derive(QueryableByName)]
struct KilledRow {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    #[allow(dead_code)]
    ok: bool,
}

#[actix_web::test]
async fn token_values_and_query_strings_never_reach_the_audit_trail() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    set_org(&app, org.id, 1000, 2);
    let value = app.value_of(org.id, token.id);
    for _ in 0..4 {
        reqwest::Client::new()
            .post(format!(
                "{}/zscsb/submit?api_token={}",
                app.addr,
                value.expose()
            ))
            .body("x")
            .send()
            .await
            .unwrap();
    }
    assert!(
        app.audit_actions()
            .iter()
            .any(|r| r.0 == "THRESHOLD_DISABLE")
    );
    assert!(!app.audit_dump().contains(value.expose()));
}

#[actix_web::test]
async fn token_values_and_query_strings_never_reach_a_log_line() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let unknown = TokenValue::generate();
    for t in [value.expose(), unknown.expose(), "sbx_malformed"] {
        let res = reqwest::Client::new()
            .post(format!("{}/zscsb/submit?api_token={t}&force=1", app.addr))
            .body("x")
            .send()
            .await
            .unwrap();
        assert!(res.status().as_u16() < 500);
    }
    // Reveal through the UI too: the value is in that response, never in a log line.
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    b.hx_post(&token_url(org.id, token.id, "reveal"), &[]).await;
    let logs = captured_logs();
    assert!(
        logs.contains("/zscsb/submit"),
        "request logging is captured"
    );
    for secret in [
        value.expose(),
        unknown.expose(),
        "sbx_malformed",
        "api_token",
        PASSWORD,
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}

#[actix_web::test]
async fn r10_after_support_re_enables_the_org_calls_work_again_the_same_day() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    set_org(&app, org.id, 1000, 3);
    let value = app.value_of(org.id, token.id);
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(
            submit(&app.addr, value.expose(), format!("f{i}").as_bytes())
                .await
                .0,
        );
    }
    assert_eq!(statuses, [200, 200, 200, 403]);
    sandbox_portal::service::support::enable_org_api(
        &mut app.conn(),
        &sandbox_portal::db::audit::Actor::cli(),
        org.id,
    )
    .unwrap();
    let (base, v) = (app.addr.clone(), value.expose().to_owned());
    eventually("the re-enabled org to be accepted", || {
        let (base, v) = (base.clone(), v.clone());
        async move { submit(&base, &v, b"again").await.0 == 200 }
    })
    .await;
    assert_eq!(app.value_of(org.id, token.id), value, "no value changed");
    // Support's console says which calls still count: 5 today, 1 since the re-enable.
    let support = app.login_as_support("sam").await;
    let console = support.text(&format!("/support/orgs/{}", org.id)).await;
    assert!(
        console.contains("5 today; 1 of 3 (abuse threshold) since the re-enable"),
        "{console}"
    );
    // The threshold applies afresh from the re-enable: three more calls, then disabled again.
    let mut after = Vec::new();
    for i in 0..3 {
        after.push(
            submit(&app.addr, value.expose(), format!("g{i}").as_bytes())
                .await
                .0,
        );
    }
    assert_eq!(after, [200, 200, 403]);
    let disables = app
        .audit_actions()
        .into_iter()
        .filter(|r| r.0 == "THRESHOLD_DISABLE")
        .count();
    assert_eq!(disables, 2);
}

#[actix_web::test]
async fn r10_calls_refused_for_their_body_still_count_towards_the_threshold() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    set_org(&app, org.id, 1000, 3);
    let value = app.value_of(org.id, token.id);
    for _ in 0..3 {
        assert_eq!(submit(&app.addr, value.expose(), b"").await.0, 400);
    }
    assert_eq!(usage_today(&app, org.id), (3, 0));
    let (status, _, _) = submit(&app.addr, value.expose(), b"a real file").await;
    assert_eq!(status, 403, "the fourth call crosses the threshold of 3");
    assert_eq!(usage_today(&app, org.id), (4, 0));
    assert!(
        app.audit_actions()
            .iter()
            .any(|r| r.0 == "THRESHOLD_DISABLE")
    );
}

#[derive(QueryableByName)]
struct Outcomes {
    #[diesel(sql_type = diesel::sql_types::Array<diesel::sql_types::Text>)]
    outcomes: Vec<String>,
}

/// The stored digest of a token's value, as the writer hands it to the database.
fn digest_of(app: &TestApp, token: Uuid) -> Vec<u8> {
    use sandbox_portal::db::schema::sandbox_api_tokens as t;
    t::table
        .find(token)
        .select(t::value_digest)
        .first(&mut app.conn())
        .unwrap()
}

/// Calls the writer's database function directly with a batch of calls: the batch sizes and
/// mixes that concurrent HTTP calls produce only by chance.
fn record_batch(app: &TestApp, digests: &[Vec<u8>], org: Uuid) -> Vec<String> {
    record_calls(&mut app.conn(), digests, &vec![org; digests.len()]).unwrap()
}

/// The same, on a given connection, with each call's org as the in-memory gate found it.
fn record_calls(
    conn: &mut PgConnection,
    digests: &[Vec<u8>],
    orgs: &[Uuid],
) -> QueryResult<Vec<String>> {
    use diesel::sql_types::{Array, BigInt, Bytea, Nullable, Text, Uuid as SqlUuid};
    let n = digests.len();
    let files: Vec<Option<String>> = vec![Some("d41d8cd98f00b204e9800998ecf8427e".into()); n];
    diesel::sql_query(
        "SELECT sandbox_record_batch_fast($1, $2, $3, $4, $5, $6, $7, $8, now()) AS outcomes",
    )
    .bind::<Array<Bytea>, _>(digests)
    .bind::<Array<SqlUuid>, _>(orgs)
    .bind::<Array<Nullable<Text>>, _>(vec![Some("submit"); n])
    .bind::<Array<Nullable<Text>>, _>(&files)
    .bind::<Array<Nullable<Text>>, _>(&files)
    .bind::<Array<Nullable<BigInt>>, _>(vec![Some(0_i64); n])
    .bind::<Array<Nullable<Text>>, _>(vec![Some("txt"); n])
    .bind::<Array<Nullable<Text>>, _>(vec![None::<String>; n])
    .get_result::<Outcomes>(conn)
    .map(|o| o.outcomes)
}

/// R10/R11 in the writer (migration 8): a batch of plain acceptances is recorded in one go; a
/// batch that crosses the quota, or holds a value that no longer exists, is decided call by
/// call, and the optimistic increments of the one-go attempt leave no trace in the counts.
#[actix_web::test]
async fn r11_a_batch_crossing_the_quota_is_decided_call_by_call_with_exact_counts() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    set_org(&app, org.id, 5, 1000);
    let digest = digest_of(&app, token.id);
    let count = || {
        s::table
            .filter(s::org_id.eq(org.id))
            .count()
            .get_result::<i64>(&mut app.conn())
            .unwrap()
    };

    assert_eq!(
        record_batch(&app, &vec![digest.clone(); 3], org.id),
        vec!["ACCEPTED"; 3]
    );
    assert_eq!((usage_today(&app, org.id), count()), ((3, 3), 3));

    // Two more fit, the other two of this batch do not.
    assert_eq!(
        record_batch(&app, &vec![digest.clone(); 4], org.id),
        ["ACCEPTED", "ACCEPTED", "QUOTA_EXCEEDED", "QUOTA_EXCEEDED"]
    );
    assert_eq!((usage_today(&app, org.id), count()), ((7, 5), 5));

    // A regenerated (unknown) value among known ones: refused, and not counted.
    set_org(&app, org.id, 100, 1000);
    let unknown = vec![0_u8; 32];
    assert_eq!(
        record_batch(&app, &[digest.clone(), unknown, digest.clone()], org.id),
        ["ACCEPTED", "UNKNOWN", "ACCEPTED"]
    );
    assert_eq!((usage_today(&app, org.id), count()), ((9, 7), 7));
}

/// R10 in the writer (migration 8): a batch that crosses the abuse threshold falls back to
/// deciding call by call: the crossing call disables the org (once, audited as SYSTEM) and the
/// calls after it are refused, all of them counted.
#[actix_web::test]
async fn r10_a_batch_crossing_the_threshold_disables_the_org_once() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    set_org(&app, org.id, 100, 2);
    let digest = digest_of(&app, token.id);
    assert_eq!(
        record_batch(&app, &vec![digest; 4], org.id),
        ["ACCEPTED", "ACCEPTED", "THRESHOLD_EXCEEDED", "DISABLED"]
    );
    assert_eq!(usage_today(&app, org.id), (4, 2));
    let by: Option<String> = o::table
        .find(org.id)
        .select(o::api_disabled_by)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(by.as_deref(), Some("system"));
    let audits = app
        .audit_actions()
        .into_iter()
        .filter(|r| r.0 == "THRESHOLD_DISABLE")
        .count();
    assert_eq!(audits, 1);
}

/// R8 in the writer (migration 9): an org whose subscription was removed (no expiry at all) is
/// refused even when the same batch holds a healthy org's calls, which the one-go path used to
/// accept along with them.
#[actix_web::test]
async fn r8_an_org_without_a_subscription_is_refused_beside_a_healthy_org_in_one_batch() {
    let app = TestApp::spawn().await;
    let (healthy, healthy_token) = app.org("Acme");
    let (removed, removed_token) = app.org("Globex");
    diesel::update(o::table.find(removed.id))
        .set(o::subscription_expires_at.eq(None::<chrono::DateTime<chrono::Utc>>))
        .execute(&mut app.conn())
        .unwrap();
    let digests = [
        digest_of(&app, healthy_token.id),
        digest_of(&app, removed_token.id),
    ];
    assert_eq!(
        record_calls(&mut app.conn(), &digests, &[healthy.id, removed.id]).unwrap(),
        ["ACCEPTED", "EXPIRED"]
    );
    let recorded = |org: Uuid| {
        s::table
            .filter(s::org_id.eq(org))
            .count()
            .get_result::<i64>(&mut app.conn())
            .unwrap()
    };
    assert_eq!((recorded(healthy.id), recorded(removed.id)), (1, 0));
}

/// R6 in the writer (migration 9): a batch that waits for the org lock while a delete holds it
/// looks its tokens up only once it has the lock, so the deleted value is refused (401) instead
/// of failing the whole batch on the usage row's foreign key (503 for every call in it).
#[actix_web::test]
async fn r6_a_token_deleted_while_its_batch_waits_for_the_org_lock_is_refused_not_an_error() {
    use sandbox_portal::db::schema::sandbox_api_tokens as t;
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let (other, other_token) = app.org("Globex");
    let digests = [digest_of(&app, token.id), digest_of(&app, other_token.id)];

    let mut deleter = app.conn();
    diesel::sql_query("BEGIN").execute(&mut deleter).unwrap();
    o::table
        .find(org.id)
        .for_update()
        .select(o::id)
        .first::<Uuid>(&mut deleter)
        .unwrap();
    diesel::delete(t::table.find(token.id))
        .execute(&mut deleter)
        .unwrap();

    let mut writer = app.conn();
    let writer_pid: i32 = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
        "pg_backend_pid()",
    ))
    .get_result(&mut writer)
    .unwrap();
    let batch = std::thread::spawn(move || {
        record_calls(&mut writer, &digests, &[org.id, other.id]).map_err(|e| e.to_string())
    });
    let waiting = || {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(&format!(
            "EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = {writer_pid} \
             AND wait_event_type = 'Lock')"
        )))
        .get_result::<bool>(&mut app.conn())
        .unwrap()
    };
    eventually("the batch to wait for the org lock", || {
        std::future::ready(waiting())
    })
    .await;
    diesel::sql_query("COMMIT").execute(&mut deleter).unwrap();

    assert_eq!(batch.join().unwrap().unwrap(), ["UNKNOWN", "ACCEPTED"]);
    assert_eq!(usage_today(&app, org.id), (0, 0));
    assert_eq!(usage_today(&app, other.id), (1, 1));
}

/// §8 refusals a script can act on: a wrong method, an unknown or undecodable encoding, a bad
/// `force`; each a JSON body with the status as its code, and none of them a submission.
#[actix_web::test]
async fn wrong_method_encoding_and_force_get_json_refusals_that_say_what_to_fix() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let client = reqwest::Client::new();
    let url = format!("{}/zscsb/submit", app.addr);

    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], 405);

    let send = |encoding: &'static str, query: &'static str| {
        client
            .post(format!("{url}{query}"))
            .bearer_auth(value.expose())
            .header("Content-Encoding", encoding)
            .body(b"plain bytes, not what the header says".to_vec())
            .send()
    };
    // br and zstd inflate tens of thousands of times over: not accepted at all.
    for encoding in ["compress", "br", "zstd"] {
        let res = send(encoding, "").await.unwrap();
        assert_eq!(res.status(), 415, "{encoding}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["code"], 415);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("Content-Encoding")
        );
    }

    let res = send("gzip", "").await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("could not be decoded"),
        "{body}"
    );

    // RFC 7235: the scheme's case does not matter.
    let res = client
        .post(format!("{url}?force=1"))
        .header("Authorization", format!("bearer {}", value.expose()))
        .body(b"lower-case scheme".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = send("identity", "?force=2").await.unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"], "force must be 0 or 1");
    assert_eq!(send("identity", "?force=1").await.unwrap().status(), 200);

    let recorded = s::table
        .filter(s::org_id.eq(org.id))
        .count()
        .get_result::<i64>(&mut app.conn())
        .unwrap();
    assert_eq!(recorded, 2);
}

/// A call refused for its body, made with a value that was deleted meanwhile, is refused for
/// its token (401), as a call with a good body would be.
#[actix_web::test]
async fn an_empty_body_with_a_revoked_value_gets_401() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    // A raw delete sends no NOTIFY, so the gate stays stale and lets the call through to the
    // writer, whose database check finds no token: the race this stands for is a delete that
    // commits while the call is on its way.
    diesel::delete(sandbox_portal::db::schema::sandbox_api_tokens::table.find(token.id))
        .execute(&mut app.conn())
        .unwrap();
    let (status, body, _) = submit(&app.addr, value.expose(), b"").await;
    assert_eq!((status, body["code"].as_u64()), (401, Some(401)), "{body}");
}

/// Stops an instance's listener, so that its gate hears of no change by notification.
async fn deafen(gate: &sandbox_portal::submission::gate::TokenGate) {
    gate.stop();
    eventually("the listener to stop", || {
        std::future::ready(!gate.is_listening())
    })
    .await;
}

/// R5 and R13: a value that add or regenerate has just returned works at once on every
/// instance, although the notification that tells the other instances reaches them some
/// milliseconds later (here: never, their listener is stopped). The old value stays refused.
#[actix_web::test]
async fn r5_a_value_just_returned_works_at_once_on_an_instance_not_yet_notified() {
    let app = TestApp::spawn().await;
    let second = app.another_instance().await;
    let (org, token) = app.org("Acme");
    let old = app.value_of(org.id, token.id);
    deafen(&second.gate).await;

    let actor = sandbox_portal::db::audit::Actor::cli();
    let new = sandbox_portal::service::tokens::regenerate(
        &mut app.conn(),
        &app.keys,
        &actor,
        org.id,
        token.id,
    )
    .unwrap()
    .1;
    assert_eq!(submit(&second.addr, new.expose(), b"x").await.0, 200);
    assert_eq!(submit(&second.addr, old.expose(), b"x").await.0, 401);
    let (_, added) = sandbox_portal::service::tokens::add(
        &mut app.conn(),
        &app.keys,
        &actor,
        org.id,
        Some("fresh"),
    )
    .unwrap();
    assert_eq!(submit(&second.addr, added.expose(), b"x").await.0, 200);
}

/// R8 and R7: renewal and re-enabling work at once on an instance that has not heard of them,
/// while the gate refused these calls from memory just before.
#[actix_web::test]
async fn r8_renewal_and_re_enabling_work_at_once_on_an_instance_not_yet_notified() {
    use sandbox_portal::service::support;
    use sandbox_portal::submission::gate::Verdict;
    let app = TestApp::spawn().await;
    let second = app.another_instance().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let digest = app.keys.digest(&value);
    let actor = sandbox_portal::db::audit::Actor::cli();
    let in_days = |days: i64| Some(chrono::Utc::now() + chrono::Duration::days(days));

    support::set_subscription(&mut app.conn(), &app.keys, &actor, org.id, in_days(-1)).unwrap();
    support::disable_org_api(&mut app.conn(), &actor, org.id, "terms").unwrap();
    // Instance 2's gate holds the refusal, then hears of nothing more.
    eventually("instance 2's gate to hold the disable", || {
        std::future::ready(matches!(
            second.gate.check(&digest, chrono::Utc::now()),
            Verdict::Disabled { .. }
        ))
    })
    .await;
    deafen(&second.gate).await;

    support::set_subscription(&mut app.conn(), &app.keys, &actor, org.id, in_days(30)).unwrap();
    assert_eq!(
        submit(&second.addr, value.expose(), b"x").await.0,
        403,
        "renewed, but still disabled"
    );
    support::enable_org_api(&mut app.conn(), &actor, org.id).unwrap();
    assert_eq!(submit(&second.addr, value.expose(), b"x").await.0, 200);
}

/// The database confirms refusals at a trickle only: a flood of well-formed unknown values is
/// answered from memory once the allowance is spent, all of them with 401.
#[actix_web::test]
async fn a_flood_of_unknown_values_reaches_the_database_only_at_a_trickle() {
    let app = TestApp::spawn().await;
    let start = std::time::Instant::now();
    let before = app.gate.rechecked();
    for _ in 0..300 {
        let unknown = TokenValue::generate();
        assert_eq!(submit(&app.addr, unknown.expose(), b"x").await.0, 401);
    }
    // 10 at once, then 10 a second.
    let allowed = 11 + (10.0 * start.elapsed().as_secs_f64()).ceil() as u64;
    let rechecked = app.gate.rechecked() - before;
    assert!(
        rechecked >= 1,
        "a miss is confirmed while the allowance lasts"
    );
    assert!(
        rechecked <= allowed,
        "{rechecked} database reads for 300 unknown values in {:?}",
        start.elapsed()
    );
}

/// R10 and §2 ("all calls counted"): calls the in-memory gate refuses are API calls of the org
/// too. Under concurrent calls the day's counter is exactly the number of calls made, before
/// and after the org is disabled, and a provider-disabled token's calls count towards the
/// threshold of its org.
#[actix_web::test]
async fn r10_every_call_is_counted_also_those_the_gate_refuses() {
    use sandbox_portal::submission::gate::Verdict;
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    set_org(&app, org.id, 1000, 10);
    let value = app.value_of(org.id, token.id);
    let digest = app.keys.digest(&value);
    let burst = |n: usize| {
        futures::future::join_all((0..n).map(|i| {
            let (base, v) = (app.addr.clone(), value.expose().to_owned());
            async move { submit(&base, &v, format!("file {i}").as_bytes()).await.0 }
        }))
    };
    let first = burst(30).await;
    assert_eq!(first.iter().filter(|s| **s == 200).count(), 10, "{first:?}");
    assert_eq!(usage_today(&app, org.id).0, 30, "every call counted");
    // Once the gate knows the org is disabled, it refuses from memory: still counted.
    eventually("the gate to see the threshold disable", || {
        std::future::ready(matches!(
            app.gate.check(&digest, chrono::Utc::now()),
            Verdict::Disabled { .. }
        ))
    })
    .await;
    let later = burst(20).await;
    assert!(later.iter().all(|s| *s == 403), "{later:?}");
    assert_eq!(usage_today(&app, org.id).0, 50);
    let disables = app
        .audit_actions()
        .into_iter()
        .filter(|r| r.0 == "THRESHOLD_DISABLE")
        .count();
    assert_eq!(disables, 1, "disabled exactly once");

    // R7 + R10: a disabled token's calls are refused and counted. A refused call needs no
    // threshold decision; the next call the org would serve finds the threshold crossed.
    let (other, other_token) = app.org("Globex");
    set_org(&app, other.id, 1000, 3);
    let other_value = app.value_of(other.id, other_token.id);
    let (_, healthy) = sandbox_portal::service::tokens::add(
        &mut app.conn(),
        &app.keys,
        &sandbox_portal::db::audit::Actor::cli(),
        other.id,
        Some("healthy"),
    )
    .unwrap();
    sandbox_portal::service::support::disable_token(
        &mut app.conn(),
        &sandbox_portal::db::audit::Actor::cli(),
        other.id,
        other_token.id,
        "terms violation",
    )
    .unwrap();
    for _ in 0..5 {
        assert_eq!(submit(&app.addr, other_value.expose(), b"x").await.0, 403);
    }
    assert_eq!(usage_today(&app, other.id).0, 5);
    assert_eq!(submit(&app.addr, healthy.expose(), b"x").await.0, 403);
    assert_eq!(usage_today(&app, other.id).0, 6);
    let reason: Option<String> = o::table
        .find(other.id)
        .select(o::api_disabled_reason)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(reason.as_deref(), Some("API call threshold exceeded"));
}
