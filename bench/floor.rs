//! bench/floor.sh's server: what an actix-web app with none of the portal's code reaches on
//! this machine for the parts that every design of (b) must have. Not part of the product.
//!
//!   GET  /healthz          "ok", as (a)
//!   POST /bare             reads the body, answers a JSON of the Submission API's shape
//!   POST /hashed           + md5 and sha256 of the body (§8 answers the md5; the sha256 is kept)
//!   POST /handoff          + a hand-off to one thread that answers through a oneshot, as any
//!                          writer with a blocking database client must (no hashing)
//!   POST /hashed-handoff   both: the least that (b) costs before the database does anything
use actix_web::{App, HttpResponse, HttpServer, web};
use md5::Md5;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use tokio::sync::oneshot;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted {
    code: u16,
    message: &'static str,
    file_type: &'static str,
    md5: String,
    sandbox_submission: &'static str,
    virus_name: Option<String>,
    virus_type: Option<&'static str>,
}

fn accepted(md5: String) -> HttpResponse {
    HttpResponse::Ok().json(Accepted {
        code: 200,
        message: "/submit response OK",
        file_type: "txt",
        md5,
        sandbox_submission: "Clean",
        virus_name: None,
        virus_type: None,
    })
}

fn hash(body: &[u8]) -> String {
    let sha = Sha256::digest(body);
    std::hint::black_box(sha);
    hex::encode(Md5::digest(body))
}

static WRITER: OnceLock<SyncSender<oneshot::Sender<()>>> = OnceLock::new();

/// Like the portal's writer: blocks for the first call, takes every other one waiting, answers.
fn writer(rx: Receiver<oneshot::Sender<()>>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        for reply in batch {
            let _ = reply.send(());
        }
    }
}

async fn hand_off() -> bool {
    let (reply, answer) = oneshot::channel();
    match WRITER.get() {
        Some(tx) => tx.try_send(reply).is_ok() && answer.await.is_ok(),
        None => false,
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn bare(body: web::Bytes) -> HttpResponse {
    accepted(body.len().to_string())
}

async fn hashed(body: web::Bytes) -> HttpResponse {
    accepted(hash(&body))
}

async fn handoff(body: web::Bytes) -> HttpResponse {
    if !hand_off().await {
        return HttpResponse::ServiceUnavailable().finish();
    }
    accepted(body.len().to_string())
}

async fn hashed_handoff(body: web::Bytes) -> HttpResponse {
    let md5 = hash(&body);
    if !hand_off().await {
        return HttpResponse::ServiceUnavailable().finish();
    }
    accepted(md5)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".into());
    let (tx, rx) = sync_channel(8192);
    let _ = WRITER.set(tx);
    std::thread::spawn(move || writer(rx));
    HttpServer::new(|| {
        App::new()
            .route("/healthz", web::get().to(healthz))
            .route("/bare", web::post().to(bare))
            .route("/hashed", web::post().to(hashed))
            .route("/handoff", web::post().to(handoff))
            .route("/hashed-handoff", web::post().to(hashed_handoff))
    })
    // As the portal: one worker per core.
    .bind(bind)?
    .run()
    .await
}
