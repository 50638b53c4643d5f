//! Cross-instance invalidation: every change to an org's tokens or Sandbox status notifies, in
//! the same transaction, so every instance's token gate reloads that org once it commits.
use diesel::prelude::*;
use diesel::sql_types::Text;
use uuid::Uuid;

pub const CHANNEL: &str = "sandbox_token_changes";

pub fn org_changed(conn: &mut PgConnection, org_id: Uuid) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(CHANNEL)
        .bind::<Text, _>(org_id.to_string())
        .execute(conn)?;
    Ok(())
}
