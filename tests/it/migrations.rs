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
