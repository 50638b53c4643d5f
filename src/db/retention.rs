//! Retention of the Submission API's records: `submissions` (one row per accepted file) and the
//! daily usage counters (`org_daily_usage`, `token_daily_usage`), which otherwise grow forever.
//!
//! Deleted in batches, each its own statement and transaction, so a first purge of years of
//! rows never holds row locks, or one long snapshot, for the whole run. The Submission API's
//! writer never waits on these deletions anyway: it locks organization rows (a child row's
//! deletion takes no lock on its parent), inserts new submissions and upserts only the current
//! day's usage rows, which are never deleted here.
use diesel::prelude::*;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::sql_types::{BigInt, Integer};

/// Rows per statement: large enough that a purge of millions of rows is a few hundred
/// statements, small enough that each one is over in well under a second.
pub const BATCH: i64 = 5_000;

/// What one purge deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub submissions: usize,
    pub org_days: usize,
    pub token_days: usize,
}

/// Deletes submissions older than `days` days and the usage rows of UTC days more than `days`
/// days before today. Today's and yesterday's usage rows are kept whatever `days` says: R10 and
/// R11 count in today's row (its `threshold_baseline` included), and a writer whose clock is a
/// little behind the database's may still be adding to yesterday's just after midnight.
pub fn purge_older_than(conn: &mut PgConnection, days: i64) -> QueryResult<Purged> {
    // At least one day back: the cut-off is then yesterday at the latest, and only days before
    // it go.
    let days = i32::try_from(days.max(1)).unwrap_or(i32::MAX);
    // Rows are inserted in created_at order, give or take the milliseconds between two
    // instances' writers, so every row before the first one still to keep is old. Found through
    // the primary key, that row bounds each batch: with nothing to purge (every sweep but the
    // first) the purge reads one row instead of scanning the whole table, and without an index
    // on created_at (one more index would slow every insert of the writer). An old row that came
    // in just after a younger one goes at the next sweep.
    let keep_from: Option<i64> = {
        use crate::db::schema::submissions::dsl as s;
        s::submissions
            .filter(s::created_at.ge(chrono::Utc::now() - chrono::Duration::days(days.into())))
            .order(s::id.asc())
            .select(s::id)
            .first(conn)
            .optional()?
    };
    Ok(Purged {
        submissions: in_batches(conn, || {
            diesel::sql_query(
                "DELETE FROM submissions WHERE id IN (
                     SELECT id FROM submissions
                      WHERE id < $3 AND created_at < now() - make_interval(days => $1)
                      ORDER BY id LIMIT $2)",
            )
            .bind::<Integer, _>(days)
            .bind::<BigInt, _>(BATCH)
            .bind::<BigInt, _>(keep_from.unwrap_or(i64::MAX))
        })?,
        org_days: usage_days(conn, "org_daily_usage", "org_id", days)?,
        token_days: usage_days(conn, "token_daily_usage", "token_id", days)?,
    })
}

/// The rows of one daily usage table for days more than `days` before today (UTC), found
/// through its index on `day` (migration 13). `table` and `key` are literals of this module,
/// never input.
fn usage_days(
    conn: &mut PgConnection,
    table: &'static str,
    key: &'static str,
    days: i32,
) -> QueryResult<usize> {
    let sql = format!(
        "DELETE FROM {table} WHERE ({key}, day) IN (
             SELECT {key}, day FROM {table}
              WHERE day < (now() AT TIME ZONE 'UTC')::date - $1
              LIMIT $2)"
    );
    in_batches(conn, || {
        diesel::sql_query(sql.as_str())
            .bind::<Integer, _>(days)
            .bind::<BigInt, _>(BATCH)
    })
}

/// Runs one batch's DELETE until a batch comes back short.
fn in_batches<Q>(conn: &mut PgConnection, batch: impl Fn() -> Q) -> QueryResult<usize>
where
    Q: ExecuteDsl<PgConnection>,
{
    let mut total = 0;
    loop {
        let n = ExecuteDsl::execute(batch(), conn)?;
        total += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < BATCH {
            return Ok(total);
        }
    }
}
