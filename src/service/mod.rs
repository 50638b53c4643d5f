//! The operations of the product, each one transaction with its audit row. The web UI, the JSON
//! API and the CLI all call these, so every rule is implemented once (R13).
pub mod orgs;
pub mod support;
pub mod tokens;
pub mod users;

use crate::error::AppError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Maps a unique violation to a 409 with a message a person understands; anything else is a fault.
pub(crate) fn unique_as_conflict(e: DieselError, message: impl FnOnce() -> String) -> AppError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            AppError::Conflict(message())
        }
        other => other.into(),
    }
}
