//! What every handler shares.
use crate::db::{DbConn, DbPool};
use crate::domain::token::TokenKeys;
use crate::error::AppError;

pub struct AppState {
    pub pool: DbPool,
    pub keys: TokenKeys,
    /// Base URL of the Sandbox Submission API shown on the token page (R1).
    pub base_url: String,
    /// Verified against when a username is unknown, so both failures cost the same.
    pub dummy_hash: String,
    pub session_absolute: chrono::Duration,
    /// The in-memory token gate of the Submission API.
    pub gate: std::sync::Arc<crate::submission::gate::TokenGate>,
    pub writer: crate::submission::writer::Writer,
    pub submission_max_bytes: usize,
    /// Served over https (PUBLIC_URL): Secure, `__Host-` cookies.
    pub https: bool,
    /// PUBLIC_URL, parsed: its origin is this site's even when a proxy in front rewrites the
    /// Host header.
    pub public_url: Option<url::Url>,
    /// See `Settings::trusted_proxies`.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl AppState {
    /// Runs blocking diesel work on the thread pool, off the async workers.
    pub async fn db<T, F>(&self, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }
}
