//! The token gate: every known token digest in memory, so that malformed, unknown, disabled and
//! expired tokens are refused without touching the database. It is only a fast path for
//! refusals: an accepted call is re-checked against the database by the writer, in the
//! transaction that records it, so a stale gate can never let a revoked value through.
//!
//! Kept current by LISTEN on `db::notify::CHANNEL` over a dedicated connection; when that
//! connection drops, the whole gate is reloaded once it is back.
//!
//! A notification arrives a few milliseconds after its commit, and the instance that made the
//! change hears of it no sooner than the others. So a refusal from memory may be confirmed
//! against the database (`recheck`) before it is sent: a value that an add or a regenerate has
//! just returned works at once on every instance, and so does a renewed or re-enabled token.
//! These reads are rate-limited, so a flood of unknown values still never reaches the database
//! beyond a trickle.
use crate::db::notify::CHANNEL;
use crate::db::schema::{organizations as o, sandbox_api_tokens as t};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub struct TokenEntry {
    pub token_id: Uuid,
    pub org_id: Uuid,
    pub disabled: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct OrgEntry {
    pub subscription_expires_at: Option<DateTime<Utc>>,
    pub api_disabled: bool,
}

#[derive(Default)]
struct Tables {
    tokens: HashMap<[u8; 32], TokenEntry>,
    orgs: HashMap<Uuid, OrgEntry>,
}

/// A token and its org as `recheck` reads them: token id, org id, token disabled, subscription
/// end, org disabled.
type FoundToken = (Uuid, Uuid, bool, Option<DateTime<Utc>>, bool);

/// The one confirmation under way (see `TokenGate::begin_recheck`); ends when dropped.
pub struct RecheckSlot {
    gate: Arc<TokenGate>,
}

impl Drop for RecheckSlot {
    fn drop(&mut self) {
        self.gate.rechecking.store(false, Ordering::Release);
    }
}

/// What the gate says about a presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Unknown,
    Disabled { org_id: Uuid },
    Expired { org_id: Uuid },
    Pass { token_id: Uuid, org_id: Uuid },
}

/// Refusals from memory confirmed against the database, per second and instance (and at once).
/// Legitimate rechecks follow an add, a regenerate, a renewal or a re-enable, which are rare;
/// a flood of unknown values spends the allowance and is then refused from memory alone.
const RECHECKS_PER_SECOND: NonZeroU32 = NonZeroU32::new(10).unwrap();

pub struct TokenGate {
    tables: RwLock<Tables>,
    /// Held from a read of the database until its result is applied, so that a read taken
    /// later is never overwritten by one taken earlier.
    apply: Mutex<()>,
    rechecks: governor::DefaultDirectRateLimiter,
    rechecking: AtomicBool,
    stop: AtomicBool,
    listening: AtomicBool,
    /// Bumped on every (re)load: lets tests and operators see the listener at work.
    reloads: AtomicU64,
    rechecked: AtomicU64,
}

impl TokenGate {
    pub fn check(&self, digest: &[u8; 32], now: DateTime<Utc>) -> Verdict {
        let tables = match self.tables.read() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(entry) = tables.tokens.get(digest) else {
            return Verdict::Unknown;
        };
        let org = tables.orgs.get(&entry.org_id);
        let org_id = entry.org_id;
        if entry.disabled || org.is_some_and(|o| o.api_disabled) {
            return Verdict::Disabled { org_id };
        }
        match org.and_then(|o| o.subscription_expires_at) {
            Some(t) if t > now => Verdict::Pass {
                token_id: entry.token_id,
                org_id,
            },
            _ => Verdict::Expired { org_id },
        }
    }

    /// Leave to confirm a refusal from memory against the database now: None while another
    /// confirmation is under way or the allowance is spent. One at a time, so that a flood
    /// never queues for connections or threads however the allowance behaves.
    pub fn begin_recheck(self: &Arc<Self>) -> Option<RecheckSlot> {
        if self.rechecking.swap(true, Ordering::AcqRel) {
            return None;
        }
        let slot = RecheckSlot { gate: self.clone() };
        self.rechecks.check().is_ok().then_some(slot)
    }

    /// Reads the token with this digest (and its org) from the database into the gate, then
    /// checks again. A digest the database no longer knows leaves the gate.
    pub fn recheck(
        &self,
        conn: &mut PgConnection,
        digest: &[u8; 32],
        now: DateTime<Utc>,
    ) -> QueryResult<Verdict> {
        let order = self.apply_order();
        let found: Option<FoundToken> = t::table
            .inner_join(o::table)
            .filter(t::value_digest.eq(digest.as_slice()))
            .select((
                t::id,
                t::org_id,
                t::disabled_at.is_not_null(),
                o::subscription_expires_at,
                o::api_disabled_at.is_not_null(),
            ))
            .first(conn)
            .optional()?;
        let mut tables = self.write();
        match found {
            Some((token_id, org_id, disabled, subscription_expires_at, api_disabled)) => {
                tables.tokens.insert(
                    *digest,
                    TokenEntry {
                        token_id,
                        org_id,
                        disabled,
                    },
                );
                tables.orgs.insert(
                    org_id,
                    OrgEntry {
                        subscription_expires_at,
                        api_disabled,
                    },
                );
            }
            None => {
                tables.tokens.remove(digest);
            }
        }
        drop(tables);
        drop(order);
        self.rechecked.fetch_add(1, Ordering::Relaxed);
        Ok(self.check(digest, now))
    }

    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// How many refusals were confirmed against the database.
    pub fn rechecked(&self) -> u64 {
        self.rechecked.load(Ordering::Relaxed)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// False once the listener has stopped (after `stop()`): the gate then changes only through
    /// `recheck`.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    fn apply_order(&self) -> MutexGuard<'_, ()> {
        match self.apply.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Tables> {
        match self.tables.write() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Replaces everything: at start and after the listener reconnects (notifications may have
    /// been missed meanwhile).
    fn reload_all(&self, conn: &mut PgConnection) -> QueryResult<()> {
        let _order = self.apply_order();
        let tokens = load_tokens(conn, None)?;
        let orgs = load_orgs(conn, None)?;
        let mut tables = self.write();
        tables.tokens = tokens.into_iter().collect();
        tables.orgs = orgs.into_iter().collect();
        self.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn reload_org(&self, conn: &mut PgConnection, org_id: Uuid) -> QueryResult<()> {
        let _order = self.apply_order();
        let tokens = load_tokens(conn, Some(org_id))?;
        let orgs = load_orgs(conn, Some(org_id))?;
        let mut tables = self.write();
        tables.tokens.retain(|_, e| e.org_id != org_id);
        tables.tokens.extend(tokens);
        tables.orgs.remove(&org_id);
        tables.orgs.extend(orgs);
        self.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn load_tokens(
    conn: &mut PgConnection,
    org: Option<Uuid>,
) -> QueryResult<Vec<([u8; 32], TokenEntry)>> {
    let mut q = t::table
        .select((
            t::value_digest,
            t::id,
            t::org_id,
            t::disabled_at.is_not_null(),
        ))
        .into_boxed();
    if let Some(org) = org {
        q = q.filter(t::org_id.eq(org));
    }
    let rows: Vec<(Vec<u8>, Uuid, Uuid, bool)> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(digest, token_id, org_id, disabled)| {
            let digest: [u8; 32] = digest.try_into().ok()?;
            Some((
                digest,
                TokenEntry {
                    token_id,
                    org_id,
                    disabled,
                },
            ))
        })
        .collect())
}

fn load_orgs(conn: &mut PgConnection, org: Option<Uuid>) -> QueryResult<Vec<(Uuid, OrgEntry)>> {
    let mut q = o::table
        .select((
            o::id,
            o::subscription_expires_at,
            o::api_disabled_at.is_not_null(),
        ))
        .into_boxed();
    if let Some(org) = org {
        q = q.filter(o::id.eq(org));
    }
    let rows: Vec<(Uuid, Option<DateTime<Utc>>, bool)> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, subscription_expires_at, api_disabled)| {
            (
                id,
                OrgEntry {
                    subscription_expires_at,
                    api_disabled,
                },
            )
        })
        .collect())
}

/// Application name of the listener's connection, so operators (and a test) can find it.
pub const LISTENER_APP_NAME: &str = "sandbox-portal-gate-listener";

/// Loads the gate, then keeps it current from a dedicated thread until `stop()`.
pub fn start(database_url: &str) -> anyhow::Result<Arc<TokenGate>> {
    let gate = Arc::new(TokenGate {
        tables: RwLock::new(Tables::default()),
        apply: Mutex::new(()),
        rechecks: governor::RateLimiter::direct(governor::Quota::per_second(RECHECKS_PER_SECOND)),
        rechecking: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        listening: AtomicBool::new(true),
        reloads: AtomicU64::new(0),
        rechecked: AtomicU64::new(0),
    });
    let url = listener_url(database_url)?;
    let mut conn = connect(&url)?;
    gate.reload_all(&mut conn)?;
    let g = gate.clone();
    std::thread::Builder::new()
        .name("token-gate".into())
        .spawn(move || {
            listen_forever(&g, &url, Some(conn));
            g.listening.store(false, Ordering::Relaxed);
        })?;
    Ok(gate)
}

fn listener_url(database_url: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(database_url)?;
    // Over TCP, a peer that vanished without a word (half-open connection) would otherwise block
    // the ping or a reload for the kernel's default of many minutes, while new values got 401
    // and renewals kept getting 403 on this instance. libpq ignores these on a Unix socket.
    url.query_pairs_mut()
        .append_pair("application_name", LISTENER_APP_NAME)
        .append_pair("connect_timeout", "5")
        .append_pair("keepalives", "1")
        .append_pair("keepalives_idle", "10")
        .append_pair("keepalives_interval", "5")
        .append_pair("keepalives_count", "3")
        .append_pair("tcp_user_timeout", "15000");
    Ok(url.to_string())
}

fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let mut conn = PgConnection::establish(url)?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn)?;
    Ok(conn)
}

/// How often pending notifications are read. libpq offers no blocking wait through diesel, so
/// the listener polls its socket (a non-blocking read): cheap, and the gate is only a fast path.
const POLL: Duration = Duration::from_millis(2);
/// A cheap round trip now and then notices a connection that died without a word.
const PING_EVERY: u32 = 500;

fn listen_forever(gate: &TokenGate, url: &str, mut conn: Option<PgConnection>) {
    let mut backoff = Duration::from_millis(50);
    let mut ticks: u32 = 0;
    while !gate.stop.load(Ordering::Relaxed) {
        let Some(c) = conn.as_mut() else {
            std::thread::sleep(backoff);
            match connect(url).and_then(|mut c| {
                gate.reload_all(&mut c)?;
                Ok(c)
            }) {
                Ok(c) => {
                    tracing::info!("token gate listener reconnected; gate reloaded");
                    conn = Some(c);
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "token gate listener cannot reconnect yet");
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
            continue;
        };
        let mut orgs = Vec::new();
        let mut failed = false;
        for n in c.notifications_iter() {
            match n {
                Ok(n) => orgs.push(n.payload),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        ticks = ticks.wrapping_add(1);
        if !failed && ticks % PING_EVERY == 0 {
            failed = diesel::sql_query("SELECT 1").execute(c).is_err();
        }
        for payload in orgs {
            let result = match Uuid::parse_str(&payload) {
                Ok(org) => gate.reload_org(c, org),
                Err(_) => gate.reload_all(c),
            };
            if result.is_err() {
                failed = true;
                break;
            }
        }
        if failed {
            tracing::warn!("token gate listener lost its connection; reconnecting");
            conn = None;
            continue;
        }
        std::thread::sleep(POLL);
    }
}
