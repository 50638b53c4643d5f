//! A private, throwaway PostgreSQL cluster for when `DATABASE_URL` is not set (`demo`, `serve`,
//! the tests).
//!
//! The server runs in the foreground as our child, listens on a Unix socket in its own directory
//! only, and is tied to our lifetime with `setpriv --pdeathsig INT`, so it shuts down even when
//! we are killed or a static holding it is never dropped.
use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, anyhow, bail, ensure};

/// Fixed because the socket lives in a directory of its own; passed explicitly everywhere so a
/// PGPORT in the environment cannot redirect us.
const PORT: u16 = 5432;
const SOCKET_NAME: &str = ".s.PGSQL.5432";
/// `sizeof(sockaddr_un.sun_path)` is 108 on Linux, including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Covers initdb plus a slow start by another process before we give up waiting for its lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(90);
const SERVER_USER: &str = "postgres";
const INSTALL_HINT: &str = "PostgreSQL server binaries (initdb, postgres) not found: install them \
     with `apt-get install -y --no-install-recommends postgresql` (Debian), or set DATABASE_URL \
     to an existing server";

pub struct PrivateCluster {
    dir: PathBuf,
    /// `None` when we reused a server some other process (or earlier start) owns.
    server: Option<Server>,
}

struct Server {
    pid: u32,
    exit: Arc<ExitSignal>,
}

impl PrivateCluster {
    /// Starts, or reuses if one is already running there, a cluster whose data lives in `dir`
    /// (created if missing). Listens on a Unix socket inside `dir` only (`listen_addresses=''`).
    pub fn start(dir: &Path) -> Result<PrivateCluster> {
        Self::start_with(dir, true)
    }

    /// For test suites: the same, but without fsync and full-page writes, which a throwaway
    /// cluster does not need.
    pub fn start_throwaway(dir: &Path) -> Result<PrivateCluster> {
        Self::start_with(dir, false)
    }

    fn start_with(dir: &Path, durable: bool) -> Result<PrivateCluster> {
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
        // Nobody else on the machine may reach the socket (trust authentication inside).
        fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .with_context(|| format!("could not restrict {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("could not resolve {}", dir.display()))?;
        let socket = dir.join(SOCKET_NAME);
        ensure!(
            socket.as_os_str().len() <= MAX_SOCKET_PATH,
            "the PostgreSQL socket path {} is {} bytes, over the Unix limit of {MAX_SOCKET_PATH}: \
             use a shorter directory for the private cluster",
            socket.display(),
            socket.as_os_str().len()
        );
        // libpq splits a host on commas (a list of hosts) with no escape, and we quote the entry
        // in postgres's comma-separated unix_socket_directories.
        ensure!(
            !dir.as_os_str()
                .as_bytes()
                .iter()
                .any(|b| b",\"".contains(b)),
            "the private cluster directory {} must not contain a comma or a double quote",
            dir.display()
        );
        let bins = Binaries::find()?;
        let as_root = effective_uid()? == 0;

        // Parallel test processes share one directory: only one of them may initdb or start.
        let _lock = StartLock::acquire(&dir)?;
        let data = dir.join("data");
        if data.join("postmaster.pid").exists() {
            if wait_for_existing(&bins, &dir, &data)? {
                tracing::info!(dir = %dir.display(), "reusing running private PostgreSQL cluster");
                return Ok(PrivateCluster { dir, server: None });
            }
            remove_stale_files(&dir, &data)?;
        }

        let log_path = dir.join("postgres.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("could not open {}", log_path.display()))?;
        let log_start = log.metadata().map_or(0, |m| m.len());
        if as_root {
            // initdb and postgres refuse to run as root, so the postgres user must own the tree.
            run(
                Command::new("chown")
                    .arg("-R")
                    .arg(format!("{SERVER_USER}:{SERVER_USER}"))
                    .arg(&dir),
                "chown the private cluster directory to the postgres user",
            )?;
            run(
                as_user(true, None, Path::new("test"))
                    .arg("-w")
                    .arg(&dir)
                    .args(["-a", "-x"])
                    .arg(&dir),
                &format!(
                    "use {} as the {SERVER_USER} user (can it reach that directory? check the \
                     permissions of its parents)",
                    dir.display()
                ),
            )?;
        }
        if !data.join("PG_VERSION").exists() {
            init_data_dir(&bins, as_root, &dir, &data)?;
        }

        let mut socket_dirs = OsString::from("unix_socket_directories=\"");
        socket_dirs.push(&dir);
        socket_dirs.push("\"");
        let mut cmd = as_user(as_root, Some("INT"), &bins.postgres);
        cmd.arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(PORT.to_string())
            .arg("-c")
            .arg(socket_dirs)
            .args([
                "-c",
                "listen_addresses=",
                "-c",
                "unix_socket_permissions=0700",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=128MB",
            ])
            .args(if durable {
                &[][..]
            } else {
                &[
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ][..]
            })
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(
                log.try_clone()
                    .context("could not duplicate the log file handle")?,
            )
            .stderr(log)
            // Keeps a terminal's Ctrl-C away from the server: it goes when we go, via pdeathsig,
            // not while we are still shutting down and using it.
            .process_group(0);

        let exit = Arc::new(ExitSignal::default());
        let (pid_tx, pid_rx) = mpsc::channel();
        let thread_exit = Arc::clone(&exit);
        // PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, so a thread that
        // lives exactly as long as the server forks and reaps it.
        std::thread::Builder::new()
            .name("pgcluster".into())
            .spawn(move || match cmd.spawn() {
                Err(e) => {
                    let _ = pid_tx.send(Err(e));
                }
                Ok(mut child) => {
                    let _ = pid_tx.send(Ok(child.id()));
                    let status = match child.wait() {
                        Ok(status) => status.to_string(),
                        Err(e) => format!("could not be waited for: {e}"),
                    };
                    // Said at once: every request needing the database fails from now on, and
                    // nothing else would say why.
                    if thread_exit
                        .started
                        .load(std::sync::atomic::Ordering::SeqCst)
                        && !thread_exit
                            .stopping
                            .load(std::sync::atomic::Ordering::SeqCst)
                    {
                        tracing::error!(%status, "the private PostgreSQL server exited unexpectedly; restart the portal");
                    }
                    thread_exit.set(status);
                }
            })
            .context("could not spawn the thread that runs postgres")?;
        let pid = pid_rx
            .recv()
            .context("the thread that runs postgres ended early")?
            .context("could not run setpriv (util-linux) to start postgres")?;

        // From here on, dropping `cluster` on an error path stops the half-started server.
        let cluster = PrivateCluster {
            dir,
            server: Some(Server {
                pid,
                exit: Arc::clone(&exit),
            }),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut delay = Duration::from_millis(10);
        loop {
            // Doubles as the poll interval, and returns at once if the server dies.
            if let Some(status) = exit.wait(delay) {
                bail!(
                    "postgres exited during startup ({status}); {} ends with:\n{}",
                    log_path.display(),
                    log_tail(&log_path, log_start)
                );
            }
            if is_ready(&bins, &cluster.dir, &data) {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "postgres did not accept connections within {} s; {} ends with:\n{}",
                    READY_TIMEOUT.as_secs(),
                    log_path.display(),
                    log_tail(&log_path, log_start)
                );
            }
            delay = (delay * 2).min(Duration::from_millis(200));
        }
        exit.started
            .store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!(dir = %cluster.dir.display(), pid, "started private PostgreSQL cluster");
        Ok(cluster)
    }

    /// libpq/diesel URL for a database on this cluster, user postgres.
    ///
    /// The authority is left empty and everything goes in the query, because the `url` crate
    /// (used to rewrite the database name) rejects `postgres://user@/db`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres:///{}?host={}&port={PORT}&user={SERVER_USER}",
            percent_encode(database.as_bytes(), b""),
            percent_encode(self.dir.as_os_str().as_bytes(), b"/"),
        )
    }

    /// Stops the server if this process started it (fast shutdown), waits for it to exit.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(server) = self.server.take() else {
            return;
        };
        server
            .exit
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if server.exit.status().is_none() {
            signal(server.pid, "INT");
            if server.exit.wait(STOP_TIMEOUT).is_none() {
                tracing::warn!(
                    pid = server.pid,
                    "postgres ignored a fast shutdown for {} s; sending an immediate shutdown",
                    STOP_TIMEOUT.as_secs()
                );
                signal(server.pid, "QUIT");
                if server.exit.wait(STOP_TIMEOUT).is_none() {
                    signal(server.pid, "KILL");
                    let _ = server.exit.wait(STOP_TIMEOUT);
                }
            }
        }
        match server.exit.status() {
            Some(_) => {
                tracing::info!(dir = %self.dir.display(), "stopped private PostgreSQL cluster")
            }
            None => {
                tracing::warn!(dir = %self.dir.display(), pid = server.pid, "the private PostgreSQL cluster did not stop")
            }
        }
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Set once by the thread that reaps postgres; waited on by start (early death) and stop.
#[derive(Default)]
struct ExitSignal {
    status: Mutex<Option<String>>,
    changed: Condvar,
    /// It was up and serving: only then is an exit news (a failed start says why itself).
    started: std::sync::atomic::AtomicBool,
    /// We asked it to stop: its exit is expected, not news.
    stopping: std::sync::atomic::AtomicBool,
}

impl ExitSignal {
    fn set(&self, status: String) {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
        self.changed.notify_all();
    }

    fn status(&self) -> Option<String> {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The exit status, waiting up to `timeout` for one.
    fn wait(&self, timeout: Duration) -> Option<String> {
        let guard = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |status| status.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        guard.clone()
    }
}

struct Binaries {
    initdb: PathBuf,
    postgres: PathBuf,
    pg_isready: Option<PathBuf>,
}

impl Binaries {
    fn find() -> Result<Binaries> {
        let bindir = pg_config_bindir()
            .filter(|dir| has_server(dir))
            .or_else(highest_packaged_bindir);
        let (initdb, postgres) = match bindir {
            Some(dir) => (dir.join("initdb"), dir.join("postgres")),
            None => match (on_path("initdb"), on_path("postgres")) {
                (Some(initdb), Some(postgres)) => (initdb, postgres),
                _ => return Err(anyhow!(INSTALL_HINT)),
            },
        };
        // Debian's /usr/bin/pg_isready is a wrapper that may pick another version; prefer the
        // one next to the server.
        let pg_isready = postgres
            .parent()
            .map(|dir| dir.join("pg_isready"))
            .filter(|path| path.is_file())
            .or_else(|| on_path("pg_isready"));
        Ok(Binaries {
            initdb,
            postgres,
            pg_isready,
        })
    }
}

/// `pg_config` may come from libpq-dev of a version whose server is not installed, hence the
/// caller checks the directory really holds a server.
fn pg_config_bindir() -> Option<PathBuf> {
    let out = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?;
    Some(PathBuf::from(dir.trim()))
}

fn highest_packaged_bindir() -> Option<PathBuf> {
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = parse_version(entry.file_name().to_str()?)?;
            let bindir = entry.path().join("bin");
            has_server(&bindir).then_some((version, bindir))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bindir)| bindir)
}

/// "9.6" and "15" both occur; compared numerically so that 10 beats 9.6.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// /proc first, because it needs no helper process; `id -u` for systems without it.
pub fn effective_uid() -> Result<u32> {
    if let Ok(status) = fs::read_to_string("/proc/self/status") {
        let euid = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|euid| euid.parse().ok());
        if let Some(euid) = euid {
            return Ok(euid);
        }
    }
    let out = Command::new("id")
        .arg("-u")
        .output()
        .context("could not run `id -u` to find out whether we are root")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("`id -u` printed something other than a number")
}

/// A command for `program`, run through setpriv when it must drop root or die with us.
fn as_user(as_root: bool, pdeathsig: Option<&str>, program: &Path) -> Command {
    if !as_root && pdeathsig.is_none() {
        return Command::new(program);
    }
    let mut cmd = Command::new("setpriv");
    if let Some(sig) = pdeathsig {
        cmd.arg("--pdeathsig").arg(sig);
    }
    if as_root {
        cmd.arg(format!("--reuid={SERVER_USER}"))
            .arg(format!("--regid={SERVER_USER}"))
            .arg("--init-groups");
    }
    cmd.arg("--").arg(program);
    cmd
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not {what}: failed to run {:?}", cmd.get_program()))?;
    ensure!(
        out.status.success(),
        "could not {what} ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

const UNICODE_CTYPE: &str = "C.UTF-8";

/// initdb into a side directory and rename it into place, so a run killed half-way through
/// never leaves a `data` that looks initialised (`PG_VERSION` is written early) but is not.
fn init_data_dir(bins: &Binaries, as_root: bool, dir: &Path, data: &Path) -> Result<()> {
    let scratch = dir.join("data.initdb");
    for leftover in [scratch.as_path(), data] {
        if leftover.exists() {
            fs::remove_dir_all(leftover)
                .with_context(|| format!("could not remove {}", leftover.display()))?;
        }
    }
    let initdb = |ctype: Option<&str>| {
        // TERM: an initdb orphaned by our death would race the next start over data.initdb.
        let mut cmd = as_user(as_root, Some("TERM"), &bins.initdb);
        cmd.arg("-D").arg(&scratch).args([
            "-A",
            "trust",
            "-U",
            SERVER_USER,
            "--no-sync",
            "--no-locale",
            "-E",
            "UTF8",
        ]);
        if let Some(ctype) = ctype {
            cmd.arg(format!("--lc-ctype={ctype}"));
        }
        // initdb resolves its own path relative to the working directory, which must be
        // readable by the postgres user.
        run(
            cmd.current_dir(dir),
            "initialise the private PostgreSQL cluster (initdb)",
        )
    };
    // lower() follows LC_CTYPE: under C it folds ASCII letters only, so the case-insensitive
    // org search and unique names would tell "Ørsted" from "ørsted". C.UTF-8 folds all of
    // Unicode and keeps C's byte-order collation. Without that locale the cluster still works,
    // folding ASCII only.
    if let Err(e) = initdb(Some(UNICODE_CTYPE)) {
        // Only a missing locale is worth another try; a full disk or a permission is not.
        if !format!("{e:#}").contains("locale") {
            return Err(e);
        }
        tracing::warn!(error = %e, "no {UNICODE_CTYPE} locale: the private cluster folds the case of ASCII letters only");
        if scratch.exists() {
            fs::remove_dir_all(&scratch)
                .with_context(|| format!("could not remove {}", scratch.display()))?;
        }
        initdb(None)?;
    }
    fs::rename(&scratch, data)
        .with_context(|| format!("could not move {} to {}", scratch.display(), data.display()))?;
    Ok(())
}

/// For a data directory with a postmaster.pid: true when a server answers (reuse it), false
/// when the pid file is stale. Waits while its own postmaster is still starting or stopping.
fn wait_for_existing(bins: &Binaries, dir: &Path, data: &Path) -> Result<bool> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last_pid = None;
    loop {
        if is_ready(bins, dir, data) {
            return Ok(true);
        }
        // A server shutting down drops its pid file a moment before it exits and releases the
        // socket lock, so keep following the pid we saw.
        let Some(pid) = postmaster_pid(data).or(last_pid) else {
            return Ok(false);
        };
        if !is_postmaster_of(pid, data) {
            return Ok(false);
        }
        last_pid = Some(pid);
        if Instant::now() >= deadline {
            bail!(
                "postgres (pid {pid}) runs on {} but has not accepted connections for {} s; \
                 stop it or remove that directory",
                data.display(),
                READY_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn postmaster_pid(data: &Path) -> Option<u32> {
    let pidfile = fs::read_to_string(data.join("postmaster.pid")).ok()?;
    pidfile.lines().next()?.trim().parse().ok()
}

/// Compares the command line, because after a container restart the recorded pid often belongs
/// to an unrelated process, which would make postgres refuse to start.
fn is_postmaster_of(pid: u32, data: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let data = data.as_os_str().as_bytes();
    cmdline.split(|&b| b == 0).any(|arg| arg == data)
}

/// Postgres would keep refusing to start over a pid file or socket lock whose pid was reused.
fn remove_stale_files(dir: &Path, data: &Path) -> Result<()> {
    tracing::info!(dir = %dir.display(), "removing stale PostgreSQL pid file left by a crash");
    for stale in [
        data.join("postmaster.pid"),
        dir.join(format!("{SOCKET_NAME}.lock")),
        dir.join(SOCKET_NAME),
    ] {
        match fs::remove_file(&stale) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("could not remove {}", stale.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether the server accepts connections, not merely whether its socket exists: it answers
/// "the database system is starting up" for a while.
fn is_ready(bins: &Binaries, dir: &Path, data: &Path) -> bool {
    match &bins.pg_isready {
        Some(pg_isready) => Command::new(pg_isready)
            .arg("-q")
            .arg("-h")
            .arg(dir)
            .arg("-p")
            .arg(PORT.to_string())
            .args(["-U", SERVER_USER, "-d", "postgres", "-t", "2"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success()),
        // Line 8 of postmaster.pid is the postmaster's state since PostgreSQL 10.
        None => {
            let state = fs::read_to_string(data.join("postmaster.pid"))
                .ok()
                .and_then(|pidfile| pidfile.lines().nth(7).map(|s| s.trim().to_owned()));
            state.as_deref() == Some("ready") && UnixStream::connect(dir.join(SOCKET_NAME)).is_ok()
        }
    }
}

/// std has no safe way to send a signal other than SIGKILL to a child, and the crate forbids
/// unsafe, so use kill(1).
fn signal(pid: u32, sig: &str) {
    let result = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !result.as_ref().is_ok_and(|status| status.success()) {
        tracing::warn!(pid, sig, ?result, "could not signal postgres");
    }
}

/// The last lines this run wrote to postgres.log, for error messages.
fn log_tail(path: &Path, from: u64) -> String {
    const MAX: u64 = 4096;
    let mut text = String::new();
    let read = fs::File::open(path).and_then(|mut file| {
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(from.max(len.saturating_sub(MAX))))?;
        file.read_to_string(&mut text)
    });
    match read {
        Ok(_) if text.trim().is_empty() => "(nothing)".to_owned(),
        Ok(_) => text,
        Err(e) => format!("(could not read it: {e})"),
    }
}

/// Serialises starts across processes (parallel test binaries share one directory) without
/// flock, which std only has since Rust 1.89. A lock whose holder died is taken over.
struct StartLock {
    path: PathBuf,
}

impl StartLock {
    fn acquire(dir: &Path) -> Result<StartLock> {
        let path = dir.join("start.lock");
        let deadline = Instant::now() + LOCK_TIMEOUT;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    let written = writeln!(file, "{}", std::process::id());
                    let lock = StartLock { path };
                    written.with_context(|| format!("could not write {}", lock.path.display()))?;
                    return Ok(lock);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("could not create {}", path.display()));
                }
            }
            if Self::is_abandoned(&path) {
                // Losing this race to another process is fine: create_new decides the winner.
                let _ = fs::remove_file(&path);
                continue;
            }
            if Instant::now() >= deadline {
                bail!(
                    "another process has been starting the private PostgreSQL cluster for {} s \
                     (lock file {})",
                    LOCK_TIMEOUT.as_secs(),
                    path.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn is_abandoned(path: &Path) -> bool {
        match fs::read_to_string(path) {
            Ok(text) => match text.trim().parse::<u32>() {
                Ok(pid) => !Path::new(&format!("/proc/{pid}")).exists(),
                // The holder may be between creating the file and writing its pid.
                Err(_) => fs::metadata(path)
                    .and_then(|meta| meta.modified())
                    .ok()
                    .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                    .is_some_and(|age| age > Duration::from_secs(5)),
            },
            Err(_) => false,
        }
    }
}

impl Drop for StartLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Percent-encodes all but unreserved characters and those in `keep`.
fn percent_encode(bytes: &[u8], keep: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encodes_host_and_database() {
        let cluster = PrivateCluster {
            dir: PathBuf::from("/tmp/my dir/pg"),
            server: None,
        };
        assert_eq!(
            cluster.url("a/b"),
            "postgres:///a%2Fb?host=/tmp/my%20dir/pg&port=5432&user=postgres"
        );
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(parse_version("10") > parse_version("9.6"));
        assert_eq!(parse_version("main"), None);
    }
}
