//! The command line of SPEC §9: serve (default), demo, migrate, org create, user create.
use crate::config::{ServerArgs, Settings, load_secret};
use crate::db::audit::Actor;
use crate::db::{self, orgs::NewOrg};
use crate::domain::role::Role;
use crate::domain::token::TokenKeys;
use crate::pgcluster::PrivateCluster;
use crate::service;
use crate::startup::Application;
use anyhow::Context;
use clap::{Parser, Subcommand};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "sandbox-portal",
    version,
    about = "Sandbox API token portal and Submission API"
)]
pub struct Cli {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// `Cli::parse`, except for the usage line of a missing required argument. clap builds it
    /// from the required arguments and those given, and counts an option read from the
    /// environment as given: with SANDBOX_PORTAL_DATA set, `org create` without --name printed
    /// `Usage: sandbox-portal org create --name <NAME> --data-dir <DATA_DIR>`, as though
    /// --data-dir were required. The same command line parsed without the environment fails
    /// the same way, and its usage line names only what was typed.
    pub fn parse_args() -> Cli {
        let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
        match Cli::try_parse_from(&argv) {
            Ok(cli) => {
                warn_of_secrets_in(&argv);
                cli
            }
            Err(e) if e.kind() == clap::error::ErrorKind::MissingRequiredArgument => {
                let without_env = <Cli as clap::CommandFactory>::command()
                    .mut_args(|a| a.env(None::<&'static str>))
                    .try_get_matches_from(&argv);
                match without_env {
                    Err(plain) if plain.kind() == e.kind() => plain.exit(),
                    _ => e.exit(),
                }
            }
            Err(e) => e.exit(),
        }
    }
}

/// Every user of the machine can read a command line (`ps`, /proc): say so when a secret is on
/// it, naming the flag, never the value.
fn warn_of_secrets_in(argv: &[std::ffi::OsString]) {
    let flag_given = |flag: &str| {
        argv.iter().any(|a| {
            a.to_str()
                .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
        })
    };
    if flag_given("--secret-key") {
        tracing::warn!(
            "--secret-key is on the command line, where every user of this machine can read it; \
             set SECRET_KEY in the environment or use --secret-key-file"
        );
    }
    let url_with_password = argv.iter().enumerate().any(|(i, a)| {
        let value = match a.to_str() {
            Some("--database-url") => argv.get(i + 1).and_then(|v| v.to_str()),
            Some(a) => a.strip_prefix("--database-url="),
            None => None,
        };
        value
            .and_then(|v| url::Url::parse(v).ok())
            .is_some_and(|u| u.password().is_some())
    });
    if url_with_password {
        tracing::warn!(
            "--database-url holds a password and is on the command line, where every user of \
             this machine can read it; set DATABASE_URL in the environment or keep the password \
             in PGPASSFILE (~/.pgpass)"
        );
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the portal and the Submission API (the default).
    Serve,
    /// Seed a demo organization with a user of every role, print the logins, and serve.
    Demo {
        /// Seed a database given by DATABASE_URL too. demo gives the users named admin, viewer,
        /// connector, partner and support new passwords and ends their sessions, so by default
        /// it runs only on the private database.
        #[arg(long)]
        on_this_database: bool,
    },
    /// Apply the embedded migrations and exit.
    Migrate,
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chains; report the first broken link (exit status 1).
    Verify,
    /// Delete audit events older than --audit-retention-days, and Submission API records
    /// (accepted files, daily usage counts) older than --submission-retention-days; the same
    /// purge the server runs every ten minutes.
    Purge,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Provision an organization (R2: with a subscription its first token is created); prints its id.
    Create {
        #[arg(long)]
        name: String,
        /// Cloud name: a domain name such as zscalerbeta.net.
        #[arg(long, default_value = "zscaler.net")]
        cloud: String,
        /// Days of Sandbox subscription from now (1 to 3650); without it the org has no
        /// subscription.
        #[arg(long)]
        subscription_days: Option<i64>,
        #[arg(long, default_value_t = db::orgs::DEFAULT_TOKEN_LIMIT)]
        token_limit: i32,
        /// Submissions per UTC day (R11).
        #[arg(long, default_value_t = db::orgs::DEFAULT_DAILY_QUOTA)]
        daily_quota: i32,
        /// API calls per UTC day before the org is disabled (R10).
        #[arg(long, default_value_t = db::orgs::DEFAULT_ABUSE_THRESHOLD)]
        abuse_threshold: i32,
        /// Also print the provisioned token's value (second line), e.g. to hand it to a script.
        #[arg(long)]
        show_token: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is SANDBOX_PORTAL_PASSWORD, else typed (twice, unseen) at a
    /// terminal, else the first line of standard input.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        role: Role,
        /// Organization id (repeat for partner viewers; none for support).
        #[arg(long = "org")]
        orgs: Vec<Uuid>,
    },
    /// Disable a user: their sessions end at once and they can no longer log in.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Give a user a new password (read like `create`'s): their sessions end at once.
    SetPassword {
        #[arg(long)]
        username: String,
    },
    /// Let a disabled user log in again.
    Enable {
        #[arg(long)]
        username: String,
    },
    /// Change a user's role (and, with --org, their organizations): their sessions end at once.
    SetRole {
        #[arg(long)]
        username: String,
        #[arg(long)]
        role: Role,
        /// Organization id, replacing the current ones (repeat for partner viewers).
        #[arg(long = "org")]
        orgs: Vec<Uuid>,
    },
}

impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &Role::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// A database URL, and the private cluster behind it when DATABASE_URL is not set.
pub struct Database {
    pub url: String,
    _cluster: Option<PrivateCluster>,
}

pub fn database(args: &ServerArgs) -> anyhow::Result<Database> {
    if let Some(url) = &args.database_url {
        return Ok(Database {
            url: url.clone(),
            _cluster: None,
        });
    }
    let dir = args.data_dir.join("postgres");
    let cluster = match PrivateCluster::start(&dir) {
        Ok(c) => c,
        // Only the documented case moves the database: run as root, where the postgres user
        // (who must run the server) may not reach the data directory, typically a checkout
        // under /root. Any other failure (a data directory that cannot be written, a file in
        // its place) is the operator's to see, not a database quietly made under /tmp.
        Err(first)
            if crate::pgcluster::effective_uid().ok() != Some(0)
                || std::fs::create_dir_all(&args.data_dir).is_err()
                || reachable_by_others(&args.data_dir) =>
        {
            return Err(first.context(format!(
                "DATABASE_URL is not set and the private PostgreSQL cluster could not start in {}",
                dir.display()
            )));
        }
        Err(first) => {
            // A directory under /tmp always works.
            let fallback = std::env::temp_dir().join(format!(
                "sandbox-portal-{}",
                &hex::encode(crate::domain::token::hmac_sha256(
                    b"data dir",
                    args.data_dir.to_string_lossy().as_bytes()
                ))[..12]
            ));
            tracing::warn!(error = %format!("{first:#}"), fallback = %fallback.display(), "private cluster could not start in the data directory; trying under the temporary directory");
            PrivateCluster::start(&fallback)
                .map_err(|_| first)
                .context(
                    "DATABASE_URL is not set and the private PostgreSQL cluster could not start",
                )?
        }
    };
    Ok(Database {
        url: cluster.url("sandbox_portal"),
        _cluster: Some(cluster),
    })
}

/// Whether a user other than the owner (postgres, when we are root) can get to `dir`: every
/// directory on the way must let others through. If so, a failed start has another cause.
fn reachable_by_others(dir: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    dir.ancestors()
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

pub fn settings(args: &ServerArgs, database_url: &str) -> anyhow::Result<Settings> {
    if let Some(u) = &args.public_url {
        url::Url::parse(u).with_context(|| format!("PUBLIC_URL {u:?} is not a URL"))?;
    }
    Ok(Settings {
        database_url: crate::config::Secret::new(database_url.to_owned()),
        bind: args.bind.clone(),
        api_base_url: args.api_base_url.clone(),
        public_url: args.public_url.clone(),
        secret_key: load_secret(
            args.secret_key.as_deref(),
            args.secret_key_file.as_deref(),
            &args.data_dir,
        )?,
        session_idle: chrono::Duration::minutes(args.session_idle_minutes),
        session_absolute: chrono::Duration::hours(args.session_absolute_hours),
        pool_size: 16,
        workers: None,
        trusted_proxies: args.trusted_proxies.clone(),
        submission_max_bytes: args.submission_max_bytes,
        audit_retention_days: args.audit_retention_days,
        submission_retention_days: args.submission_retention_days,
    })
}

fn migrated_conn(url: &str) -> anyhow::Result<diesel::PgConnection> {
    use diesel::Connection;
    db::ensure_database(url)?;
    let mut conn =
        diesel::PgConnection::establish(url).context("could not connect to the database")?;
    db::run_migrations(&mut conn)?;
    Ok(conn)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let db = database(&cli.server)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings(&cli.server, &db.url)?, &cli.server.bind, None).await,
        Command::Demo { on_this_database } => {
            anyhow::ensure!(
                cli.server.database_url.is_none() || on_this_database,
                "demo resets the passwords of the users named admin, viewer, connector, partner \
                 and support: it runs on the private database only (unset DATABASE_URL), or add \
                 --on-this-database if this database is a demo"
            );
            // Before seeding: a second demo on a busy port would otherwise reset the passwords
            // the first one printed, and then fail.
            std::net::TcpListener::bind(&cli.server.bind)
                .with_context(|| format!("cannot listen on {}", cli.server.bind))?;
            let settings = settings(&cli.server, &db.url)?;
            let keys = TokenKeys::derive(settings.secret_key.expose().as_bytes());
            let url = db.url.clone();
            let logins = actix_web::web::block(move || seed_demo(&url, &keys)).await??;
            serve(settings, &cli.server.bind, Some(logins)).await
        }
        Command::Migrate => {
            migrated_conn(&db.url)?;
            println!("migrations applied");
            Ok(())
        }
        Command::Org(OrgCommand::Create {
            name,
            cloud,
            subscription_days,
            token_limit,
            daily_quota,
            abuse_threshold,
            show_token,
        }) => {
            let settings = settings(&cli.server, &db.url)?;
            let keys = TokenKeys::derive(settings.secret_key.expose().as_bytes());
            // Checked before connecting: the same bound and message as the web form.
            let subscription = subscription_days
                .map(service::orgs::subscription_days)
                .transpose()
                .map_err(cli_error)?;
            let mut conn = migrated_conn(&db.url)?;
            db::check_secret_key(&mut conn, &keys)?;
            let new = NewOrg {
                name: &name,
                cloud: &cloud,
                subscription_expires_at: subscription.map(|d| chrono::Utc::now() + d),
                token_limit,
                daily_quota,
                abuse_threshold,
            };
            let (org, token) = service::orgs::provision(&mut conn, &keys, &Actor::cli(), &new)
                .map_err(cli_error)?;
            println!("{}", org.id);
            if let (true, Some(token)) = (show_token, token) {
                // A reveal like any other: audited (R3), through the CLI (R13).
                let (_, value) = service::tokens::reveal(
                    &mut conn,
                    &keys,
                    &Actor::cli(),
                    org.id,
                    token.id,
                    "cli",
                )
                .map_err(cli_error)?;
                println!("{}", value.expose());
            } else if show_token {
                eprintln!("no token: an organization without a subscription gets none (R2)");
            }
            Ok(())
        }
        Command::Audit(AuditCommand::Verify) => {
            let mut conn = migrated_conn(&db.url)?;
            match db::audit::verify(&mut conn)? {
                None => {
                    println!(
                        "audit trail intact: {} events verified",
                        db::audit::count(&mut conn)?
                    );
                    Ok(())
                }
                Some(b) => {
                    let org = b.org_id.map_or("none".to_owned(), |o| o.to_string());
                    let seq = b.chain_seq.map_or("?".to_owned(), |s| s.to_string());
                    println!(
                        "broken link at audit event {} (org {org}, position {seq})",
                        b.id
                    );
                    anyhow::bail!("the audit trail has been altered")
                }
            }
        }
        Command::Audit(AuditCommand::Purge) => {
            let days = cli.server.audit_retention_days;
            let mut conn = migrated_conn(&db.url)?;
            let n = db::audit::purge_older_than(&mut conn, days)?;
            println!("purged {n} audit events older than {days} days");
            let days = cli.server.submission_retention_days;
            let p = db::retention::purge_older_than(&mut conn, days)?;
            println!(
                "purged {} submissions, {} org usage days and {} token usage days older than \
                 {days} days",
                p.submissions, p.org_days, p.token_days
            );
            Ok(())
        }
        Command::User(UserCommand::Disable { username }) => {
            let mut conn = migrated_conn(&db.url)?;
            service::users::set_disabled(&mut conn, &Actor::cli(), &username, true)
                .map_err(cli_error)?;
            println!("{username} is disabled; their sessions have ended");
            Ok(())
        }
        Command::User(UserCommand::Enable { username }) => {
            let mut conn = migrated_conn(&db.url)?;
            service::users::set_disabled(&mut conn, &Actor::cli(), &username, false)
                .map_err(cli_error)?;
            println!("{username} is enabled");
            Ok(())
        }
        Command::User(UserCommand::SetRole {
            username,
            role,
            orgs,
        }) => {
            let mut conn = migrated_conn(&db.url)?;
            let orgs = (!orgs.is_empty()).then_some(orgs.as_slice());
            service::users::change_role(&mut conn, &Actor::cli(), &username, role, orgs)
                .map_err(cli_error)?;
            println!("{username} is now {role}; their sessions have ended");
            Ok(())
        }
        Command::User(UserCommand::SetPassword { username }) => {
            let password = new_password(&username)?;
            let mut conn = migrated_conn(&db.url)?;
            service::users::set_password(&mut conn, &Actor::cli(), &username, &password)
                .map_err(cli_error)?;
            println!("{username} has a new password; their sessions have ended");
            Ok(())
        }
        Command::User(UserCommand::Create {
            username,
            role,
            orgs,
        }) => {
            let password = new_password(&username)?;
            let mut conn = migrated_conn(&db.url)?;
            let user =
                service::users::create(&mut conn, &Actor::cli(), &username, &password, role, &orgs)
                    .map_err(cli_error)?;
            println!("{}", user.id);
            Ok(())
        }
    }
}

async fn serve(
    settings: Settings,
    bind: &str,
    logins: Option<Vec<(String, Role, String)>>,
) -> anyhow::Result<()> {
    let public_url = settings.public_url.clone();
    let app = Application::build(settings).await?;
    let url = public_url
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| format!("http://{}:{}", host_of(bind), app.port()));
    println!("\nSandbox Portal is running at {url}/login");
    if let Some(logins) = logins {
        println!("\nDemo logins (passwords are new on every `demo` run):");
        for (user, role, pw) in logins {
            println!("  {user:<10} {pw}   ({})", role.label());
        }
        println!();
    }
    app.run_until_stopped().await?;
    Ok(())
}

fn host_of(bind: &str) -> String {
    match bind.rsplit_once(':') {
        Some(("0.0.0.0", _)) | Some(("[::]", _)) => "127.0.0.1".into(),
        Some((host, _)) => host.into(),
        None => bind.into(),
    }
}

/// Refusals print their message; faults keep their cause, since the CLI has no log to point to.
fn cli_error(e: crate::error::AppError) -> anyhow::Error {
    match e {
        crate::error::AppError::Internal(cause) => cause,
        refused => anyhow::anyhow!("{}", refused.message()),
    }
}

pub const DEMO_ORG: &str = "Acme Corp";

/// SANDBOX_PORTAL_PASSWORD, else standard input: a person at a terminal types the password
/// unseen, twice (a typo nobody saw would lock the account out); a pipe gives its first line.
fn new_password(username: &str) -> anyhow::Result<String> {
    use std::io::IsTerminal;
    if let Ok(password) = std::env::var("SANDBOX_PORTAL_PASSWORD") {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let password = line.trim_end_matches(['\r', '\n']);
        // Nothing piped in (`</dev/null`, a script that forgot to) is a missing password, not
        // a short one.
        anyhow::ensure!(
            !password.is_empty(),
            "no password was given: set SANDBOX_PORTAL_PASSWORD, or send the password as the \
             first line of standard input"
        );
        return Ok(password.to_owned());
    }
    let first = rpassword::prompt_password(format!("Password for {username}: "))?;
    let again = rpassword::prompt_password("The same password again: ")?;
    anyhow::ensure!(
        first == again,
        "the two passwords differ; nothing was created"
    );
    Ok(first)
}

/// Idempotent: the demo orgs and users are created once; each run gives the demo users fresh
/// random passwords so they can be printed (no fixed demo secrets).
pub fn seed_demo(url: &str, keys: &TokenKeys) -> anyhow::Result<Vec<(String, Role, String)>> {
    use diesel::prelude::*;
    let mut conn = migrated_conn(url)?;
    db::check_secret_key(&mut conn, keys)?;
    let actor = Actor::cli();
    let org_for = |name: &str, cloud: &str, conn: &mut PgConnection| -> anyhow::Result<Uuid> {
        if let Some(org) = db::orgs::find_by_name(conn, name)? {
            return Ok(org.id);
        }
        let new = NewOrg {
            name,
            cloud,
            subscription_expires_at: Some(chrono::Utc::now() + chrono::Duration::days(365)),
            token_limit: db::orgs::DEFAULT_TOKEN_LIMIT,
            daily_quota: db::orgs::DEFAULT_DAILY_QUOTA,
            abuse_threshold: db::orgs::DEFAULT_ABUSE_THRESHOLD,
        };
        let (org, _) = service::orgs::provision(conn, keys, &actor, &new).map_err(cli_error)?;
        Ok(org.id)
    };
    let acme = org_for(DEMO_ORG, "zscalerbeta.net", &mut conn)?;
    let globex = org_for("Globex Industries", "zscaler.net", &mut conn)?;
    let users: [(&str, Role, Vec<Uuid>); 5] = [
        ("admin", Role::OrgAdmin, vec![acme]),
        ("viewer", Role::OrgViewer, vec![acme]),
        ("connector", Role::ConnectorAdmin, vec![acme]),
        ("partner", Role::PartnerViewer, vec![acme, globex]),
        ("support", Role::Support, vec![]),
    ];
    let mut logins = Vec::new();
    for (name, role, orgs) in users {
        let password = crate::auth::csrf::new_token()[..16].to_owned();
        match db::users::find_by_username(&mut conn, name)? {
            Some(_) => {
                service::users::set_password(&mut conn, &actor, name, &password)
                    .map_err(cli_error)?;
            }
            None => {
                service::users::create(&mut conn, &actor, name, &password, role, &orgs)
                    .map_err(cli_error)?;
            }
        }
        logins.push((name.to_owned(), role, password));
    }
    Ok(logins)
}
