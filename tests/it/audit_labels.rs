//! The audit log in people's words (labels on the page, codes for programs) and the resource of
//! the R10 auto-disable row (SPEC §7).
use crate::helpers::*;
use diesel::prelude::*;
use sandbox_portal::db::schema::{audit_events as a, organizations as o};
use sandbox_portal::domain::audit::AuditAction;
use sandbox_portal::domain::role::Role;
use serde_json::{Value, json};
use uuid::Uuid;

/// The text of the `<option>` whose value is `code`, and whether it is selected.
fn option(page: &str, code: &str) -> Option<(String, bool)> {
    let rest = page.split(&format!("<option value=\"{code}\"")).nth(1)?;
    let (attrs, text) = rest.split_once('>')?;
    let text = text.split("</option>").next()?;
    Some((text.to_owned(), attrs.contains("selected")))
}

/// The table cells of the Action column, as HTML.
fn action_cells(page: &str) -> Vec<String> {
    page.split("<td data-label=\"Action\">")
        .skip(1)
        .filter_map(|c| c.split("</td>").next())
        .map(str::to_owned)
        .collect()
}

#[actix_web::test]
async fn the_action_filter_offers_every_action_by_its_label_with_the_code_as_its_value() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;

    let page = b.text("/admin/audit-log").await;
    for action in AuditAction::ALL {
        let (text, selected) = option(&page, action.as_str())
            .unwrap_or_else(|| panic!("no option for {}", action.as_str()));
        assert_eq!(text, action.label());
        assert!(!selected, "{}", action.as_str());
    }
    assert_eq!(
        option(&page, "REGENERATE_TOKEN").map(|o| o.0).as_deref(),
        Some("Token regenerated")
    );

    // The code is what the form sends, and the filtered page keeps the option chosen.
    let filtered = b.text("/admin/audit-log?action=ACCESS_DENIED").await;
    assert_eq!(
        option(&filtered, "ACCESS_DENIED"),
        Some(("Access denied".to_owned(), true))
    );
    // A label is not a code: the filter and the API take codes only.
    let res = b.get("/admin/audit-log?action=Access%20denied").await;
    assert_eq!(res.status(), 400);
}

#[actix_web::test]
async fn the_audit_table_shows_labels_while_the_csv_and_the_api_keep_the_codes() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let alice = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    alice
        .hx_post(&token_url(org.id, token.id, "reveal"), &[])
        .await;
    let vera = app.login_as("vera", Role::OrgViewer, &[org.id]).await;
    let res = vera
        .hx_post(&token_url(org.id, token.id, "regenerate"), &[])
        .await;
    assert_eq!(res.status(), 403);

    let page = alice.text("/admin/audit-log").await;
    let cells = action_cells(&page);
    let labelled = |label: &str, code: &str| {
        format!("{label} <small class=\"action-code\"><code>{code}</code></small>")
    };
    for (label, code) in [
        ("Token revealed", "REVEAL_TOKEN"),
        ("Access denied", "ACCESS_DENIED"),
        ("Login", "LOGIN"),
    ] {
        assert!(
            cells.contains(&labelled(label, code)),
            "{code} reads as {label}, its code beside it: {cells:?}"
        );
    }
    for cell in &cells {
        let code = cell
            .split("<code>")
            .nth(1)
            .and_then(|c| c.split("</code>").next())
            .unwrap_or_default();
        let action = AuditAction::from_code(code).expect("a known code in every cell");
        assert_eq!(cell, &labelled(action.label(), code));
    }

    // Filtered by its code, the rows still read by their labels.
    let denied = alice.text("/admin/audit-log?action=ACCESS_DENIED").await;
    assert_eq!(
        action_cells(&denied),
        [labelled("Access denied", "ACCESS_DENIED")]
    );

    // The CSV export and the JSON API are contracts: codes, exactly as before.
    let csv = alice.text("/admin/audit-log.csv").await;
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let actions: Vec<String> = reader.records().map(|r| r.unwrap()[4].to_owned()).collect();
    assert!(actions.contains(&"REVEAL_TOKEN".to_owned()), "{actions:?}");
    assert!(actions.contains(&"ACCESS_DENIED".to_owned()), "{actions:?}");
    assert!(
        actions.iter().all(|a| AuditAction::from_code(a).is_some()),
        "{actions:?}"
    );
    assert!(!csv.contains("Token revealed") && !csv.contains("Access denied"));

    let api: Value = alice.get("/api/v1/auditLogs").await.json().await.unwrap();
    let api_actions: Vec<&str> = api["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert!(api_actions.contains(&"REVEAL_TOKEN"), "{api_actions:?}");
    assert!(api_actions.contains(&"ACCESS_DENIED"), "{api_actions:?}");
    assert!(!api.to_string().contains("Token revealed"));
}

/// SPEC §7 (resource: token id and name) for R10's auto-disable: the row names the token whose
/// call crossed the threshold, not merely the org, and keeps the reason and the figures.
#[actix_web::test]
async fn r10_the_threshold_disable_row_names_the_token_whose_call_crossed_it() {
    let app = TestApp::spawn().await;
    let (org, first) = app.org("Acme");
    let (crosser, crosser_value) = app.add_token(org.id, "nightly");
    diesel::update(o::table.find(org.id))
        .set(o::abuse_threshold.eq(2))
        .execute(&mut app.conn())
        .unwrap();
    let first_value = app.value_of(org.id, first.id);

    assert_eq!(
        submit(&app.addr, first_value.expose(), b"a file").await.0,
        200
    );
    assert_eq!(
        submit(&app.addr, first_value.expose(), b"a file").await.0,
        200
    );
    // The third call of the day crosses a threshold of 2, and it is the second token's.
    assert_eq!(
        submit(&app.addr, crosser_value.expose(), b"a file").await.0,
        403
    );

    type Row = (Option<Uuid>, Option<String>, String, String, Value);
    let rows: Vec<Row> = a::table
        .filter(a::action.eq("THRESHOLD_DISABLE"))
        .select((
            a::resource_id,
            a::resource_name,
            a::actor,
            a::interface,
            a::details,
        ))
        .load(&mut app.conn())
        .unwrap();
    assert_eq!(rows.len(), 1, "disabled exactly once: {rows:?}");
    let (id, name, actor, interface, details) = &rows[0];
    assert_eq!((*id, name.as_deref()), (Some(crosser.id), Some("nightly")));
    assert_eq!((actor.as_str(), interface.as_str()), ("system", "SYSTEM"));
    assert_eq!(details["reason"], "API call threshold exceeded");
    assert_eq!(details["callsToday"], 3);
    assert_eq!(details["abuseThreshold"], 2);
    assert_eq!(details["before"], json!({"disabled": false}));
    assert_eq!(details["after"], json!({"disabled": true}));
    let dump = app.audit_dump();
    assert!(!dump.contains(first_value.expose()) && !dump.contains(crosser_value.expose()));

    // The page shows it as the other events: label, resource and what changed.
    let alice = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = alice
        .text("/admin/audit-log?action=THRESHOLD_DISABLE")
        .await;
    assert_eq!(
        action_cells(&page),
        [
            "API call threshold exceeded: access disabled <small class=\"action-code\"><code>THRESHOLD_DISABLE</code></small>"
        ]
    );
    assert!(
        page.contains("<td data-label=\"Resource\">nightly</td>"),
        "{page}"
    );
    assert!(
        page.contains("<dt>disabled</dt><dd>false → true</dd>"),
        "{page}"
    );
    // The audit chain still verifies with the new row in it.
    let out = crate::cli::cli(&app.db.url, &["audit", "verify"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
