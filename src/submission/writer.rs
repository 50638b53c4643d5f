//! Group commit for the Submission API. Handlers hand each accepted-looking call to one writer
//! thread per instance; the writer takes everything that is waiting, records it in ONE
//! transaction and answers each caller from the committed totals. Concurrent calls therefore
//! share a commit, and the counts behind R10/R11 stay exact across instances because every
//! writer locks the org rows it touches before reading the day's counters.
use crate::db::audit::{self, Actor, Event};
use crate::db::schema::{
    org_daily_usage as od, organizations as o, sandbox_api_tokens as t, submissions as s,
    token_daily_usage as td,
};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use tokio::sync::oneshot;
use uuid::Uuid;

pub const THRESHOLD_REASON: &str = "API call threshold exceeded";
const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;

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
        let conn = PgConnection::establish(database_url)?;
        let (tx, rx) = sync_channel(QUEUE);
        let url = database_url.to_owned();
        std::thread::Builder::new()
            .name("submission-writer".into())
            .spawn(move || run(rx, conn, &url))?;
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

fn run(rx: Receiver<Pending>, conn: PgConnection, url: &str) {
    let mut conn = Some(conn);
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
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

/// id, subscription end, api disabled, daily quota, abuse threshold.
type LockedOrg = (Uuid, Option<DateTime<Utc>>, bool, i32, i32);

struct OrgState {
    expires_at: Option<DateTime<Utc>>,
    api_disabled: bool,
    daily_quota: i32,
    abuse_threshold: i32,
    calls: i32,
    submissions: i32,
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
        let locked: Vec<LockedOrg> = o::table
            .filter(o::id.eq_any(&org_ids))
            .order(o::id.asc())
            .select((
                o::id,
                o::subscription_expires_at,
                o::api_disabled_at.is_not_null(),
                o::daily_quota,
                o::abuse_threshold,
            ))
            .for_update()
            .load(conn)?;
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
        diesel::insert_into(od::table)
            .values(
                org_ids
                    .iter()
                    .map(|id| (od::org_id.eq(*id), od::day.eq(day)))
                    .collect::<Vec<_>>(),
            )
            .on_conflict_do_nothing()
            .execute(conn)?;
        let usage: HashMap<Uuid, (i32, i32)> = od::table
            .filter(od::org_id.eq_any(&org_ids).and(od::day.eq(day)))
            .select((od::org_id, od::calls, od::submissions))
            .load::<(Uuid, i32, i32)>(conn)?
            .into_iter()
            .map(|(id, c, s)| (id, (c, s)))
            .collect();
        let mut orgs: HashMap<Uuid, OrgState> = locked
            .into_iter()
            .map(
                |(id, expires_at, api_disabled, daily_quota, abuse_threshold)| {
                    let (calls, submissions) = usage.get(&id).copied().unwrap_or((0, 0));
                    (
                        id,
                        OrgState {
                            expires_at,
                            api_disabled,
                            daily_quota,
                            abuse_threshold,
                            calls,
                            submissions,
                            newly_disabled: false,
                        },
                    )
                },
            )
            .collect();

        let mut outcomes = Vec::with_capacity(batch.len());
        let mut token_use: HashMap<Uuid, TokenUse> = HashMap::new();
        let mut rows = Vec::new();
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
            } else if org.calls > org.abuse_threshold {
                org.api_disabled = true;
                org.newly_disabled = true;
                Outcome::ThresholdExceeded
            } else if org.submissions >= org.daily_quota {
                Outcome::QuotaExceeded
            } else {
                org.submissions += 1;
                token_use.entry(token_id).or_default().submissions += 1;
                rows.push((
                    s::org_id.eq(org_id),
                    s::token_id.eq(Some(token_id)),
                    s::endpoint.eq(p.submission.endpoint.as_str()),
                    s::md5.eq(p.submission.md5.clone()),
                    s::sha256.eq(p.submission.sha256.clone()),
                    s::size_bytes.eq(p.submission.size),
                    s::file_type.eq(p.submission.file_type.clone()),
                    s::virus_name.eq(p.submission.virus_name.clone()),
                    s::created_at.eq(now),
                ));
                Outcome::Accepted
            };
            outcomes.push(outcome);
        }

        if !rows.is_empty() {
            diesel::insert_into(s::table).values(&rows).execute(conn)?;
        }
        if !token_use.is_empty() {
            let values: Vec<_> = token_use
                .iter()
                .map(|(id, u)| {
                    (
                        td::token_id.eq(*id),
                        td::day.eq(day),
                        td::calls.eq(u.calls),
                        td::submissions.eq(u.submissions),
                    )
                })
                .collect();
            diesel::insert_into(td::table)
                .values(&values)
                .on_conflict((td::token_id, td::day))
                .do_update()
                .set((
                    td::calls.eq(td::calls + excluded(td::calls)),
                    td::submissions.eq(td::submissions + excluded(td::submissions)),
                ))
                .execute(conn)?;
            let used: Vec<Uuid> = token_use.keys().copied().collect();
            diesel::update(t::table.filter(t::id.eq_any(&used)))
                .set(t::last_used_at.eq(now))
                .execute(conn)?;
        }
        for (org_id, org) in &orgs {
            diesel::update(od::table.filter(od::org_id.eq(org_id).and(od::day.eq(day))))
                .set((od::calls.eq(org.calls), od::submissions.eq(org.submissions)))
                .execute(conn)?;
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
