//! axe-core on every page and dialog, at both viewports, and the screenshots a person can look at
//! (target/screenshots/<page>-<width>x<height>.png).
use sandbox_portal::db::audit::Actor;
use sandbox_portal::domain::role::Role;
use sandbox_portal::service;

use super::{Chrome, app_and_chrome, axe_source, login_new};
use crate::helpers::{PAGE, page_of};

/// Checks the page with axe-core and for sideways overflow, and saves its screenshots.
async fn look_at(chrome: &Chrome, axe: &str, name: &str) {
    chrome.assert_accessible(name, axe).await;
    chrome.assert_fits(name).await;
    chrome.screenshots(name).await;
}

/// Login, the token page in each state an admin meets, both dialogs and the audit log.
#[actix_web::test]
async fn browser_admin_pages_are_accessible() {
    let Some(axe) = axe_source() else {
        return;
    };
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme Corporation");
    app.add_token(org.id, "ci-runner");
    app.user("alice", Role::OrgAdmin, &[org.id]);

    chrome.goto("/login").await;
    look_at(&chrome, &axe, "login").await;
    chrome.fill("#username", "alice").await;
    chrome.fill("#password", "not the password").await;
    chrome
        .click_and_load("form[action='/login'] button[type=submit]")
        .await;
    chrome.wait_for(".alert-error").await;
    look_at(&chrome, &axe, "login-error").await;

    chrome.login("alice").await;
    chrome.wait_for("#token-panel").await;
    look_at(&chrome, &axe, "tokens").await;

    let row = format!("#token-{}", token.id);
    chrome
        .click(&format!("{row} button[aria-label^='Show token']"))
        .await;
    chrome
        .wait_for(&format!("{row} code[data-token-value]"))
        .await;
    look_at(&chrome, &axe, "tokens-revealed").await;

    chrome
        .click(&format!("{row} button[aria-label^='Rename token']"))
        .await;
    let field = format!("#name-{}", token.id);
    chrome.fill(&field, "name-that-is-too-long").await;
    chrome.press("Enter").await;
    chrome.wait_for(&format!("#name-error-{}", token.id)).await;
    look_at(&chrome, &axe, "tokens-rename-error").await;

    chrome.goto(PAGE).await;
    chrome
        .click(&format!("{row} button[aria-label^='Regenerate token']"))
        .await;
    chrome.wait_for("dialog.modal").await;
    look_at(&chrome, &axe, "dialog-regenerate").await;
    chrome.press("Escape").await;
    chrome.wait_gone("dialog.modal").await;

    chrome
        .click(&format!("{row} button[aria-label^='Delete token']"))
        .await;
    chrome.wait_for("dialog.modal").await;
    look_at(&chrome, &axe, "dialog-delete").await;
    chrome.press("Escape").await;
    chrome.wait_gone("dialog.modal").await;

    for n in 3..=5 {
        app.add_token(org.id, &format!("bot{n}"));
    }
    chrome.goto(PAGE).await;
    chrome.wait_for("#add-refusal").await;
    look_at(&chrome, &axe, "tokens-at-limit").await;

    assert_eq!(
        chrome.text(".mainnav [aria-current=page]").await,
        "Sandbox API Token"
    );
    chrome.goto("/admin/audit-log").await;
    chrome.wait_for("table").await;
    assert_eq!(
        chrome.text(".mainnav [aria-current=page]").await,
        "Audit log"
    );
    // The breadcrumb names the page as its heading does.
    assert_eq!(
        chrome.text(".breadcrumb [aria-current=page]").await,
        chrome.text("h1").await
    );
    look_at(&chrome, &axe, "audit-log").await;

    chrome.goto("/no-such-page").await;
    let text = chrome.body_text().await;
    assert!(
        text.contains("does not exist"),
        "the portal's own 404 page: {text}"
    );
    look_at(&chrome, &axe, "not-found").await;
    chrome.close().await;
}

/// The support console (search, an org, the audit log) and the customer views it causes: a
/// disabled token, an expired subscription, view-only, partner and Cloud Connector users.
#[actix_web::test]
async fn browser_support_and_view_only_pages_are_accessible() {
    let Some(axe) = axe_source() else {
        return;
    };
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme Corporation");
    app.org("Acme Labs");
    app.org("Globex");
    login_new(&app, &chrome, "sam", Role::Support, &[]).await;
    chrome.goto("/support/orgs").await;
    look_at(&chrome, &axe, "support-orgs").await;

    // Search by name prefix, then open the org.
    chrome.fill("#org-search", "acme").await;
    let marker = chrome.mark_document().await;
    chrome.press("Enter").await;
    chrome.wait_new_document(marker).await;
    let listed: Vec<String> = chrome
        .eval("Array.from(document.querySelectorAll('td[data-label=Name] a')).map(a => a.textContent.trim())")
        .await;
    assert_eq!(listed, ["Acme Corporation", "Acme Labs"]);
    chrome
        .click_and_load(&format!("a[href='/support/orgs/{}']", org.id))
        .await;
    look_at(&chrome, &axe, "support-org").await;

    // Disable the token with a reason (R7), then expire the subscription (R8).
    chrome
        .fill(&format!("#reason-{}", token.id), "Abuse report 42")
        .await;
    chrome
        .click(&format!(
            "button[aria-label='Disable token {}']",
            token.name
        ))
        .await;
    // Destructive support changes are confirmed in a dialog first.
    chrome.wait_for("dialog.modal").await;
    look_at(&chrome, &axe, "dialog-support-disable").await;
    chrome
        .click_and_load("dialog.modal button[type=submit]")
        .await;
    chrome
        .wait_for(&format!(
            "button[aria-label='Re-enable token {}']",
            token.name
        ))
        .await;
    chrome
        .click("form[action$='/subscription'] input[value=expire] ~ button")
        .await;
    chrome.wait_for("dialog.modal").await;
    chrome
        .click_and_load("dialog.modal button[type=submit]")
        .await;
    look_at(&chrome, &axe, "support-org-changed").await;
    assert!(
        app.tokens(org.id)[0].disabled_at.is_some(),
        "the token was disabled"
    );
    chrome.goto("/admin/audit-log").await;
    look_at(&chrome, &axe, "support-audit-log").await;
    chrome.close().await;

    for (who, role, name) in [
        ("vera", Role::OrgViewer, "tokens-view-only"),
        ("pat", Role::PartnerViewer, "tokens-partner"),
        ("cora", Role::ConnectorAdmin, "tokens-connector"),
    ] {
        let Some(chrome) = Chrome::launch(&app).await else {
            return;
        };
        login_new(&app, &chrome, who, role, &[org.id]).await;
        chrome.goto(&page_of(org.id)).await;
        chrome.wait_for(".banner").await;
        let text = chrome.body_text().await;
        assert!(text.contains("Abuse report 42"), "{name}: R7 reason shown");
        assert!(text.contains("expired"), "{name}: R8 banner shown");
        look_at(&chrome, &axe, name).await;
        chrome.close().await;
    }
}

/// Support's token page with more orgs than its switcher lists: the org is named, selected,
/// and the way to the others is there, at both viewports.
#[actix_web::test]
async fn browser_support_token_page_with_many_orgs_is_accessible() {
    use diesel::prelude::*;
    use sandbox_portal::db::schema::organizations as o;
    let Some(axe) = axe_source() else {
        return;
    };
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let names: Vec<_> = (0..205)
        .map(|i| o::name.eq(format!("Acme Corporation {i:03}")))
        .collect();
    diesel::insert_into(o::table)
        .values(&names)
        .execute(&mut app.conn())
        .expect("orgs");
    let (org, _) = app.org("Zeta Industries International");
    login_new(&app, &chrome, "sam", Role::Support, &[]).await;
    chrome.goto(&page_of(org.id)).await;
    assert_eq!(
        chrome.text(".org-name").await,
        "Zeta Industries International · zscalerbeta.net"
    );
    assert_eq!(
        chrome
            .eval::<String>("document.querySelector('#org-select').selectedOptions[0].textContent")
            .await,
        "Zeta Industries International"
    );
    assert!(chrome.visible("#org-more a[href='/support/orgs']").await);
    look_at(&chrome, &axe, "tokens-support-many-orgs").await;
    chrome.close().await;
}

/// An org without tokens: the "no tokens" cell spans every column the viewer sees, with or
/// without the actions column.
#[actix_web::test]
async fn browser_the_empty_token_table_spans_every_column() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    service::tokens::delete(&mut app.conn(), &Actor::cli(), org.id, token.id).expect("delete");
    login_new(&app, &chrome, "vera", Role::OrgViewer, &[org.id]).await;
    assert_empty_row_spans_the_table(&chrome, 8).await;
    chrome.close().await;

    let Some(chrome) = Chrome::launch(&app).await else {
        return;
    };
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;
    assert_empty_row_spans_the_table(&chrome, 9).await;
    chrome.close().await;
}

async fn assert_empty_row_spans_the_table(chrome: &Chrome, columns: usize) {
    chrome.wait_for("table.tokens tr.empty td").await;
    let (headers, span): (usize, usize) = chrome
        .eval(
            "[document.querySelectorAll('table.tokens thead th').length, \
             document.querySelector('table.tokens tr.empty td').colSpan]",
        )
        .await;
    assert_eq!(headers, columns, "columns shown");
    assert_eq!(span, columns, "the empty row spans them all");
}
