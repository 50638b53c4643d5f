//! Keyboard focus through the token row's own swaps (WCAG 2.4.3, SPEC §5 "every control is
//! reachable by keyboard"): the row is replaced by the server's answer, and the control that
//! was used goes with it. Focus must land on its counterpart in the new row, or a keyboard user
//! is thrown back to the top of the page (or, with Tab, past the row they were working on).
use sandbox_portal::domain::role::Role;

use super::{Chrome, app_and_chrome, js_str, login_new};

/// Waits until the focused control is the one labelled `label` (its accessible name).
async fn focus_is(chrome: &Chrome, label: &str) {
    chrome
        .wait_until(
            &format!("focus on {label:?}"),
            &format!(
                "(() => {{ const e = document.activeElement; return !!e && e.isConnected \
                 && e.getAttribute('aria-label') === {}; }})()",
                js_str(label)
            ),
        )
        .await;
}

/// Show moves focus to Hide and Hide back to Show; Tab then goes on to the same row's Copy,
/// not to the next row.
#[actix_web::test]
async fn browser_keyboard_focus_follows_show_and_hide() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    // A second row, which a lost focus would Tab to next.
    app.add_token(org.id, "spare");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;
    let name = &token.name;
    let revealed = format!("#token-{} code[data-token-value]", token.id);

    chrome.tab_to(&format!("Show token {name}")).await;
    chrome.press("Enter").await;
    chrome.wait_for(&revealed).await;
    focus_is(&chrome, &format!("Hide token {name}")).await;
    chrome.press("Tab").await;
    assert_eq!(chrome.focused().await, format!("Copy token {name}"));

    chrome.shift_tab().await;
    assert_eq!(chrome.focused().await, format!("Hide token {name}"));
    chrome.press("Enter").await;
    chrome.wait_gone(&revealed).await;
    focus_is(&chrome, &format!("Show token {name}")).await;
    chrome.press("Tab").await;
    assert_eq!(chrome.focused().await, format!("Copy token {name}"));
    chrome.close().await;
}

/// R9 with the keyboard: after Save or Cancel, focus is on the row's Rename control again; a
/// refused name keeps focus in the field.
#[actix_web::test]
async fn browser_keyboard_focus_returns_to_rename_after_save_and_cancel() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;
    let field = format!("#name-{}", token.id);
    let in_field = field_focused(&field);

    // A refused name: the form stays, and so does focus.
    chrome.tab_to(&format!("Rename token {}", token.name)).await;
    chrome.press("Enter").await;
    chrome
        .wait_until("focus in the name field", &in_field)
        .await;
    chrome.type_text("much-too-long").await;
    chrome.press("Enter").await;
    chrome.wait_for(&format!("#name-error-{}", token.id)).await;
    chrome
        .wait_until("focus still in the name field", &in_field)
        .await;

    // Save.
    chrome.fill(&field, "ci").await;
    chrome.press("Enter").await;
    chrome.wait_gone(&field).await;
    focus_is(&chrome, "Rename token ci").await;
    assert_eq!(app.tokens(org.id)[0].name, "ci");

    // Cancel.
    chrome.press("Enter").await;
    chrome
        .wait_until("focus in the name field", &in_field)
        .await;
    chrome.tab_to("Cancel").await;
    chrome.press("Enter").await;
    chrome.wait_gone(&field).await;
    focus_is(&chrome, "Rename token ci").await;
    assert_eq!(app.tokens(org.id)[0].name, "ci");
    chrome.close().await;
}

fn field_focused(field: &str) -> String {
    format!(
        "document.activeElement === document.querySelector({})",
        js_str(field)
    )
}

/// Esc leaves an inline rename as Cancel does: nothing is saved and focus is on Rename again.
#[actix_web::test]
async fn browser_escape_cancels_a_rename() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;
    let field = format!("#name-{}", token.id);
    let rename = format!("Rename token {}", token.name);

    chrome.tab_to(&rename).await;
    chrome.press("Enter").await;
    chrome
        .wait_until("focus in the name field", &field_focused(&field))
        .await;
    chrome.type_text("esc").await;
    chrome.press("Escape").await;
    chrome.wait_gone(&field).await;
    focus_is(&chrome, &rename).await;
    assert_eq!(
        chrome
            .text(&format!("#token-{} .token-name", token.id))
            .await,
        token.name
    );
    assert_eq!(app.tokens(org.id)[0].name, token.name, "Esc saved nothing");
    assert!(
        !app.audit_actions().iter().any(|a| a.0 == "RENAME_TOKEN"),
        "{}",
        app.audit_dump()
    );
    chrome.close().await;
}
