//! The operations of the product, each one transaction with its audit row. The web UI, the JSON
//! API and the CLI all call these, so every rule is implemented once (R13).
pub mod orgs;
pub mod support;
pub mod tokens;
pub mod users;

use crate::error::AppError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, PgConnection};

/// Maps a unique violation to a 409 with a message a person understands; anything else is a fault.
pub(crate) fn unique_as_conflict(e: DieselError, message: impl FnOnce() -> String) -> AppError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            AppError::Conflict(message())
        }
        other => other.into(),
    }
}

/// A change and the answer that reports it, read in the change's transaction (diesel nests the
/// change's own as a savepoint). Read afterwards, a read that failed would turn a committed
/// change into a 5xx saying that nothing was changed, and a client that retried a regenerate
/// would rotate the value again and lose the one it was given. So a failed read undoes the
/// change. A refused change is committed as the change left it (with the audit row of the
/// refused attempt, §7) and its refusal returned.
pub fn change_and_answer<T, R>(
    conn: &mut PgConnection,
    change: impl FnOnce(&mut PgConnection) -> Result<T, AppError>,
    answer: impl FnOnce(&mut PgConnection, &T) -> Result<R, AppError>,
) -> Result<(T, R), AppError> {
    conn.transaction::<_, AppError, _>(|c| match change(c) {
        Ok(done) => {
            let read = answer(c, &done)?;
            Ok(Ok((done, read)))
        }
        Err(refused) => Ok(Err(refused)),
    })?
}
