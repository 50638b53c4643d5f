//! The token page's flows in a real browser with JavaScript on (htmx swaps, modal dialogs, the
//! clipboard), each checked against what PostgreSQL then holds.
use sandbox_portal::domain::role::Role;
use uuid::Uuid;

use super::{Chrome, app_and_chrome, js_str, login_new};
use crate::helpers::{PAGE, TestApp, page_of};
use sandbox_portal::db::models::{Org, Token};

fn row(id: Uuid) -> String {
    format!("#token-{id}")
}

fn value_cell(id: Uuid) -> String {
    format!("#token-{id} code.token-value")
}

/// An org with its first token, and a browser logged in as its admin; None where skipped.
async fn admin_of_acme() -> Option<(TestApp, Chrome, Org, Token)> {
    let (app, chrome) = app_and_chrome().await?;
    let (org, token) = app.org("Acme");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;
    Some((app, chrome, org, token))
}

/// Focus is on the open dialog's Cancel, or on its confirm button.
const ON_CANCEL: &str = "document.activeElement.matches('dialog.modal [data-dialog-cancel]')";
const ON_CONFIRM: &str = "document.activeElement.matches('dialog.modal button[type=submit]')";

async fn flash_says(chrome: &Chrome, words: &str) {
    chrome
        .wait_until(
            &format!("a message saying {words:?}"),
            &format!(
                "(document.querySelector('#flash') || {{ textContent: '' }}).textContent.includes({})",
                js_str(words)
            ),
        )
        .await;
}

/// R3/R4: reveal shows the stored value, hide masks it again, copy puts the value on the
/// clipboard without ever rendering it.
#[actix_web::test]
async fn browser_reveal_hide_and_copy_a_token() {
    let Some((app, chrome, org, token)) = admin_of_acme().await else {
        return;
    };
    assert!(chrome.url().await.contains(PAGE), "lands on the token page");
    let value = app.value_of(org.id, token.id).expose().to_owned();

    let masked = chrome.text(&value_cell(token.id)).await;
    assert!(!masked.contains(&value[4..12]), "masked at first: {masked}");

    chrome
        .click(&format!(
            "{} button[aria-label^='Show token']",
            row(token.id)
        ))
        .await;
    chrome
        .wait_for(&format!("{} code[data-token-value]", row(token.id)))
        .await;
    assert_eq!(chrome.text(&value_cell(token.id)).await, value);

    chrome
        .click(&format!(
            "{} button[aria-label^='Hide token']",
            row(token.id)
        ))
        .await;
    chrome
        .wait_gone(&format!("{} code[data-token-value]", row(token.id)))
        .await;
    assert_eq!(chrome.text(&value_cell(token.id)).await, masked);

    // Copy from the masked row: the value is fetched and written to the clipboard only.
    chrome
        .click(&format!(
            "{} button[aria-label^='Copy token']",
            row(token.id)
        ))
        .await;
    flash_says(&chrome, "copied to the clipboard").await;
    let copied: String = chrome.eval("navigator.clipboard.readText()").await;
    assert_eq!(copied, value, "the clipboard holds the token's value");
    assert!(
        !chrome.body_text().await.contains(&value),
        "copying does not show the value"
    );
    // Both the reveal and the copy were audited (R4).
    let reveals = app
        .audit_actions()
        .into_iter()
        .filter(|a| a.0 == "REVEAL_TOKEN" && a.2 == Some(token.id))
        .count();
    assert_eq!(reveals, 2, "{}", app.audit_dump());
    assert!(app.audit_dump().contains("\"copy\""));
    chrome.close().await;
}

/// §9 sessions, R3: a Copy after the session has ended (expired, logged out elsewhere, role
/// changed) copies nothing, least of all the login page, and says why, with the way to log in
/// again, which leads back to the page.
#[actix_web::test]
async fn browser_copy_after_the_session_ended_copies_nothing_and_leads_to_login() {
    use diesel::prelude::*;
    use sandbox_portal::db::schema::web_sessions as ws;
    let Some((app, chrome, _, token)) = admin_of_acme().await else {
        return;
    };
    let page = chrome.url().await;
    let _: bool = chrome
        .eval("navigator.clipboard.writeText('before').then(() => true)")
        .await;
    diesel::delete(ws::table)
        .execute(&mut app.conn())
        .expect("end the sessions");

    chrome
        .click(&format!(
            "{} button[aria-label^='Copy token']",
            row(token.id)
        ))
        .await;
    flash_says(&chrome, "session has ended").await;
    let copied: String = chrome.eval("navigator.clipboard.readText()").await;
    assert_eq!(copied, "before", "the clipboard was left alone");
    let flash = chrome.text("#flash").await;
    assert!(!flash.contains("copied to the clipboard"), "{flash}");
    assert_eq!(chrome.focused().await, "Log in again");

    let marker = chrome.mark_document().await;
    chrome.press("Enter").await;
    chrome.wait_new_document(marker).await;
    assert!(
        chrome.url().await.contains("/login"),
        "{}",
        chrome.url().await
    );
    chrome.fill("#username", "alice").await;
    chrome.fill("#password", crate::helpers::PASSWORD).await;
    chrome
        .click_and_load("form[action='/login'] button[type=submit]")
        .await;
    assert_eq!(chrome.url().await, page, "back on the page");
    chrome.wait_for(&row(token.id)).await;
    chrome.close().await;
}

/// R1: Add works up to the limit, then disappears and says why.
#[actix_web::test]
async fn browser_add_until_the_limit_hides_add_with_its_reason() {
    let Some((app, chrome, org, _)) = admin_of_acme().await else {
        return;
    };
    let add = "form.add-form button[type=submit]";
    for n in 2..=5 {
        chrome.fill("#new-token-name", &format!("bot{n}")).await;
        chrome.click(add).await;
        flash_says(&chrome, &format!("\"bot{n}\" added")).await;
        assert_eq!(
            chrome.text("#tokens-title .count").await,
            format!("{n} of 5")
        );
    }
    assert_eq!(app.tokens(org.id).len(), 5);
    assert!(!chrome.exists(add).await, "Add is gone at the limit");
    let reason = chrome.text("#add-refusal").await;
    assert!(reason.contains("maximum of 5"), "{reason}");
    chrome.close().await;
}

/// R5: Esc cancels the regenerate dialog and nothing changes; confirming replaces the value and
/// shows the new one.
#[actix_web::test]
async fn browser_regenerate_through_the_modal() {
    let Some((app, chrome, org, token)) = admin_of_acme().await else {
        return;
    };
    let old = app.value_of(org.id, token.id).expose().to_owned();
    let trigger = format!("{} button[aria-label^='Regenerate token']", row(token.id));

    chrome.click(&trigger).await;
    chrome.wait_until("the dialog to open as a modal", "!!document.querySelector('dialog.modal') && document.querySelector('dialog.modal').matches(':modal')").await;
    assert!(
        chrome
            .eval::<bool>("document.activeElement.matches('dialog [data-dialog-cancel]')")
            .await,
        "focus starts on Cancel, not {:?}",
        chrome.focused().await
    );
    chrome.press("Escape").await;
    chrome.wait_gone("dialog.modal").await;
    assert!(
        chrome.focused().await.starts_with("Regenerate token"),
        "focus returns to the trigger, not {:?}",
        chrome.focused().await
    );
    assert_eq!(
        app.value_of(org.id, token.id).expose(),
        old,
        "Esc changed nothing"
    );

    chrome.click(&trigger).await;
    chrome.wait_for("dialog.modal").await;
    chrome.click("dialog.modal button[type=submit]").await;
    chrome.wait_gone("dialog.modal").await;
    chrome
        .wait_for(&format!("{} code[data-token-value]", row(token.id)))
        .await;
    let shown = chrome.text(&value_cell(token.id)).await;
    let stored = app.value_of(org.id, token.id).expose().to_owned();
    assert_ne!(stored, old, "the value was replaced");
    assert_eq!(shown, stored, "the new value is shown");
    flash_says(&chrome, "regenerated").await;
    chrome.close().await;
}

/// R6: delete through the modal removes the row and the token.
#[actix_web::test]
async fn browser_delete_through_the_modal() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, _) = app.org("Acme");
    let (extra, _) = app.add_token(org.id, "spare");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;

    chrome
        .click(&format!(
            "{} button[aria-label^='Delete token']",
            row(extra.id)
        ))
        .await;
    chrome.wait_for("dialog.modal").await;
    let title = chrome.text("#dialog-title").await;
    assert!(title.contains("spare"), "{title}");
    // The Cancel button closes it without a request.
    chrome.click("dialog.modal [data-dialog-cancel]").await;
    chrome.wait_gone("dialog.modal").await;
    assert_eq!(app.tokens(org.id).len(), 2);

    chrome
        .click(&format!(
            "{} button[aria-label^='Delete token']",
            row(extra.id)
        ))
        .await;
    chrome.wait_for("dialog.modal").await;
    chrome.click("dialog.modal button[type=submit]").await;
    chrome.wait_gone(&row(extra.id)).await;
    flash_says(&chrome, "\"spare\" deleted").await;
    assert_eq!(chrome.text("#tokens-title .count").await, "1 of 5");
    assert!(app.tokens(org.id).iter().all(|t| t.id != extra.id));
    chrome.close().await;
}

/// R9: a name that is too long is refused next to the field and nothing is saved; a valid name
/// is saved.
#[actix_web::test]
async fn browser_rename_with_an_error_then_a_valid_name() {
    let Some((app, chrome, org, token)) = admin_of_acme().await else {
        return;
    };
    let before = token.name.clone();

    chrome
        .click(&format!(
            "{} button[aria-label^='Rename token']",
            row(token.id)
        ))
        .await;
    let field = format!("#name-{}", token.id);
    chrome.wait_for(&field).await;
    chrome.fill(&field, "much-too-long-name").await;
    chrome.press("Enter").await;
    chrome.wait_for(&format!("#name-error-{}", token.id)).await;
    let invalid: bool = chrome
        .eval(&format!(
            "document.querySelector({}).getAttribute('aria-invalid') === 'true'",
            js_str(&field)
        ))
        .await;
    assert!(invalid, "the field is marked invalid");
    assert_eq!(app.tokens(org.id)[0].name, before, "nothing saved");

    chrome.fill(&field, "ci-bot").await;
    chrome
        .click(&format!(
            "{} .rename-form button[type=submit]",
            row(token.id)
        ))
        .await;
    chrome.wait_gone(&field).await;
    assert_eq!(
        chrome.text(&format!("{} .token-name", row(token.id))).await,
        "ci-bot"
    );
    assert_eq!(app.tokens(org.id)[0].name, "ci-bot");
    chrome.close().await;
}

/// R12/§4: a view-only admin may look and reveal but sees no control that changes anything; a
/// partner viewer cannot even reveal.
#[actix_web::test]
async fn browser_view_only_users_see_no_controls() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    login_new(&app, &chrome, "viewer", Role::OrgViewer, &[org.id]).await;
    chrome.wait_for(&row(token.id)).await;
    assert_no_management_controls(&chrome).await;
    assert!(chrome.exists("button[aria-label^='Show token']").await);
    let note = chrome.text(".add-refusal").await;
    assert!(note.contains("View-only"), "{note}");
    chrome.close().await;

    let Some(chrome) = Chrome::launch(&app).await else {
        return;
    };
    login_new(&app, &chrome, "partner", Role::PartnerViewer, &[org.id]).await;
    chrome.goto(&page_of(org.id)).await;
    chrome.wait_for(&row(token.id)).await;
    assert_no_management_controls(&chrome).await;
    assert!(!chrome.exists("button[aria-label^='Show token']").await);
    assert!(!chrome.exists("button[aria-label^='Copy token']").await);
    chrome.close().await;
}

async fn assert_no_management_controls(chrome: &Chrome) {
    for control in [
        "form.add-form",
        "button[aria-label^='Rename token']",
        "button[aria-label^='Regenerate token']",
        "button[aria-label^='Delete token']",
    ] {
        assert!(!chrome.exists(control).await, "{control} is shown");
    }
}

/// The whole admin flow with the keyboard alone: log in, reveal, copy, add, rename, regenerate
/// (Esc, then Enter), delete.
#[actix_web::test]
async fn browser_keyboard_only_admin_flow() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);

    chrome.goto("/login").await;
    assert_eq!(
        chrome.eval::<String>("document.activeElement.id").await,
        "username",
        "the username field has focus"
    );
    chrome.type_text("alice").await;
    chrome.press("Tab").await;
    chrome.type_text(crate::helpers::PASSWORD).await;
    let marker = chrome.mark_document().await;
    chrome.press("Enter").await;
    chrome.wait_new_document(marker).await;
    assert!(chrome.url().await.contains(PAGE), "{}", chrome.url().await);

    // The skip link comes first and takes focus to the content.
    chrome.press("Tab").await;
    assert_eq!(chrome.focused().await, "Skip to content");

    // Reveal.
    chrome.tab_to(&format!("Show token {}", token.name)).await;
    chrome.press("Enter").await;
    chrome
        .wait_for(&format!("{} code[data-token-value]", row(token.id)))
        .await;
    assert_eq!(
        chrome.text(&value_cell(token.id)).await,
        app.value_of(org.id, token.id).expose()
    );

    // Copy, from the keyboard too.
    chrome.tab_to(&format!("Copy token {}", token.name)).await;
    chrome.press("Enter").await;
    flash_says(&chrome, "copied to the clipboard").await;
    assert_eq!(
        chrome
            .eval::<String>("navigator.clipboard.readText()")
            .await,
        app.value_of(org.id, token.id).expose()
    );

    // Add, typing a name in the field.
    chrome.goto(PAGE).await;
    chrome.tab_to("Name of the new token (optional)").await;
    chrome.type_text("kb").await;
    chrome.press("Enter").await;
    flash_says(&chrome, "\"kb\" added").await;
    let added = app
        .tokens(org.id)
        .into_iter()
        .find(|t| t.name == "kb")
        .expect("token kb was added");

    // Rename the new token.
    chrome.goto(PAGE).await;
    chrome.tab_to("Rename token kb").await;
    chrome.press("Enter").await;
    let field = format!("#name-{}", added.id);
    chrome.wait_for(&field).await;
    chrome
        .wait_until(
            "the name field to take focus with the name selected",
            &format!(
                "(() => {{ const e = document.querySelector({}); return document.activeElement === e \
                 && e.selectionStart === 0 && e.selectionEnd === e.value.length; }})()",
                js_str(&field)
            ),
        )
        .await;
    // The current name is selected, so typing replaces it.
    chrome.type_text("kbd").await;
    chrome.press("Enter").await;
    chrome.wait_gone(&field).await;
    let renamed = app.tokens(org.id).into_iter().find(|t| t.id == added.id);
    assert_eq!(renamed.map(|t| t.name).as_deref(), Some("kbd"));

    // Regenerate: Esc first, then Tab from Cancel to the confirm button and Enter.
    let old = app.value_of(org.id, added.id).expose().to_owned();
    chrome.goto(PAGE).await;
    chrome.tab_to("Regenerate token kbd").await;
    chrome.press("Enter").await;
    chrome.wait_for("dialog.modal").await;
    chrome
        .wait_until(
            "focus in the dialog",
            "!!document.activeElement.closest('dialog')",
        )
        .await;
    chrome.press("Escape").await;
    chrome.wait_gone("dialog.modal").await;
    assert_eq!(app.value_of(org.id, added.id).expose(), old);
    assert_eq!(chrome.focused().await, "Regenerate token kbd");
    chrome.press("Enter").await;
    chrome.wait_for("dialog.modal").await;
    chrome.wait_until("focus on Cancel", ON_CANCEL).await;
    // Tab and Shift+Tab stay inside the modal dialog, wrapping around.
    chrome.shift_tab().await;
    assert!(
        chrome.eval::<bool>(ON_CONFIRM).await,
        "Shift+Tab wraps from Cancel to the confirm button, not {:?}",
        chrome.focused().await
    );
    chrome.press("Tab").await;
    assert!(
        chrome.eval::<bool>(ON_CANCEL).await,
        "Tab wraps from the confirm button to Cancel, not {:?}",
        chrome.focused().await
    );
    for _ in 0..3 {
        chrome.press("Tab").await;
        assert!(
            chrome
                .eval::<bool>("!!document.activeElement.closest('dialog')")
                .await,
            "Tab left the modal dialog for {:?}",
            chrome.focused().await
        );
    }
    assert!(
        chrome.eval::<bool>(ON_CONFIRM).await,
        "{:?}",
        chrome.focused().await
    );
    chrome.press("Enter").await;
    chrome.wait_gone("dialog.modal").await;
    chrome
        .wait_for(&format!("{} code[data-token-value]", row(added.id)))
        .await;
    assert_ne!(app.value_of(org.id, added.id).expose(), old);
    chrome
        .wait_until(
            "focus back on the new row's Regenerate",
            "document.activeElement.getAttribute('aria-label') === 'Regenerate token kbd'",
        )
        .await;

    // Delete: Enter right away is Cancel's; Tab, then Enter, deletes.
    chrome.goto(PAGE).await;
    chrome.tab_to("Delete token kbd").await;
    chrome.press("Enter").await;
    chrome.wait_for("dialog.modal").await;
    chrome.wait_until("focus on Cancel", ON_CANCEL).await;
    chrome.press("Enter").await;
    chrome.wait_gone("dialog.modal").await;
    assert!(app.tokens(org.id).iter().any(|t| t.id == added.id));
    assert_eq!(chrome.focused().await, "Delete token kbd");
    chrome.press("Enter").await;
    chrome.wait_for("dialog.modal").await;
    chrome.wait_until("focus on Cancel", ON_CANCEL).await;
    chrome.press("Tab").await;
    assert!(
        chrome.eval::<bool>(ON_CONFIRM).await,
        "{:?}",
        chrome.focused().await
    );
    chrome.press("Enter").await;
    chrome.wait_gone(&row(added.id)).await;
    assert!(app.tokens(org.id).iter().all(|t| t.id != added.id));
    chrome
        .wait_until(
            "focus on the token list's heading",
            "document.activeElement.id === 'tokens-title'",
        )
        .await;
    chrome.close().await;
}

/// §9 sessions: a link to the portal from another site (an e-mail, a ticket) opens the page for
/// a logged-in person. The browser withholds the SameSite=Strict cookie on such a navigation;
/// the portal has the browser load the address again from its own site, which sends it,
/// instead of asking a logged-in person to log in.
#[actix_web::test]
async fn browser_a_link_from_another_site_keeps_the_session() {
    let Some((_app, chrome, org, token)) = admin_of_acme().await else {
        return;
    };
    let target = format!("{}{}", chrome.base, page_of(org.id));
    chrome
        .page
        .goto(format!(
            "data:text/html,<a id=go href=\"{target}\">open</a>"
        ))
        .await
        .expect("the other site's page");
    chrome.click_and_load("#go").await;
    chrome
        .wait_until(
            "the token page, logged in",
            &format!(
                "location.pathname === {} && !!document.querySelector({})",
                js_str(PAGE),
                js_str(&row(token.id))
            ),
        )
        .await;
    // And the session is still the one that logged in: a plain reload keeps it.
    chrome.goto(&page_of(org.id)).await;
    assert!(chrome.exists(&row(token.id)).await);
}

/// R7 on a page left open: support disables the token meanwhile. Clicking Regenerate does not
/// open a dead-end dialog: the table, the Add area and the banners update to the token's real
/// state, and the reason is announced.
#[actix_web::test]
async fn browser_a_disable_made_elsewhere_shows_when_an_action_is_refused() {
    let Some((app, chrome, org, token)) = admin_of_acme().await else {
        return;
    };
    assert!(chrome.exists("#new-token-name").await);
    assert!(!chrome.exists("#banners .banner").await);
    sandbox_portal::service::support::disable_token(
        &mut app.conn(),
        &sandbox_portal::db::audit::Actor::cli(),
        org.id,
        token.id,
        "terms violation",
    )
    .unwrap();

    chrome
        .click(&format!(
            "{} button[aria-label^='Regenerate token']",
            row(token.id)
        ))
        .await;
    chrome.wait_for("#banners .banner-danger").await;
    flash_says(&chrome, "disabled").await;
    assert!(!chrome.exists("dialog.modal").await, "no dead-end dialog");
    assert!(!chrome.exists("#new-token-name").await, "Add is gone (R7)");
    assert!(
        !chrome
            .exists(&format!(
                "{} button[aria-label^='Regenerate token']",
                row(token.id)
            ))
            .await
    );
    let status = chrome
        .text(&format!("{} td:nth-child(3)", row(token.id)))
        .await;
    assert!(status.contains("Disabled"), "{status}");
    assert_eq!(
        app.tokens(org.id)[0].value_hint,
        token.value_hint,
        "nothing changed"
    );
    chrome.close().await;
}
