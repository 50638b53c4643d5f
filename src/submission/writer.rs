//! Group commit for the Submission API. Handlers hand each accepted-looking call to one writer
//! thread per instance; the writer takes everything that is waiting, records it in ONE
//! transaction and answers each caller from the committed totals. Concurrent calls therefore
//! share a commit, and the counts behind R10/R11 stay exact across instances because every
//! writer locks the org rows it touches before reading the day's counters.
use crate::db::audit::{self, Actor, Event};
use crate::db::schema::{organizations as o, sandbox_api_tokens as t};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Bool, Date, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use uuid::Uuid;

pub const THRESHOLD_REASON: &str = "API call threshold exceeded";
const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;
/// Writers per instance. Measured with bench/submission.sh: one writer makes bigger batches and
/// beat two (which mostly wait on the same org lock) at 32 and at 128 connections.
const WRITERS: usize = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Submit,
    Discan,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Submit => "submit",
            Endpoint::Discan => "discan",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Submission {
    pub endpoint: Endpoint,
    pub md5: String,
    pub sha256: String,
    pub size: i64,
    pub file_type: String,
    pub virus_name: Option<String>,
}

struct Pending {
    digest: [u8; 32],
    org_id: Uuid,
    submission: Submission,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// The value matches no token any more (regenerated or deleted).
    Unknown,
    Disabled,
    Expired,
    /// R10: this call crossed (or came after) the org's abuse threshold.
    ThresholdExceeded,
    /// R11
    QuotaExceeded,
    /// The writer could not record the call: nothing was accepted.
    Unavailable,
}

#[derive(Clone)]
pub struct Writer {
    tx: SyncSender<Pending>,
}

impl Writer {
    /// Starts the writer thread with its own connection. It ends when every `Writer` is dropped.
    pub fn start(database_url: &str) -> anyhow::Result<Writer> {
        let (tx, rx) = sync_channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..WRITERS {
            let conn = PgConnection::establish(database_url)?;
            let url = database_url.to_owned();
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("submission-writer-{i}"))
                .spawn(move || run(&rx, conn, &url))?;
        }
        Ok(Writer { tx })
    }

    pub async fn record(&self, digest: [u8; 32], org_id: Uuid, submission: Submission) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            digest,
            org_id,
            submission,
            reply,
        };
        match self.tx.try_send(pending) {
            Ok(()) => answer.await.unwrap_or(Outcome::Unavailable),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Outcome::Unavailable,
        }
    }
}

/// Takes everything waiting (at least one call), or None once every sender is gone.
fn next_batch(rx: &Mutex<Receiver<Pending>>) -> Option<Vec<Pending>> {
    let rx = match rx.lock() {
        Ok(rx) => rx,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut batch = vec![rx.recv().ok()?];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(p) => batch.push(p),
            Err(_) => break,
        }
    }
    Some(batch)
}

fn run(rx: &Mutex<Receiver<Pending>>, conn: PgConnection, url: &str) {
    let mut conn = Some(conn);
    while let Some(batch) = next_batch(rx) {
        if conn.is_none() {
            conn = PgConnection::establish(url).ok();
        }
        let outcomes = match conn.as_mut() {
            Some(c) => match commit(c, &batch, Utc::now()) {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, calls = batch.len(), "submission batch failed");
                    // The connection may be broken; a fresh one is made for the next batch.
                    conn = None;
                    vec![Outcome::Unavailable; batch.len()]
                }
            },
            None => vec![Outcome::Unavailable; batch.len()],
        };
        for (p, outcome) in batch.into_iter().zip(outcomes) {
            let _ = p.reply.send(outcome);
        }
    }
}

#[derive(QueryableByName)]
struct LockedOrg {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    subscription_expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Bool)]
    api_disabled: bool,
    #[diesel(sql_type = Integer)]
    daily_quota: i32,
    #[diesel(sql_type = Integer)]
    abuse_threshold: i32,
    #[diesel(sql_type = Integer)]
    calls: i32,
    #[diesel(sql_type = Integer)]
    submissions: i32,
    #[diesel(sql_type = Integer)]
    threshold_baseline: i32,
}

/// Accepted submissions of a batch, column by column, for one `unnest` insert.
#[derive(Default)]
struct Rows {
    org: Vec<Uuid>,
    token: Vec<Uuid>,
    endpoint: Vec<&'static str>,
    md5: Vec<String>,
    sha256: Vec<String>,
    size: Vec<i64>,
    file_type: Vec<String>,
    virus: Vec<Option<String>>,
}

impl Rows {
    fn push(&mut self, org: Uuid, token: Uuid, s: &Submission) {
        self.org.push(org);
        self.token.push(token);
        self.endpoint.push(s.endpoint.as_str());
        self.md5.push(s.md5.clone());
        self.sha256.push(s.sha256.clone());
        self.size.push(s.size);
        self.file_type.push(s.file_type.clone());
        self.virus.push(s.virus_name.clone());
    }
}

struct OrgState {
    expires_at: Option<DateTime<Utc>>,
    api_disabled: bool,
    daily_quota: i32,
    abuse_threshold: i32,
    calls: i32,
    submissions: i32,
    /// Calls already made today when support last re-enabled the org (R10 counts from there).
    threshold_baseline: i32,
    newly_disabled: bool,
}

#[derive(Default)]
struct TokenUse {
    calls: i32,
    submissions: i32,
}

fn commit(
    conn: &mut PgConnection,
    batch: &[Pending],
    now: DateTime<Utc>,
) -> QueryResult<Vec<Outcome>> {
    let day: NaiveDate = now.date_naive();
    conn.transaction(|conn| {
        // Lock the orgs in a fixed order (no deadlock between instances); regenerate and delete
        // take the same lock, so the token rows read below are the committed truth.
        let org_ids: Vec<Uuid> = batch
            .iter()
            .map(|p| p.org_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // One round trip (migration 3's sandbox_lock_orgs): lock the orgs in a fixed order (no deadlock between writers or
        // instances; regenerate and delete take the same lock) and read today's counters.
        let locked: Vec<LockedOrg> = diesel::sql_query("SELECT * FROM sandbox_lock_orgs($1, $2)")
            .bind::<Array<SqlUuid>, _>(&org_ids)
            .bind::<Date, _>(day)
            .load(conn)?;
        // A separate statement, so that it sees everything committed before the lock was ours.
        let digests: Vec<Vec<u8>> = batch.iter().map(|p| p.digest.to_vec()).collect();
        let tokens: HashMap<Vec<u8>, (Uuid, Uuid, bool)> = t::table
            .filter(t::value_digest.eq_any(&digests))
            .select((
                t::value_digest,
                t::id,
                t::org_id,
                t::disabled_at.is_not_null(),
            ))
            .load::<(Vec<u8>, Uuid, Uuid, bool)>(conn)?
            .into_iter()
            .map(|(d, id, org, disabled)| (d, (id, org, disabled)))
            .collect();
        let mut orgs: HashMap<Uuid, OrgState> = locked
            .into_iter()
            .map(|l| {
                (
                    l.id,
                    OrgState {
                        expires_at: l.subscription_expires_at,
                        api_disabled: l.api_disabled,
                        daily_quota: l.daily_quota,
                        abuse_threshold: l.abuse_threshold,
                        calls: l.calls,
                        submissions: l.submissions,
                        threshold_baseline: l.threshold_baseline,
                        newly_disabled: false,
                    },
                )
            })
            .collect();

        let mut outcomes = Vec::with_capacity(batch.len());
        let mut token_use: HashMap<Uuid, TokenUse> = HashMap::new();
        let mut rows = Rows::default();
        for p in batch {
            let Some(&(token_id, org_id, token_disabled)) = tokens.get(p.digest.as_slice()) else {
                outcomes.push(Outcome::Unknown);
                continue;
            };
            let Some(org) = orgs.get_mut(&org_id) else {
                outcomes.push(Outcome::Unknown);
                continue;
            };
            // Every call of a known token counts towards R10, refused or not.
            org.calls += 1;
            token_use.entry(token_id).or_default().calls += 1;
            let outcome = if token_disabled || org.api_disabled {
                Outcome::Disabled
            } else if org.expires_at.is_none_or(|e| e <= now) {
                Outcome::Expired
            } else if org.calls - org.threshold_baseline > org.abuse_threshold {
                org.api_disabled = true;
                org.newly_disabled = true;
                Outcome::ThresholdExceeded
            } else if org.submissions >= org.daily_quota {
                Outcome::QuotaExceeded
            } else {
                org.submissions += 1;
                token_use.entry(token_id).or_default().submissions += 1;
                rows.push(org_id, token_id, &p.submission);
                Outcome::Accepted
            };
            outcomes.push(outcome);
        }

        let (use_ids, use_calls, use_subs): (Vec<Uuid>, Vec<i32>, Vec<i32>) = token_use
            .iter()
            .map(|(id, u)| (*id, u.calls, u.submissions))
            .collect();
        let (org_list, org_calls, org_subs): (Vec<Uuid>, Vec<i32>, Vec<i32>) = orgs
            .iter()
            .map(|(id, o)| (*id, o.calls, o.submissions))
            .collect();
        // One round trip for every write of the batch (migration 3's sandbox_write_batch).
        diesel::sql_query(
            "SELECT sandbox_write_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15, $16)",
        )
            .bind::<Array<SqlUuid>, _>(&rows.org)
            .bind::<Array<SqlUuid>, _>(&rows.token)
            .bind::<Array<Text>, _>(&rows.endpoint)
            .bind::<Array<Text>, _>(&rows.md5)
            .bind::<Array<Text>, _>(&rows.sha256)
            .bind::<Array<BigInt>, _>(&rows.size)
            .bind::<Array<Text>, _>(&rows.file_type)
            .bind::<Array<Nullable<Text>>, _>(&rows.virus)
            .bind::<Timestamptz, _>(now)
            .bind::<Date, _>(day)
            .bind::<Array<SqlUuid>, _>(&use_ids)
            .bind::<Array<Integer>, _>(&use_calls)
            .bind::<Array<Integer>, _>(&use_subs)
            .bind::<Array<SqlUuid>, _>(&org_list)
            .bind::<Array<Integer>, _>(&org_calls)
            .bind::<Array<Integer>, _>(&org_subs)
            .execute(conn)?;
        for (org_id, org) in &orgs {
            if org.newly_disabled {
                disable_for_threshold(conn, *org_id, org.calls, org.abuse_threshold, now)?;
            }
        }
        Ok(outcomes)
    })
}

/// R10: the org is disabled once, by the system, in the transaction that counted the call that
/// crossed the threshold.
fn disable_for_threshold(
    conn: &mut PgConnection,
    org_id: Uuid,
    calls: i32,
    threshold: i32,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(o::table.find(org_id).filter(o::api_disabled_at.is_null()))
        .set((
            o::api_disabled_at.eq(Some(now)),
            o::api_disabled_reason.eq(Some(THRESHOLD_REASON)),
            o::api_disabled_by.eq(Some("system")),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        &Actor::system(),
        Event {
            org_id: Some(org_id),
            action: "THRESHOLD_DISABLE",
            resource: None,
            success: true,
            details: json!({ "reason": THRESHOLD_REASON, "callsToday": calls, "abuseThreshold": threshold }),
        },
    )?;
    crate::db::notify::org_changed(conn, org_id)
}
