use crate::cli::cli;
use crate::helpers::*;
use diesel::prelude::*;
use sandbox_portal::domain::role::Role;

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
