use crate::helpers::TestDb;
use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use diesel_migrations::MigrationHarness;
use sandbox_portal::db::MIGRATIONS;

/// Tables, columns, indexes, constraints, triggers and functions: what a migration can change.
fn schema_fingerprint(conn: &mut PgConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let sql = "
        SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS line
          FROM information_schema.columns WHERE table_schema = 'public'
        UNION ALL
        SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
        UNION ALL
        SELECT 'con ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
          WHERE connamespace = 'public'::regnamespace
        UNION ALL
        SELECT 'trg ' || tgrelid::regclass || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal
        UNION ALL
        SELECT 'fn ' || proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace
        ORDER BY 1";
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .expect("fingerprint")
        .into_iter()
        .map(|l| l.line)
        .collect()
}

#[test]
fn migrations_run_up_down_up_to_the_same_schema() {
    let db = TestDb::empty();
    let mut conn = PgConnection::establish(&db.url).expect("connect");
    conn.run_pending_migrations(MIGRATIONS).expect("up");
    let first = schema_fingerprint(&mut conn);
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("col sandbox_api_tokens.value_digest"))
    );
    conn.revert_all_migrations(MIGRATIONS).expect("down");
    let empty: Vec<String> = schema_fingerprint(&mut conn)
        .into_iter()
        .filter(|l| !l.contains("__diesel_schema_migrations"))
        .collect();
    assert!(empty.is_empty(), "down.sql left objects behind: {empty:?}");
    conn.run_pending_migrations(MIGRATIONS).expect("up again");
    assert_eq!(schema_fingerprint(&mut conn), first);
}

#[test]
fn the_database_refuses_to_update_or_delete_audit_rows() {
    let db = TestDb::new();
    let mut conn = PgConnection::establish(&db.url).expect("connect");
    diesel::sql_query(
        "INSERT INTO audit_events (actor, action, interface, result) VALUES ('t', 'LOGIN', 'UI', 'SUCCESS')",
    )
    .execute(&mut conn)
    .expect("insert is allowed");
    assert!(
        diesel::sql_query("UPDATE audit_events SET actor = 'x'")
            .execute(&mut conn)
            .is_err()
    );
    assert!(
        diesel::sql_query("DELETE FROM audit_events")
            .execute(&mut conn)
            .is_err()
    );
    assert!(
        diesel::sql_query("TRUNCATE audit_events")
            .execute(&mut conn)
            .is_err()
    );
}

/// Two processes starting together on a new database (two instances, or `migrate` beside
/// `serve`) both come up: the second waits for the first's migrations instead of applying them
/// a second time and failing half-way on "already exists".
#[actix_web::test]
async fn two_processes_migrating_one_new_database_at_once_both_succeed() {
    let db = TestDb::empty();
    let mut holder = PgConnection::establish(&db.url).expect("connect");
    // Hold the migration lock so that both migrators are provably waiting, then let them race.
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(sandbox_portal::db::MIGRATION_LOCK)
        .execute(&mut holder)
        .expect("take the migration lock");
    let migrators: Vec<_> = (0..2)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).expect("connect");
                sandbox_portal::db::run_migrations(&mut conn).map_err(|e| e.to_string())
            })
        })
        .collect();
    crate::helpers::eventually("both migrators to wait for the migration lock", || {
        let waiting: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)",
        ))
        .get_result(&mut holder)
        .expect("count waiters");
        std::future::ready(waiting == 2)
    })
    .await;
    diesel::sql_query("SELECT pg_advisory_unlock_all()")
        .execute(&mut holder)
        .expect("release");
    for m in migrators {
        assert_eq!(m.join().expect("migrator thread"), Ok(()));
    }
    let mut conn = PgConnection::establish(&db.url).expect("connect");
    assert!(
        !conn.has_pending_migration(MIGRATIONS).expect("check"),
        "every migration applied"
    );
}
