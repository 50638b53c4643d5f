//! On a large data set, the support console's org search and the audit log's pages must stay
//! index-backed. Checked through the transaction's own scan counters (pg_stat_xact_user_tables)
//! around the application's real query functions: a query plan, not a timing.
use crate::helpers::*;
use diesel::prelude::*;
use sandbox_portal::db;

#[derive(QueryableByName, Debug)]
struct Scans {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    idx: i64,
}

fn scans(conn: &mut PgConnection, table: &str) -> Scans {
    diesel::sql_query(
        "SELECT coalesce(seq_scan, 0) AS seq, coalesce(idx_scan, 0) AS idx \
         FROM pg_stat_xact_user_tables WHERE relname = $1",
    )
    .bind::<diesel::sql_types::Text, _>(table)
    .get_result(conn)
    .unwrap()
}

#[actix_web::test]
async fn org_search_and_keyset_pages_use_indexes_at_100_000_orgs() {
    let app = TestApp::spawn().await;
    let mut conn = app.conn();
    diesel::sql_query(
        "INSERT INTO organizations (name) SELECT 'Org ' || lpad(g::text, 6, '0') \
         FROM generate_series(1, 100000) g",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("ANALYZE organizations")
        .execute(&mut conn)
        .unwrap();
    let (deep, deep_id): (String, uuid::Uuid) = db::schema::organizations::table
        .filter(db::schema::organizations::name.eq("Org 050000"))
        .select((
            db::schema::organizations::name,
            db::schema::organizations::id,
        ))
        .first(&mut conn)
        .unwrap();
    conn.transaction(|c| {
        let found = db::orgs::page_after(c, Some("org 0123"), None, 51)?;
        assert_eq!(found.len(), 51);
        assert!(found.iter().all(|o| o.name.starts_with("Org 0123")));
        let page = db::orgs::page_after(c, None, Some((&deep, deep_id)), 51)?;
        assert_eq!(page[0].name, "Org 050001");
        let s = scans(c, "organizations");
        assert_eq!(s.seq, 0, "no sequential scan of organizations: {s:?}");
        assert!(s.idx >= 2, "{s:?}");
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
}

#[actix_web::test]
async fn audit_pages_use_indexes_deep_into_a_large_trail() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let mut conn = app.conn();
    // Seeded behind the chain trigger (which would take a lock per row), as a restore would.
    conn.transaction(|c| {
        diesel::sql_query("SET LOCAL session_replication_role = replica").execute(c)?;
        diesel::sql_query(
            "INSERT INTO audit_events (actor, action, interface, result, org_id, occurred_at) \
             SELECT 'user' || (g % 97), CASE WHEN g % 5 = 0 THEN 'LOGIN' ELSE 'REVEAL_TOKEN' END, \
                    'UI', 'SUCCESS', CASE WHEN g % 4 = 0 THEN $1 ELSE gen_random_uuid() END, \
                    now() - make_interval(secs => g) \
             FROM generate_series(1, 300000) g",
        )
        .bind::<diesel::sql_types::Uuid, _>(org.id)
        .execute(c)
    })
    .unwrap();
    diesel::sql_query("ANALYZE audit_events")
        .execute(&mut conn)
        .unwrap();
    let deep = chrono::Utc::now() - chrono::Duration::seconds(200_000);
    conn.transaction(|c| {
        let own = db::audit::Filter {
            orgs: Some(vec![org.id]),
            ..Default::default()
        };
        let first = db::audit::page(c, &own, None, 51)?;
        assert_eq!(first.len(), 51);
        let far = db::audit::page(c, &own, Some((deep, i64::MAX)), 51)?;
        assert_eq!(far.len(), 51);
        assert!(
            far.iter()
                .all(|e| e.occurred_at < deep && e.org_id == Some(org.id))
        );
        let everyone =
            db::audit::page(c, &db::audit::Filter::default(), Some((deep, i64::MAX)), 51)?;
        assert_eq!(everyone.len(), 51);
        let s = scans(c, "audit_events");
        assert_eq!(s.seq, 0, "no sequential scan of audit_events: {s:?}");
        assert!(s.idx >= 3, "{s:?}");
        Ok::<_, diesel::result::Error>(())
    })
    .unwrap();
}
