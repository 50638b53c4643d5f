//! What a hands-on review found in a real browser: where keyboard focus lands after Add and
//! after a support dialog, long reasons and values that widen or wrap the page, buttons that
//! were links, and a token deleted in another session.
use sandbox_portal::db::audit::Actor;
use sandbox_portal::domain::role::Role;

use super::{Chrome, DESKTOP, PHONE, app_and_chrome, js_str, login_new};
use crate::helpers::page_of;
use crate::ux::LONG_REASON;

/// The width the review used for a phone, besides the harness's own 375.
const PHONE_390: (i64, i64) = (390, 844);

async fn focus_is(chrome: &Chrome, label: &str) {
    chrome
        .wait_until(
            &format!("focus on {label:?}"),
            &format!(
                "(() => {{ const e = document.activeElement; return !!e && e.isConnected \
                 && (e.getAttribute('aria-label') || e.textContent.trim()) === {}; }})()",
                js_str(label)
            ),
        )
        .await;
}

/// Add with Enter: focus lands on the new row (its Hide control, the value being shown once),
/// not on <body>; the next Tab goes on to that row's Copy.
#[actix_web::test]
async fn browser_after_add_focus_is_on_the_new_row() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, _) = app.org("Acme");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;

    chrome.fill("#new-token-name", "kb").await;
    chrome.press("Enter").await;
    focus_is(&chrome, "Hide token kb").await;
    let kb = app
        .tokens(org.id)
        .into_iter()
        .find(|t| t.name == "kb")
        .unwrap();
    assert_eq!(
        chrome
            .text(&format!("#token-{} code[data-token-value]", kb.id))
            .await,
        app.value_of(org.id, kb.id).expose(),
        "the new value is shown once"
    );
    chrome.press("Tab").await;
    assert_eq!(chrome.focused().await, "Copy token kb");
    chrome.close().await;
}

/// A refused name keeps focus in the field, now marked invalid with the reason beside it.
#[actix_web::test]
async fn browser_a_refused_add_keeps_focus_in_the_field_with_its_error() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;
    chrome.fill("#new-token-name", &token.name).await;
    chrome.press("Enter").await;
    chrome.wait_for("#new-token-name-error").await;
    chrome
        .wait_until(
            "focus in the invalid name field",
            "document.activeElement.id === 'new-token-name' \
             && document.activeElement.getAttribute('aria-invalid') === 'true'",
        )
        .await;
    chrome.close().await;
}

/// Support: Esc or Cancel on a confirmation puts focus back on the button that asked for it.
#[actix_web::test]
async fn browser_closing_a_support_dialog_returns_focus_to_its_button() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, _) = app.org("Acme");
    login_new(&app, &chrome, "sam", Role::Support, &[]).await;
    chrome.goto(&format!("/support/orgs/{}", org.id)).await;
    let button = "Disable for the whole organization";

    chrome.fill("#org-reason", "Abuse report 42").await;
    chrome.press("Enter").await;
    chrome.wait_for("dialog.modal").await;
    chrome.press("Escape").await;
    chrome.wait_gone("dialog.modal").await;
    focus_is(&chrome, button).await;

    chrome.press("Enter").await;
    chrome.wait_for("dialog.modal").await;
    chrome.click("dialog [data-dialog-cancel]").await;
    chrome.wait_gone("dialog.modal").await;
    focus_is(&chrome, button).await;
    assert!(app.tokens(org.id)[0].disabled_at.is_none());
    chrome.close().await;
}

/// Fails if the page scrolls sideways at `size`.
async fn fits_at(chrome: &Chrome, name: &str, size: (i64, i64)) {
    chrome.viewport(size).await;
    let overflow: Vec<String> = chrome
        .eval(
            "[document.documentElement, ...document.querySelectorAll('.table-wrap')] \
             .filter(e => e.scrollWidth > e.clientWidth + 1) \
             .map(e => `${e.className || e.tagName}: ${e.scrollWidth} > ${e.clientWidth}`)",
        )
        .await;
    assert!(
        overflow.is_empty(),
        "{name} at {size:?} overflows: {overflow:?}"
    );
}

/// A 200-character unbroken reason (and a long cloud name) never widens the page: the token
/// page and the console fit at desktop and phone widths, and Re-enable stays in view.
#[actix_web::test]
async fn browser_long_reasons_and_cloud_names_wrap_instead_of_widening_the_page() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    {
        use diesel::prelude::*;
        use sandbox_portal::db::schema::organizations as o;
        diesel::update(o::table.find(org.id))
            .set(o::cloud.eq("a-very-long-cloud-name-without-any-break.zscalerbeta.example.net"))
            .execute(&mut app.conn())
            .unwrap();
    }
    sandbox_portal::service::support::disable_token(
        &mut app.conn(),
        &Actor::cli(),
        org.id,
        token.id,
        LONG_REASON,
    )
    .unwrap();
    login_new(&app, &chrome, "sam", Role::Support, &[]).await;

    chrome.goto(&page_of(org.id)).await;
    for size in [DESKTOP, PHONE_390, PHONE] {
        fits_at(&chrome, "token page", size).await;
    }
    chrome.goto(&format!("/support/orgs/{}", org.id)).await;
    let reenable = format!("#token-{} button[aria-label^='Re-enable token']", token.id);
    for size in [DESKTOP, PHONE_390, PHONE] {
        fits_at(&chrome, "support org page", size).await;
        let inside: bool = chrome
            .eval(&format!(
                "(() => {{ const r = document.querySelector({}).getBoundingClientRect(); \
                 const wrap = document.querySelector('.table-wrap').getBoundingClientRect(); \
                 return r.left >= wrap.left && r.right <= Math.min(wrap.right, innerWidth) + 1; }})()",
                js_str(&reenable)
            ))
            .await;
        assert!(inside, "Re-enable is out of view at {size:?}");
    }
    chrome.close().await;
}

/// How many lines an element's text takes.
fn lines(selector: &str) -> String {
    format!(
        "(() => {{ const e = document.querySelector({}); const lh = parseFloat(getComputedStyle(e).lineHeight) || 16; \
         return Math.round((e.getBoundingClientRect().height - parseFloat(getComputedStyle(e).paddingTop) \
         - parseFloat(getComputedStyle(e).paddingBottom)) / lh); }})()",
        js_str(selector)
    )
}

/// A masked value never wraps (not at phone width either); revealing a value changes neither
/// the columns nor the lines of the other cells, and its buttons stay beside it.
#[actix_web::test]
async fn browser_masked_values_never_wrap_and_revealing_keeps_the_table_still() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;
    let row = format!("#token-{}", token.id);
    let code = format!("{row} code.token-value");
    for size in [PHONE_390, PHONE, DESKTOP] {
        chrome.viewport(size).await;
        let n: i64 = chrome.eval(&lines(&code)).await;
        assert_eq!(n, 1, "the masked value wraps at {size:?}");
    }

    chrome.viewport(DESKTOP).await;
    let columns = "[...document.querySelectorAll('table.tokens thead th')].map(th => Math.round(th.getBoundingClientRect().left))";
    let when = format!("{row} td.when time");
    let before: Vec<i64> = chrome.eval(columns).await;
    let when_lines: i64 = chrome.eval(&lines(&when)).await;
    assert_eq!(when_lines, 1, "the date wraps");
    chrome
        .click(&format!("{row} button[aria-label^='Show token']"))
        .await;
    chrome
        .wait_for(&format!("{row} code[data-token-value]"))
        .await;
    chrome.wait_settled().await;
    let after: Vec<i64> = chrome.eval(columns).await;
    assert_eq!(before, after, "revealing moved the columns");
    assert_eq!(
        chrome.eval::<i64>(&lines(&when)).await,
        1,
        "the date wraps once revealed"
    );
    let beside: bool = chrome
        .eval(&format!(
            "(() => {{ const v = document.querySelector({}).getBoundingClientRect(); \
             const c = document.querySelector({}).getBoundingClientRect(); \
             return c.left >= v.right - 1 && c.top < v.bottom && c.bottom > v.top; }})()",
            js_str(&format!("{row} code[data-token-value]")),
            js_str(&format!("{row} button[aria-label^='Copy token']"))
        ))
        .await;
    assert!(beside, "Copy dropped below the revealed value");
    chrome.close().await;
}

/// Regenerate is a button: Space opens its dialog, as Enter does.
#[actix_web::test]
async fn browser_space_opens_the_regenerate_dialog() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;
    let label = format!("Regenerate token {}", token.name);
    chrome.tab_to(&label).await;
    let role: String = chrome.eval("document.activeElement.tagName").await;
    assert_eq!(role, "BUTTON");
    chrome.press("Space").await;
    chrome.wait_for("dialog.modal").await;
    chrome.press("Escape").await;
    chrome.wait_gone("dialog.modal").await;
    focus_is(&chrome, &label).await;
    chrome.close().await;
}

/// A token deleted in another session: OK in its Regenerate dialog says it no longer exists,
/// and the stale row goes.
#[actix_web::test]
async fn browser_a_token_deleted_elsewhere_disappears_with_a_clear_message() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, _) = app.org("Acme");
    let (gone, _) = app.add_token(org.id, "gone");
    login_new(&app, &chrome, "alice", Role::OrgAdmin, &[org.id]).await;
    chrome
        .click(&format!(
            "#token-{} button[aria-label^='Regenerate token']",
            gone.id
        ))
        .await;
    chrome.wait_for("dialog.modal").await;
    sandbox_portal::service::tokens::delete(&mut app.conn(), &Actor::cli(), org.id, gone.id)
        .unwrap();
    chrome.click("dialog.modal button[type=submit]").await;
    chrome.wait_gone(&format!("#token-{}", gone.id)).await;
    assert!(
        chrome
            .text("#flash")
            .await
            .contains("This token no longer exists"),
        "{}",
        chrome.body_text().await
    );
    assert!(!chrome.exists("dialog.modal").await);
    chrome.close().await;
}

/// Audit filters: each label sits right above its own field, at both widths.
#[actix_web::test]
async fn browser_audit_filter_labels_stay_with_their_fields() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    login_new(&app, &chrome, "sam", Role::Support, &[]).await;
    chrome.goto("/admin/audit-log").await;
    for size in [DESKTOP, PHONE_390] {
        chrome.viewport(size).await;
        let apart: Vec<String> = chrome
            .eval(
                "[...document.querySelectorAll('.filters label')].filter(l => { \
                   const f = document.getElementById(l.htmlFor).getBoundingClientRect(); \
                   const r = l.getBoundingClientRect(); \
                   return !(r.bottom <= f.top + 1 && f.top - r.bottom < 12 && Math.abs(r.left - f.left) < 2 \
                            && f.right <= innerWidth); \
                 }).map(l => l.textContent)",
            )
            .await;
        assert!(
            apart.is_empty(),
            "labels apart from their fields at {size:?}: {apart:?}"
        );
    }
    chrome.close().await;
}

/// Support console with JavaScript: a reason of spaces is refused beside its own field, which is
/// marked invalid and gets the focus back, as without JavaScript; the other rows are untouched.
#[actix_web::test]
async fn browser_a_refused_disable_reason_comes_back_at_its_field() {
    let Some((app, chrome)) = app_and_chrome().await else {
        return;
    };
    let (org, token) = app.org("Acme");
    let (second, _) = app.add_token(org.id, "second");
    login_new(&app, &chrome, "sam", Role::Support, &[]).await;
    chrome.goto(&format!("/support/orgs/{}", org.id)).await;

    let field = format!("#reason-{}", second.id);
    chrome.fill(&field, "   ").await;
    chrome
        .click(&format!(
            "button[aria-label={}]",
            js_str("Disable token second")
        ))
        .await;
    chrome
        .wait_until(
            "the field marked invalid",
            &format!(
                "document.querySelector({})?.getAttribute('aria-invalid') === 'true'",
                js_str(&field)
            ),
        )
        .await;
    let error = chrome.text(&format!("#reason-error-{}", second.id)).await;
    assert!(error.contains("Give a reason"), "{error}");
    chrome
        .wait_until(
            "focus on the field",
            &format!("document.activeElement?.id === {}", js_str(&field[1..])),
        )
        .await;
    let other_untouched: bool = chrome
        .eval(&format!(
            "document.querySelector({}).getAttribute('aria-invalid') === null",
            js_str(&format!("#reason-{}", token.id))
        ))
        .await;
    assert!(other_untouched);
    assert!(app.tokens(org.id).iter().all(|t| t.disabled_at.is_none()));
    chrome.close().await;
}
