//! The same core flows with scripting disabled: plain forms, links and full pages.
use sandbox_portal::domain::role::Role;

use super::{Chrome, js_str};
use crate::helpers::{PAGE, TestApp};

async fn no_js() -> Option<(TestApp, Chrome)> {
    let app = TestApp::spawn().await;
    let chrome = Chrome::launch_without_js(&app).await?;
    Some((app, chrome))
}

#[actix_web::test]
async fn browser_without_javascript_core_flows_work_with_plain_forms() {
    let Some((app, chrome)) = no_js().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    app.user("alice", Role::OrgAdmin, &[org.id]);
    chrome.login("alice").await;
    assert!(chrome.url().await.contains(PAGE));
    assert!(
        !chrome.eval::<bool>("!!window.htmx").await,
        "scripts really are off"
    );
    let row = format!("#token-{}", token.id);

    // Copy needs JavaScript (the clipboard API): without it the button stays hidden.
    assert!(
        !chrome
            .visible(&format!("{row} button[aria-label^='Copy token']"))
            .await
    );

    // Reveal is a form post answered with the whole page; hide is a link back.
    chrome
        .click_and_load(&format!("{row} button[aria-label^='Show token']"))
        .await;
    assert_eq!(
        chrome.text(&format!("{row} code[data-token-value]")).await,
        app.value_of(org.id, token.id).expose()
    );
    chrome
        .click_and_load(&format!("{row} button[aria-label^='Hide token']"))
        .await;
    assert!(
        !chrome
            .exists(&format!("{row} code[data-token-value]"))
            .await
    );

    // Add, with a name.
    chrome.fill("#new-token-name", "plain").await;
    chrome
        .click_and_load("form.add-form button[type=submit]")
        .await;
    assert_eq!(chrome.text("#tokens-title .count").await, "2 of 5");
    assert!(
        chrome
            .text("#flash")
            .await
            .contains("Token \"plain\" added"),
        "the page the browser is sent to confirms the change"
    );
    let plain = app
        .tokens(org.id)
        .into_iter()
        .find(|t| t.name == "plain")
        .expect("token added");
    let plain_row = format!("#token-{}", plain.id);

    // Rename: the form is a page of its own; a bad name comes back with the message.
    chrome
        .click_and_load(&format!("{plain_row} button[aria-label^='Rename token']"))
        .await;
    let field = format!("#name-{}", plain.id);
    chrome.fill(&field, "far-too-long-a-name").await;
    chrome
        .click_and_load(&format!("{plain_row} .rename-form button[type=submit]"))
        .await;
    let error = chrome.text(&format!("#name-error-{}", plain.id)).await;
    assert!(error.contains("10"), "the message says the limit: {error}");
    assert_eq!(
        chrome
            .eval::<String>(&format!("document.querySelector({}).value", js_str(&field)))
            .await,
        "far-too-long-a-name",
        "what was typed is kept"
    );
    chrome.fill(&field, "plainer").await;
    chrome
        .click_and_load(&format!("{plain_row} .rename-form button[type=submit]"))
        .await;
    assert_eq!(
        chrome.text(&format!("{plain_row} .token-name")).await,
        "plainer"
    );
    assert!(
        chrome
            .text("#flash")
            .await
            .contains("renamed to \"plainer\"")
    );

    // Regenerate: the dialog is a page; Cancel leaves everything as it was.
    let old = app.value_of(org.id, plain.id).expose().to_owned();
    chrome
        .click_and_load(&format!(
            "{plain_row} button[aria-label^='Regenerate token']"
        ))
        .await;
    assert!(chrome.visible("dialog[open]").await, "the dialog is shown");
    chrome.click_and_load("dialog [data-dialog-cancel]").await;
    assert!(!chrome.exists("dialog").await);
    assert_eq!(app.value_of(org.id, plain.id).expose(), old);
    chrome
        .click_and_load(&format!(
            "{plain_row} button[aria-label^='Regenerate token']"
        ))
        .await;
    chrome.click_and_load("dialog button[type=submit]").await;
    let new = app.value_of(org.id, plain.id).expose().to_owned();
    assert_ne!(new, old);
    assert_eq!(
        chrome
            .text(&format!("{plain_row} code[data-token-value]"))
            .await,
        new,
        "the new value is shown once"
    );

    // Delete through its dialog page.
    chrome
        .click_and_load(&format!("{plain_row} button[aria-label^='Delete token']"))
        .await;
    chrome.click_and_load("dialog button[type=submit]").await;
    assert!(!chrome.exists(&plain_row).await);
    assert_eq!(app.tokens(org.id).len(), 1);
    assert!(chrome.text("#flash").await.contains("\"plainer\" deleted"));
    // Shown once: a reload does not repeat it.
    let here = chrome.url().await;
    chrome.goto(here.trim_start_matches(&chrome.base)).await;
    assert_eq!(chrome.text("#flash").await, "");

    // Add until the limit: the button goes and the reason is given.
    for n in 2..=5 {
        chrome.fill("#new-token-name", &format!("n{n}")).await;
        chrome
            .click_and_load("form.add-form button[type=submit]")
            .await;
    }
    assert!(!chrome.exists("form.add-form").await);
    assert!(chrome.text("#add-refusal").await.contains("maximum of 5"));

    // Log out is a form too.
    chrome
        .click_and_load("form[action='/logout'] button[type=submit]")
        .await;
    assert!(chrome.url().await.contains("/login"));
    chrome.close().await;
}
