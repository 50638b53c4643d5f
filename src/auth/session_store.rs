//! actix-session store backed by PostgreSQL: sessions survive restarts, are shared by every
//! instance, and are revocable (logout deletes the row, so a replayed cookie is refused).
use crate::db::{self, DbPool};
use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use chrono::Utc;
use rand::RngExt;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Clone)]
pub struct PgSessionStore {
    pool: DbPool,
}

impl PgSessionStore {
    pub fn new(pool: DbPool) -> Self {
        PgSessionStore { pool }
    }
}

type State = HashMap<String, String>;

fn id_hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

fn expiry(ttl: &Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::seconds(ttl.whole_seconds())
}

fn user_of(state: &State) -> Option<Uuid> {
    state
        .get(super::keys::USER_ID)
        .and_then(|v| serde_json::from_str::<Uuid>(v).ok())
}

/// How long reading a session waits for a pooled connection. Every request with a session
/// cookie starts here, so with the database down or every connection busy it answers its 503
/// within this bound (as `/readyz` does), not after the pool's own, longer, timeout.
const LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

async fn blocking<T, F>(pool: &DbPool, wait: Option<std::time::Duration>, f: F) -> anyhow::Result<T>
where
    F: FnOnce(&mut db::DbConn) -> anyhow::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || {
        let mut conn = match wait {
            Some(wait) => pool.get_timeout(wait)?,
            None => pool.get()?,
        };
        f(&mut conn)
    })
    .await?
}

impl SessionStore for PgSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let hash = id_hash(key.as_ref());
        // A failure is an error, never "no session": the person may well be logged in, and
        // sending them to the login form would lose their place for a moment's outage.
        // `error::session_store_faults` turns it into the portal's 503; the session row is
        // untouched and works again once a connection is free.
        let row = blocking(&self.pool, Some(LOAD_WAIT), move |c| {
            Ok(db::sessions::load(c, &hash)?)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %format!("{e:#}"), "could not load a session");
            LoadError::Other(e)
        })?;
        match row {
            None => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| LoadError::Deserialization(e.into())),
        }
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(64)
            .map(char::from)
            .collect();
        let hash = id_hash(&key);
        let user = user_of(&state);
        let json = serde_json::to_value(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        let expires = expiry(ttl);
        blocking(&self.pool, None, move |c| {
            Ok(db::sessions::insert(c, &hash, user, &json, expires)?)
        })
        .await
        .map_err(SaveError::Other)?;
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        key: SessionKey,
        state: State,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let hash = id_hash(key.as_ref());
        let user = user_of(&state);
        let json =
            serde_json::to_value(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let expires = expiry(ttl);
        let existed = blocking(&self.pool, None, move |c| {
            Ok(db::sessions::update(c, &hash, user, &json, expires)?)
        })
        .await
        .map_err(UpdateError::Other)?;
        if existed {
            Ok(key)
        } else {
            // Revoked or expired between load and update: start an empty session rather than
            // resurrect the old login under a new key.
            self.save(State::new(), ttl).await.map_err(|e| match e {
                SaveError::Serialization(e) => UpdateError::Serialization(e),
                SaveError::Other(e) => UpdateError::Other(e),
            })
        }
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        let hash = id_hash(key.as_ref());
        let expires = expiry(ttl);
        let touched = blocking(&self.pool, Some(LOAD_WAIT), move |c| {
            Ok(db::sessions::touch(c, &hash, expires)?)
        })
        .await;
        // Runs after the handler, on every request: an error would replace a response that has
        // already done its work (a rename, a regenerate's new value) with a failure. A missed
        // extension only lets the session expire sooner, never later.
        if let Err(e) = touched {
            tracing::warn!(error = %format!("{e:#}"), "could not extend a session's idle time");
        }
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        let hash = id_hash(key.as_ref());
        blocking(&self.pool, None, move |c| {
            Ok(db::sessions::delete(c, &hash)?)
        })
        .await
    }
}
