//! The token page and the consoles as people read them: accessible names, errors next to their
//! fields, unambiguous times, and an honest answer about a token that has gone.
use crate::helpers::*;
use sandbox_portal::db;
use sandbox_portal::db::audit::Actor;
use sandbox_portal::domain::role::Role;

/// A long reason, as support may type it: 200 characters without a space or a hyphen.
pub const LONG_REASON: &str = "Abusereport012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678";

#[actix_web::test]
async fn a_masked_value_is_announced_as_a_sentence_not_bullet_by_bullet() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let hint = app.value_of(org.id, token.id).hint();
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = b.text(&page_of(org.id)).await;
    assert!(
        page.contains(&format!(
            "<span class=\"sr-only\">Masked token ending {hint}</span><code class=\"token-value\" aria-hidden=\"true\">"
        )),
        "{page}"
    );

    let support = app.login_as_support("sam").await;
    let console = support.text(&format!("/support/orgs/{}", org.id)).await;
    assert!(console.contains(&format!("Masked token ending {hint}</span>")));
}

/// Regenerate, Delete, Rename and Hide are buttons (Space works, they are announced as
/// buttons), in GET forms that reach the same confirmation pages without JavaScript.
#[actix_web::test]
async fn row_controls_are_buttons_whose_forms_reach_the_same_pages() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = b.text(&page_of(org.id)).await;
    for what in ["Rename", "Regenerate", "Delete"] {
        assert!(
            page.contains(&format!(
                "<button type=\"submit\" class=\"icon-btn{}\" aria-label=\"{what} token {}\"",
                if what == "Delete" { " icon-danger" } else { "" },
                token.name
            )) || page.contains(&format!(
                "type=\"submit\" class=\"icon-btn\" aria-label=\"{what} token {}\"",
                token.name
            )),
            "{what} is a button: {page}"
        );
        assert!(!page.contains(&format!(
            "<a class=\"icon-btn\" href=\"{PAGE}/tokens/{}/",
            token.id
        )));
    }
    // What the GET form of Regenerate sends, without JavaScript: the confirmation page.
    let res = b
        .get(&format!(
            "{PAGE}/tokens/{}/regenerate?org={}",
            token.id, org.id
        ))
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("<dialog class=\"modal\" open")
    );
}

/// R9 on Add with htmx: a taken name comes back next to the field (aria-invalid, described by
/// the message and the hint), with the name as typed; the field says its bounds.
#[actix_web::test]
async fn a_refused_add_name_is_linked_to_its_field() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.add_token(org.id, "taken");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;

    let page = b.text(&page_of(org.id)).await;
    // No maxlength: a browser would cut a long name silently (and counts UTF-16 units, not
    // R9's characters); the server explains instead, below.
    assert!(!page.contains("maxlength"), "{page}");
    assert!(page.contains("id=\"new-token-name-hint\">1 to 10 characters"));
    assert!(page.contains("aria-describedby=\"new-token-name-hint\""));

    let res = b.hx_post(&add_url(org.id), &[("name", "taken")]).await;
    assert_eq!(res.status(), 409);
    assert!(
        res.headers().get("hx-retarget").is_none(),
        "the panel, not the flash"
    );
    let panel = res.text().await.unwrap();
    assert!(panel.contains("aria-describedby=\"new-token-name-hint new-token-name-error\""));
    assert!(panel.contains("aria-invalid=\"true\""));
    assert!(panel.contains("id=\"new-token-name-error\" role=\"alert\">"));
    assert!(panel.contains("already exists"));
    assert!(panel.contains("value=\"taken\""));
    assert_eq!(app.tokens(org.id).len(), 2);

    let res = b
        .hx_post(&add_url(org.id), &[("name", "waytoolongname")])
        .await;
    assert_eq!(res.status(), 400);
    let panel = res.text().await.unwrap();
    assert!(panel.contains("14 characters long"), "{panel}");
    assert!(panel.contains("value=\"waytoolongname\""));
    assert_eq!(app.tokens(org.id).len(), 2);
}

/// Errors are alerts wherever they are rendered: the no-JavaScript 409 at the limit too.
#[actix_web::test]
async fn a_server_rendered_error_flash_is_an_alert() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    for n in 2..=5 {
        app.add_token(org.id, &format!("t{n}"));
    }
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let res = b.post_form(&add_url(org.id), &[("name", "six")]).await;
    assert_eq!(res.status(), 409);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("<div class=\"alert alert-error\" role=\"alert\">"),
        "{page}"
    );
}

/// After Add the new value is shown once, as after Regenerate: never stored, and the new row
/// is where keyboard focus goes next.
#[actix_web::test]
async fn add_shows_the_new_value_once_and_marks_the_new_row_for_focus() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let res = b.hx_post(&add_url(org.id), &[("name", "ci")]).await;
    assert_eq!(res.status(), 201);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let panel = res.text().await.unwrap();
    let ci = app
        .tokens(org.id)
        .into_iter()
        .find(|t| t.name == "ci")
        .unwrap();
    let value = app.value_of(org.id, ci.id);
    assert!(panel.contains(&format!("data-token-value>{}</code>", value.expose())));
    assert!(panel.contains(&format!("data-focus-after-swap=\"hide-{}\"", ci.id)));
    // Shown once: the page itself stays masked.
    assert!(!b.text(&page_of(org.id)).await.contains(value.expose()));
}

/// A token deleted in another session: each of its controls answers that it no longer exists
/// and gives the table as it is now (htmx: the whole panel; without JavaScript: the page).
#[actix_web::test]
async fn a_token_deleted_elsewhere_is_reported_as_gone_and_the_table_refreshed() {
    let app = TestApp::spawn().await;
    let (org, keep) = app.org("Acme");
    let (gone, _) = app.add_token(org.id, "gone");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    sandbox_portal::service::tokens::delete(&mut app.conn(), &Actor::cli(), org.id, gone.id)
        .expect("delete elsewhere");

    for (method, action) in [
        ("POST", "regenerate"),
        ("POST", "reveal"),
        ("POST", "delete"),
        ("POST", "rename"),
        ("GET", "regenerate"),
        ("GET", "delete"),
        ("GET", "rename"),
        ("GET", "row"),
    ] {
        let url = token_url(org.id, gone.id, action);
        let res = match method {
            "GET" => b.hx_get(&url).await,
            _ => b.hx_post(&url, &[("name", "x")]).await,
        };
        assert_eq!(res.status(), 404, "{method} {action}");
        assert_eq!(
            res.headers()["hx-retarget"],
            "#token-panel",
            "{method} {action}"
        );
        assert_eq!(res.headers()["hx-reswap"], "outerHTML");
        let body = res.text().await.unwrap();
        assert!(
            body.contains("This token no longer exists"),
            "{method} {action}: {body}"
        );
        assert!(body.contains(&format!("id=\"token-{}\"", keep.id)));
        assert!(!body.contains(&format!("id=\"token-{}\"", gone.id)));
    }

    let res = b
        .post_form(&token_url(org.id, gone.id, "regenerate"), &[])
        .await;
    assert_eq!(res.status(), 404);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("role=\"alert\">This token no longer exists"),
        "{page}"
    );
    assert!(page.contains("id=\"token-panel\""));
}

/// Every time on the token page, the audit log and the console says its zone, in one format;
/// the audit date filters say they are UTC days.
#[actix_web::test]
async fn times_are_shown_in_one_format_with_their_zone() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = b.text(&page_of(org.id)).await;
    let shown = token
        .last_modified_at
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    assert!(page.contains(&format!(">{shown}</time>")), "{page}");

    let audit = b.text("/admin/audit-log").await;
    assert!(audit.contains(" UTC</time>"), "{audit}");
    assert!(audit.contains("<label for=\"f-from\">From (UTC)</label>"));
    assert!(audit.contains("<label for=\"f-to\">To (UTC, whole day)</label>"));

    let support = app.login_as_support("sam").await;
    let console = support.text(&format!("/support/orgs/{}", org.id)).await;
    let end = db::orgs::find(&mut app.conn(), org.id)
        .unwrap()
        .unwrap()
        .subscription_expires_at
        .unwrap();
    assert!(
        console.contains(&format!(
            "Active until {}",
            end.format("%Y-%m-%d %H:%M UTC")
        )),
        "{console}"
    );
}

/// Audit filters: each label is grouped with its own field.
#[actix_web::test]
async fn each_audit_filter_label_is_grouped_with_its_field() {
    let app = TestApp::spawn().await;
    let support = app.login_as_support("sam").await;
    let audit = support.text("/admin/audit-log").await;
    for (id, label) in [
        ("f-action", "Action"),
        ("f-user", "User"),
        ("f-org", "Organization (name or id)"),
    ] {
        let needle = format!("<div class=\"filter\">\n      <label for=\"{id}\">{label}</label>");
        assert!(audit.contains(&needle), "{needle}: {audit}");
    }
}

/// An org that never had a subscription: the console offers to start one and says it started,
/// and does not call its Sandbox API access enabled.
#[actix_web::test]
async fn an_org_without_a_subscription_gets_one_started_not_renewed() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    db::orgs::set_subscription(&mut app.conn(), org.id, None).unwrap();
    let mut support = app.login_as_support("sam").await;
    let console = support.text(&format!("/support/orgs/{}", org.id)).await;
    assert!(
        console.contains(">Start subscription</button>"),
        "{console}"
    );
    assert!(console.contains("<label for=\"renew-days\">Start for</label>"));
    assert!(!console.contains(">Renew</button>"));
    assert!(!console.contains("badge-ok\">Enabled"), "{console}");
    let list = support.text("/support/orgs").await;
    assert!(list.contains("None (no subscription)"), "{list}");

    support.refresh_csrf_at("/support/orgs").await;
    let res = support
        .post_form(
            &format!("/support/orgs/{}/subscription", org.id),
            &[("action", "renew"), ("days", "30")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let after = support.text(&format!("/support/orgs/{}", org.id)).await;
    assert!(
        after.contains("Subscription started. It runs until "),
        "{after}"
    );
    assert!(after.contains(">Renew</button>"));
}

/// R7 through a page left open: support disables a token meanwhile. Each htmx action the
/// stale page still offers is refused with the reason, and the answer brings the tokens and
/// the banners as they are now, so no "Enabled" row or Add form is left that looks usable.
#[actix_web::test]
async fn a_refused_htmx_action_brings_the_page_up_to_date_with_the_reason() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = b.text(&page_of(org.id)).await;
    assert!(page.contains("id=\"new-token-name\""));
    assert!(page.contains("<div id=\"banners\">"));

    sandbox_portal::service::support::disable_token(
        &mut app.conn(),
        &sandbox_portal::db::audit::Actor::cli(),
        org.id,
        token.id,
        "terms violation",
    )
    .unwrap();

    let regenerate = format!("{PAGE}/tokens/{}/regenerate?org={}", token.id, org.id);
    for res in [
        b.hx_post(&add_url(org.id), &[("name", "more")]).await,
        b.hx_get(&regenerate).await,
        b.hx_post(&token_url(org.id, token.id, "regenerate"), &[])
            .await,
        b.hx_post(&token_url(org.id, token.id, "delete"), &[]).await,
    ] {
        let url = res.url().to_string();
        assert_eq!(res.status(), 403, "{url}");
        assert_eq!(res.headers()["hx-retarget"], "#token-panel", "{url}");
        assert_eq!(res.headers()["hx-reswap"], "outerHTML", "{url}");
        let body = res.text().await.unwrap();
        assert!(
            body.trim_start().starts_with("<section id=\"token-panel\""),
            "{url}: {body}"
        );
        // The panel as it is now: no Add form, the token disabled without its controls.
        assert!(!body.contains("id=\"new-token-name\""), "{url}");
        assert!(body.contains("Disabled"), "{url}");
        assert!(
            !body.contains(&format!("/tokens/{}/regenerate", token.id)),
            "{url}"
        );
        assert!(
            !body.contains(&format!("/tokens/{}/delete", token.id)),
            "{url}"
        );
        // The banner that explains it, and the reason in the flash area.
        let banners = body
            .split("<div id=\"banners\" hx-swap-oob=\"true\">")
            .nth(1)
            .unwrap_or_else(|| panic!("{url}: no banners: {body}"));
        assert!(banners.contains("class=\"banner "), "{url}: {banners}");
        let flash = body
            .split("<div id=\"flash\" hx-swap-oob=\"innerHTML\">")
            .nth(1)
            .unwrap_or_else(|| panic!("{url}: no flash: {body}"));
        assert!(flash.contains("alert-error"), "{url}: {flash}");
        assert!(flash.contains("disabled"), "{url}: {flash}");
    }
    assert_eq!(app.tokens(org.id).len(), 1, "nothing changed");
}

/// The flash area tells about the last action only: an htmx answer with nothing to say
/// empties it, so "Token added" does not stay beside the next action's answer.
#[actix_web::test]
async fn every_htmx_answer_replaces_the_flash_message() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    const EMPTY: &str = "<div id=\"flash\" hx-swap-oob=\"innerHTML\"></div>";

    let added = b.hx_post(&add_url(org.id), &[("name", "Prod")]).await;
    assert_eq!(added.status(), 201);
    let body = added.text().await.unwrap();
    assert!(body.contains("Prod") && body.contains("added."), "{body}");
    for (what, res) in [
        (
            "taken name",
            b.hx_post(&add_url(org.id), &[("name", "Prod")]).await,
        ),
        (
            "show",
            b.hx_post(&token_url(org.id, token.id, "reveal"), &[]).await,
        ),
        ("hide", b.hx_get(&token_url(org.id, token.id, "row")).await),
        (
            "rename form",
            b.hx_get(&token_url(org.id, token.id, "rename")).await,
        ),
        (
            "bad rename",
            b.hx_post(&token_url(org.id, token.id, "rename"), &[("name", "")])
                .await,
        ),
        (
            "dialog",
            b.hx_get(&token_url(org.id, token.id, "delete")).await,
        ),
    ] {
        let body = res.text().await.unwrap();
        assert!(body.ends_with(EMPTY), "{what}: {body}");
    }
}

/// Support console with JavaScript: a refused disable reason is shown beside its own field
/// (the row it is about, the field marked and focused), as without JavaScript, not in a
/// banner at the top that does not say which token.
#[actix_web::test]
async fn a_refused_reason_in_the_support_console_is_shown_at_its_field_with_htmx() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let (second, _) = app.add_token(org.id, "second");
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at(&format!("/support/orgs/{}", org.id))
        .await;

    let path = format!("/support/orgs/{}/tokens/{}/disable", org.id, second.id);
    let res = b.hx_post(&path, &[("reason", "   ")]).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["hx-retarget"], "#main");
    assert_eq!(res.headers()["hx-reselect"], "#main");
    assert_eq!(res.headers()["hx-reswap"], "outerHTML");
    let page = res.text().await.unwrap();
    let field = page
        .split(&format!("<input id=\"reason-{}\"", second.id))
        .nth(1)
        .and_then(|s| s.split('>').next())
        .unwrap_or_else(|| panic!("{page}"));
    assert!(field.contains("aria-invalid=\"true\""), "{field}");
    assert!(field.contains("autofocus"), "{field}");
    assert!(
        field.contains(&format!("aria-describedby=\"reason-error-{}\"", second.id)),
        "{field}"
    );
    assert!(page.contains(&format!("id=\"reason-error-{}\"", second.id)));
    assert!(page.contains("Give a reason"));
    // The other row is untouched.
    let other = page
        .split(&format!("<input id=\"reason-{}\"", token.id))
        .nth(1)
        .and_then(|s| s.split('>').next())
        .unwrap();
    assert!(!other.contains("aria-invalid"), "{other}");
    assert!(app.tokens(org.id).iter().all(|t| t.disabled_at.is_none()));
}

/// R8/R10 banners speak to who reads them: the org's admins are told to contact support,
/// support staff (who can open any org's page) where to act in their console.
#[actix_web::test]
async fn banners_tell_support_staff_where_to_act_instead_of_to_contact_support() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    db::orgs::set_subscription(
        &mut app.conn(),
        org.id,
        Some(chrono::Utc::now() - chrono::Duration::days(1)),
    )
    .unwrap();
    let admin = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let support = app.login_as_support("sam").await;
    let theirs = admin.text(&page_of(org.id)).await;
    let staff = support.text(&page_of(org.id)).await;
    assert!(
        theirs.contains("Contact Zscaler Support to renew"),
        "{theirs}"
    );
    assert!(!staff.contains("Contact Zscaler Support"), "{staff}");
    assert!(
        staff.contains("Renew it in the Organizations console"),
        "{staff}"
    );
}

/// R9: saving a rename without changing the name changes nothing (Last Modified and the audit
/// trail stay as they were) and says so; a name taken by another token in another case is
/// refused naming that token as it is spelt.
#[actix_web::test]
async fn an_unchanged_rename_is_not_a_change_and_a_taken_name_names_its_holder() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    app.add_token(org.id, "Prod");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let audit_before = app.audit_actions().len();
    let modified = app.tokens(org.id)[0].last_modified_at;

    let res = b
        .hx_post(
            &token_url(org.id, token.id, "rename"),
            &[("name", "Token 1")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("The name is unchanged"), "{body}");
    let now = app.tokens(org.id);
    let t = now.iter().find(|t| t.id == token.id).unwrap();
    assert_eq!(t.last_modified_at, modified);
    assert_eq!(app.audit_actions().len(), audit_before, "nothing audited");

    let res = b
        .hx_post(&token_url(org.id, token.id, "rename"), &[("name", "PROD")])
        .await;
    assert_eq!(res.status(), 409);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("A token named &#34;Prod&#34; already exists"),
        "{body}"
    );
    assert!(body.contains("differ only in case"), "{body}");
    let res = b.hx_post(&add_url(org.id), &[("name", "prod")]).await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("&#34;Prod&#34;"));
}

/// A partner (or support) who picked an org keeps it: a link that names none, like the main
/// navigation's, opens the org last chosen rather than the first by name, as long as it may
/// still be seen.
#[actix_web::test]
async fn the_token_page_reopens_the_org_last_chosen() {
    let app = TestApp::spawn().await;
    let (acme, _) = app.org("Acme");
    let (globex, _) = app.org("Globex");
    let p = app
        .login_as("pat", Role::PartnerViewer, &[acme.id, globex.id])
        .await;
    let shown = |page: &str| {
        page.split("<p class=\"org-name\">")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        shown(&p.text(PAGE).await),
        "Acme",
        "the first by name at first"
    );
    assert_eq!(shown(&p.text(&page_of(globex.id)).await), "Globex");
    assert_eq!(shown(&p.text(PAGE).await), "Globex", "the one chosen");
    assert_eq!(shown(&p.text(&page_of(acme.id)).await), "Acme");
    assert_eq!(shown(&p.text(PAGE).await), "Acme");

    let mut s = app.login_as_support("sam").await;
    assert_eq!(shown(&s.text(&page_of(globex.id)).await), "Globex");
    assert_eq!(shown(&s.text(PAGE).await), "Globex");

    // A cookie of its own, not a session write; gone at logout.
    let res = s.get(&page_of(acme.id)).await;
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with(&format!("sp_last_org={}", acme.id)),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(s.cookie_header().contains("sp_last_org="));
    s.refresh_csrf_at(PAGE).await;
    s.post_form("/logout", &[]).await;
    assert!(
        !s.cookie_header().contains("sp_last_org="),
        "{}",
        s.cookie_header()
    );
}
