//! Connection pool, embedded migrations and the per-table query modules.
pub mod audit;
pub mod models;
pub mod notify;
pub mod orgs;
pub mod retention;
#[rustfmt::skip]
pub mod schema;
pub mod sessions;
pub mod tokens;
pub mod users;

use anyhow::Context;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type DbPool = Pool<ConnectionManager<PgConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<PgConnection>>;

pub fn build_pool(database_url: &str, max_size: u32) -> anyhow::Result<DbPool> {
    Pool::builder()
        .max_size(max_size)
        .connection_timeout(std::time::Duration::from_secs(10))
        // Failures surface (and are logged once, with their request) where a connection was
        // wanted; r2d2's own handler logged every retry of every pool slot while the database
        // was down.
        .error_handler(Box::new(diesel::r2d2::NopErrorHandler))
        .build(ConnectionManager::new(database_url))
        .context("could not connect to the database")
}

/// Key of the advisory lock that serialises migrations: two processes upgrading one database at
/// the same moment (two instances started together, `migrate` beside `serve`) would otherwise
/// both apply a migration, and the second would fail half-way on "already exists".
pub const MIGRATION_LOCK: i64 = 0x5342_5850_4d49_4752; // "SBXPMIGR"

pub fn run_migrations(conn: &mut PgConnection) -> anyhow::Result<()> {
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .execute(conn)
        .context("could not take the migration lock")?;
    // Whoever waited finds the other's migrations applied and has nothing left to do.
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"));
    // A session-level lock: released here, or with the connection if this fails.
    let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(conn);
    result
}

/// Every process on one database must use the same SECRET_KEY: a token sealed under another
/// key can never be revealed, and its value never matches. The first process records its key's
/// fingerprint; a process with another key is refused before it writes anything.
pub fn check_secret_key(
    conn: &mut PgConnection,
    keys: &crate::domain::token::TokenKeys,
) -> anyhow::Result<()> {
    use schema::{sandbox_api_tokens as t, secret_key_check as k};
    let recorded: String = match k::table.select(k::fingerprint).first(conn).optional()? {
        Some(recorded) => recorded,
        None => {
            // The first record (a new database, or one from before this check): only a key that
            // opens the tokens already there may become the recorded one.
            let sample: Option<(uuid::Uuid, Vec<u8>)> = t::table
                .select((t::id, t::value_ciphertext))
                .first(conn)
                .optional()?;
            if let Some((id, sealed)) = sample {
                anyhow::ensure!(
                    keys.decrypt(id, &sealed).is_ok(),
                    "SECRET_KEY does not open this database's existing tokens: start with the \
                     key they were sealed with"
                );
            }
            diesel::insert_into(k::table)
                .values(k::fingerprint.eq(keys.fingerprint()))
                .on_conflict_do_nothing()
                .execute(conn)?;
            // Read again: another process starting at the same moment may have recorded first.
            k::table.select(k::fingerprint).first(conn)?
        }
    };
    anyhow::ensure!(
        recorded == keys.fingerprint(),
        "SECRET_KEY is not the key this database's tokens were sealed with (key fingerprint \
         {} expected, {} given): start every process on this database with the same \
         SECRET_KEY. If the recorded key is the wrong one and no token was made with it, \
         `DELETE FROM secret_key_check` lets the next start record its own",
        recorded.get(..12).unwrap_or(&recorded),
        &keys.fingerprint()[..12]
    );
    Ok(())
}

/// Creates the database named in `database_url` if it does not exist yet (SPEC §9).
pub fn ensure_database(database_url: &str) -> anyhow::Result<()> {
    if PgConnection::establish(database_url).is_ok() {
        return Ok(());
    }
    let mut url = url::Url::parse(database_url).context("DATABASE_URL is not a valid URL")?;
    let name = url.path().trim_start_matches('/').to_owned();
    anyhow::ensure!(!name.is_empty(), "DATABASE_URL names no database");
    url.set_path("/postgres");
    let mut admin = PgConnection::establish(url.as_str()).with_context(|| {
        format!("could not connect to the PostgreSQL server to create database {name}")
    })?;
    if let Err(e) =
        diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(&name))).execute(&mut admin)
    {
        // Another process starting at the same moment may have created it first.
        if PgConnection::establish(database_url).is_ok() {
            return Ok(());
        }
        return Err(e).with_context(|| format!("could not create database {name}"));
    }
    tracing::info!(database = %name, "created database");
    Ok(())
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Names are unique and searched without regard to case through `lower()`, which follows the
/// database's LC_CTYPE: under C it folds ASCII letters only, so "Ørsted" and
/// "ørsted" would be two names. Said once at start, for a database made that way (a private
/// cluster from before C.UTF-8 was used, or a DATABASE_URL created with the C locale).
pub fn warn_if_case_folding_is_ascii_only(conn: &mut PgConnection) {
    #[derive(QueryableByName)]
    struct Folded {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        unicode: bool,
    }
    let folded = diesel::sql_query("SELECT lower('\u{d8}') = '\u{f8}' AS unicode")
        .get_result::<Folded>(conn);
    if let Ok(Folded { unicode: false }) = folded {
        tracing::warn!(
            "this database folds the case of ASCII letters only (its LC_CTYPE is C): \
             organization names and usernames that differ only in the case of other letters \
             count as different. A database created with LC_CTYPE C.UTF-8 (or another UTF-8 \
             locale) folds them all"
        );
    }
}
