//! Destructive confirmations open with focus on Cancel (WAI-ARIA dialog pattern: for an action
//! that cannot be undone, initial focus on the least destructive control), so an Enter pressed
//! out of habit right after opening one changes nothing, with or without JavaScript.
use sandbox_portal::domain::role::Role;

use super::{Chrome, app_and_chrome, login_new};
use crate::helpers::{TestApp, page_of};

const ON_CANCEL: &str = "document.activeElement.matches('dialog [data-dialog-cancel]')";

/// R6: Enter right after opening Delete closes the dialog; the token stays.
#[actix_web::test]
async fn browser_enter_right_after_opening_delete_does_not_delete() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, _) = app.org("Acme");
    let (spare, _) = app.add_token(org.id, "spare");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;

    chrome.tab_to("Delete token spare").await;
    chrome.press("Enter").await;
    chrome.wait_for("dialog.modal").await;
    chrome
        .wait_until(
            "focus in the dialog",
            "!!document.activeElement.closest('dialog.modal')",
        )
        .await;
    chrome.press("Enter").await;
    chrome.wait_gone("dialog.modal").await;

    assert!(
        app.tokens(org.id).iter().any(|t| t.id == spare.id),
        "Enter deleted the token"
    );
    assert!(chrome.exists(&format!("#token-{}", spare.id)).await);
    assert_eq!(chrome.focused().await, "Delete token spare");
    assert!(
        !app.audit_actions().iter().any(|a| a.0 == "DELETE_TOKEN"),
        "{}",
        app.audit_dump()
    );
    chrome.close().await;
}

/// The same without JavaScript: the dialog is a page, and its Cancel link has the focus.
#[actix_web::test]
async fn browser_without_javascript_enter_on_the_delete_page_does_not_delete() {
    let app = TestApp::spawn().await;
    let Some(chrome) = Chrome::launch_without_js(&app).await else {
        return;
    };
    let (org, _) = app.org("Acme");
    let (spare, _) = app.add_token(org.id, "spare");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;

    chrome
        .click_and_load(&format!(
            "#token-{} button[aria-label^='Delete token']",
            spare.id
        ))
        .await;
    assert!(chrome.visible("dialog[open]").await, "the dialog is shown");
    chrome.wait_until("focus on Cancel", ON_CANCEL).await;
    let marker = chrome.mark_document().await;
    chrome.press("Enter").await;
    chrome.wait_new_document(marker).await;

    assert!(!chrome.exists("dialog").await);
    assert!(
        app.tokens(org.id).iter().any(|t| t.id == spare.id),
        "Enter deleted the token"
    );
    chrome.close().await;
}

/// R7: support's confirmation of disabling a token works the same way.
#[actix_web::test]
async fn browser_enter_right_after_opening_support_disable_does_not_disable() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    login_new(&app, &chrome, "sam", Role::Support, &[]).await;
    chrome.goto(&format!("/support/orgs/{}", org.id)).await;

    chrome
        .fill(&format!("#reason-{}", token.id), "Abuse report 42")
        .await;
    chrome.press("Enter").await;
    chrome.wait_for("dialog.modal").await;
    chrome.wait_until("focus on Cancel", ON_CANCEL).await;
    chrome.press("Enter").await;
    chrome.wait_gone("dialog.modal").await;

    assert!(
        app.tokens(org.id)[0].disabled_at.is_none(),
        "Enter disabled the token"
    );
    // And the token page still shows it enabled.
    chrome.goto(&page_of(org.id)).await;
    assert!(
        !chrome.body_text().await.contains("Abuse report 42"),
        "{}",
        chrome.body_text().await
    );
    chrome.close().await;
}
