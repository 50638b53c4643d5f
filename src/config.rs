//! Settings from flags and environment (SPEC §9). Secrets are wrapped so they never print.
use clap::Args;
use std::fmt;
use std::path::PathBuf;

/// A secret string whose Debug/Display never show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Clone, Args)]
pub struct ServerArgs {
    /// PostgreSQL URL. When unset, a private cluster is started under the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
    /// Data directory: private PostgreSQL cluster and the development secret key.
    #[arg(
        long,
        env = "SANDBOX_PORTAL_DATA",
        default_value = ".sandbox-portal",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: String,
    /// Base URL of the Sandbox Submission API shown on the token page (default: the portal's URL).
    #[arg(long, env = "SANDBOX_API_BASE_URL", global = true)]
    pub api_base_url: Option<String>,
    /// The portal's public URL; https here turns on Secure cookies, the __Host- prefix and HSTS.
    #[arg(long, env = "PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Master secret (at least 32 characters) for token encryption, lookup digests and cookies.
    /// Prefer the environment or --secret-key-file: a command line is readable by every user of
    /// the machine.
    #[arg(long, env = "SECRET_KEY", hide_env_values = true, global = true)]
    pub secret_key: Option<String>,
    /// A file holding the master secret (a mounted secret, say); surrounding whitespace is
    /// ignored.
    #[arg(
        long,
        env = "SECRET_KEY_FILE",
        conflicts_with = "secret_key",
        global = true
    )]
    pub secret_key_file: Option<PathBuf>,
    /// Largest file the Submission API accepts, in bytes (after gzip decoding).
    #[arg(long, env = "SUBMISSION_MAX_BYTES", default_value_t = crate::submission::DEFAULT_MAX_BYTES, global = true)]
    pub submission_max_bytes: usize,
    /// Audit events older than this many days are purged (SPEC §7).
    #[arg(long, env = "AUDIT_RETENTION_DAYS", default_value_t = 180, value_parser = clap::value_parser!(i64).range(1..=36_500), global = true)]
    pub audit_retention_days: i64,
    /// Submission API records (accepted files, daily call and submission counts) older than
    /// this many days are purged; today's and yesterday's counts are always kept.
    #[arg(long, env = "SUBMISSION_RETENTION_DAYS", default_value_t = 180, value_parser = clap::value_parser!(i64).range(1..=36_500), global = true)]
    pub submission_retention_days: i64,
    /// Addresses of reverse proxies in front of the portal (comma-separated). A request from
    /// one of them is recorded in the audit log with the client address its X-Forwarded-For
    /// gives; from anywhere else the header is ignored (anyone can send it).
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Idle session timeout in minutes.
    #[arg(
        long,
        env = "SESSION_IDLE_MINUTES",
        default_value_t = 30,
        // Up to a week: beyond that an idle session is no longer a session, and huge values
        // overflowed the expiry arithmetic at login.
        value_parser = clap::value_parser!(i64).range(1..=10_080),
        global = true
    )]
    pub session_idle_minutes: i64,
    /// Absolute session lifetime in hours.
    #[arg(
        long,
        env = "SESSION_ABSOLUTE_HOURS",
        default_value_t = 12,
        value_parser = clap::value_parser!(i64).range(1..=720),
        global = true
    )]
    pub session_absolute_hours: i64,
}

/// By hand, so that the database URL (it may carry a password) and the secret never print.
impl fmt::Debug for ServerArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerArgs")
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "<redacted>"),
            )
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("api_base_url", &self.api_base_url)
            .field("public_url", &self.public_url)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("submission_max_bytes", &self.submission_max_bytes)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("submission_retention_days", &self.submission_retention_days)
            .field("session_idle_minutes", &self.session_idle_minutes)
            .field("session_absolute_hours", &self.session_absolute_hours)
            .finish()
    }
}

/// Everything `Application::build` needs, already resolved (database URL known, key loaded).
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Secret,
    pub bind: String,
    pub api_base_url: Option<String>,
    pub public_url: Option<String>,
    pub secret_key: Secret,
    pub session_idle: chrono::Duration,
    pub session_absolute: chrono::Duration,
    pub pool_size: u32,
    pub submission_max_bytes: usize,
    pub audit_retention_days: i64,
    pub submission_retention_days: i64,
    /// HTTP worker threads (None: one per core).
    pub workers: Option<usize>,
    /// Reverse proxies whose X-Forwarded-For names the client (the audit's client IP).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Settings {
    pub fn https(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| {
            u.get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        })
    }
}

pub const MIN_SECRET_LEN: usize = 32;

/// A key counts by its characters, spaces around it left out, wherever it comes from.
fn long_enough(key: &str) -> bool {
    key.trim().chars().count() >= MIN_SECRET_LEN
}

/// SECRET_KEY or the content of SECRET_KEY_FILE if given; otherwise a development key kept in
/// the data directory, generated on first run (and the log says so).
pub fn load_secret(
    given: Option<&str>,
    file: Option<&std::path::Path>,
    data_dir: &std::path::Path,
) -> anyhow::Result<Secret> {
    if let Some(k) = given {
        anyhow::ensure!(
            long_enough(k),
            "SECRET_KEY must be at least {MIN_SECRET_LEN} characters long (not counting spaces \
             around it)"
        );
        return Ok(Secret(k.to_owned()));
    }
    if let Some(path) = file {
        // The error names the file, never what it holds.
        let content = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("SECRET_KEY_FILE {} cannot be read: {e}", path.display())
        })?;
        let k = content.trim();
        anyhow::ensure!(
            long_enough(k),
            "SECRET_KEY_FILE {} must hold at least {MIN_SECRET_LEN} characters (not counting \
             spaces and line ends around them)",
            path.display()
        );
        return Ok(Secret(k.to_owned()));
    }
    let path = data_dir.join("dev-secret-key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let k = existing.trim().to_owned();
        if long_enough(&k) {
            tracing::warn!(path = %path.display(), "SECRET_KEY not set: using the development key; set SECRET_KEY in production");
            return Ok(Secret(k));
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let key = crate::auth::csrf::new_token() + &crate::auth::csrf::new_token();
    write_private(&path, &key)?;
    tracing::warn!(path = %path.display(), "SECRET_KEY not set: generated a development key; set SECRET_KEY in production");
    Ok(Secret(key))
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}
