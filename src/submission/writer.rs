//! Group commit for the Submission API. Handlers hand each accepted-looking call to one writer
//! thread per instance; the writer takes everything that is waiting, records it in ONE
//! transaction and answers each caller from the committed totals. Concurrent calls therefore
//! share a commit, and the counts behind R10/R11 stay exact across instances because every
//! writer locks the org rows it touches before reading the day's counters.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bytea, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use uuid::Uuid;

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
    /// None: a call that is counted (R10) but carries no file to record.
    submission: Option<Submission>,
    /// The gate refused it (disabled or expired): only counted, in a transaction of its own.
    refused: bool,
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
    /// A call without a file, counted.
    Counted,
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

    pub async fn record(
        &self,
        digest: [u8; 32],
        org_id: Uuid,
        submission: Option<Submission>,
    ) -> Outcome {
        self.send(digest, org_id, submission, false).await
    }

    /// Counts a call that the gate refused (R10 counts every call of the org) and answers with
    /// the database's verdict on it.
    pub async fn count_refused(&self, digest: [u8; 32], org_id: Uuid) -> Outcome {
        self.send(digest, org_id, None, true).await
    }

    async fn send(
        &self,
        digest: [u8; 32],
        org_id: Uuid,
        submission: Option<Submission>,
        refused: bool,
    ) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            digest,
            org_id,
            submission,
            refused,
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
        // Refused calls go in a transaction of their own, after the others have their answers:
        // mixed in, they would send every batch down the call-by-call path, so a blocked org's
        // flood would slow every other org's submissions.
        let (refused, calls): (Vec<Pending>, Vec<Pending>) =
            batch.into_iter().partition(|p| p.refused);
        for (part, function) in [(calls, Function::Fast), (refused, Function::CallByCall)] {
            if !part.is_empty() {
                answer(part, function, &mut conn, url);
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Function {
    Fast,
    CallByCall,
}

fn answer(batch: Vec<Pending>, function: Function, conn: &mut Option<PgConnection>, url: &str) {
    if conn.is_none() {
        *conn = PgConnection::establish(url).ok();
    }
    let outcomes = match conn.as_mut() {
        Some(c) => match commit(c, &batch, function, Utc::now()) {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, calls = batch.len(), "submission batch failed");
                // The connection may be broken; a fresh one is made for the next batch.
                *conn = None;
                vec![Outcome::Unavailable; batch.len()]
            }
        },
        None => vec![Outcome::Unavailable; batch.len()],
    };
    for (p, outcome) in batch.into_iter().zip(outcomes) {
        let _ = p.reply.send(outcome);
    }
}

#[diesel::declare_sql_function]
extern "SQL" {
    /// Migration 9 (8 mended): the org locks, then the whole batch in one statement when every
    /// call is a plain acceptance, otherwise `sandbox_record_batch` (migration 12) call by call,
    /// in the same transaction.
    #[allow(clippy::too_many_arguments)]
    fn sandbox_record_batch_fast(
        digests: Array<Bytea>,
        orgs: Array<SqlUuid>,
        endpoint: Array<Nullable<Text>>,
        md5: Array<Nullable<Text>>,
        sha256: Array<Nullable<Text>>,
        size: Array<Nullable<BigInt>>,
        file_type: Array<Nullable<Text>>,
        virus: Array<Nullable<Text>>,
        now: Timestamptz,
    ) -> Array<Text>;

    /// Migration 12 (7 with the crossing token named in the R10 audit row): call by call; what
    /// the fast path falls back to.
    #[allow(clippy::too_many_arguments)]
    fn sandbox_record_batch(
        digests: Array<Bytea>,
        orgs: Array<SqlUuid>,
        endpoint: Array<Nullable<Text>>,
        md5: Array<Nullable<Text>>,
        sha256: Array<Nullable<Text>>,
        size: Array<Nullable<BigInt>>,
        file_type: Array<Nullable<Text>>,
        virus: Array<Nullable<Text>>,
        now: Timestamptz,
    ) -> Array<Text>;
}

/// Records a batch with one call of a database function: the org lock, the re-check of every
/// token against the database, the exact R10/R11 counting, the writes and the R10 disable with
/// its SYSTEM audit row, in one transaction and one round trip. Built with the query builder,
/// not `sql_query`, so that diesel prepares it once per connection instead of parsing and
/// planning it for every batch.
fn commit(
    conn: &mut PgConnection,
    batch: &[Pending],
    function: Function,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Outcome>> {
    let mut digests = Vec::with_capacity(batch.len());
    let mut orgs = Vec::with_capacity(batch.len());
    let mut endpoint = Vec::with_capacity(batch.len());
    let mut md5 = Vec::with_capacity(batch.len());
    let mut sha256 = Vec::with_capacity(batch.len());
    let mut size = Vec::with_capacity(batch.len());
    let mut file_type = Vec::with_capacity(batch.len());
    let mut virus = Vec::with_capacity(batch.len());
    for p in batch {
        digests.push(p.digest.to_vec());
        orgs.push(p.org_id);
        // A call without a file travels as NULLs in every file column.
        let s = p.submission.as_ref();
        endpoint.push(s.map(|s| s.endpoint.as_str()));
        md5.push(s.map(|s| s.md5.as_str()));
        sha256.push(s.map(|s| s.sha256.as_str()));
        size.push(s.map(|s| s.size));
        file_type.push(s.map(|s| s.file_type.as_str()));
        virus.push(s.and_then(|s| s.virus_name.as_deref()));
    }
    let outcomes: Vec<String> = match function {
        Function::Fast => diesel::select(sandbox_record_batch_fast(
            digests, orgs, endpoint, md5, sha256, size, file_type, virus, now,
        ))
        .get_result(conn)?,
        Function::CallByCall => diesel::select(sandbox_record_batch(
            digests, orgs, endpoint, md5, sha256, size, file_type, virus, now,
        ))
        .get_result(conn)?,
    };
    if outcomes.len() != batch.len() {
        return Err(diesel::result::Error::DeserializationError(
            "the batch function answered a different number of outcomes".into(),
        ));
    }
    Ok(outcomes.iter().map(|o| Outcome::from_sql(o)).collect())
}

impl Outcome {
    fn from_sql(s: &str) -> Outcome {
        match s {
            "ACCEPTED" => Outcome::Accepted,
            "UNKNOWN" => Outcome::Unknown,
            "DISABLED" => Outcome::Disabled,
            "EXPIRED" => Outcome::Expired,
            "THRESHOLD_EXCEEDED" => Outcome::ThresholdExceeded,
            "QUOTA_EXCEEDED" => Outcome::QuotaExceeded,
            "COUNTED" => Outcome::Counted,
            // Never produced by the function; refusing is the safe reading.
            _ => Outcome::Unavailable,
        }
    }
}
