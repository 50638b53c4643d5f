use crate::helpers::*;
use sandbox_portal::db;
use sandbox_portal::domain::role::Role;

#[actix_web::test]
async fn r1_the_page_shows_breadcrumb_base_url_and_the_r12_columns() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = b.text(PAGE).await;
    for needle in [
        "Administration",
        "Cloud Service API Security",
        "aria-current=\"page\">Sandbox API Token",
        "https://csbapi.zscalerbeta.net",
        "Name</th>",
        "Sandbox API Token</th>",
        "Status</th>",
        "Last Modified By</th>",
        "Last Modified On</th>",
        "Last Used</th>",
        "Calls today</th>",
        "Never",
        "Enabled",
        &token.name,
    ] {
        assert!(page.contains(needle), "page lacks {needle}");
    }
}

#[actix_web::test]
async fn r3_the_page_never_contains_a_token_value_until_it_is_revealed() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = b.text(PAGE).await;
    assert!(!page.contains(value.expose()));
    assert!(
        page.contains(&value.hint()),
        "the masked value shows the last characters"
    );

    let res = b.hx_post(&token_url(org.id, token.id, "reveal"), &[]).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let fragment = res.text().await.unwrap();
    assert!(
        fragment.trim_start().starts_with("<tr"),
        "htmx gets the row only"
    );
    assert!(fragment.contains(value.expose()));
    assert!(fragment.contains("Hide token"));

    // Hiding again gives the masked row, and the plain page still has no value.
    let hidden = b
        .hx_get(&token_url(org.id, token.id, "row"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!hidden.contains(value.expose()));
    assert!(!b.text(PAGE).await.contains(value.expose()));

    let reveals = app
        .audit_actions()
        .into_iter()
        .filter(|r| r.0 == "REVEAL_TOKEN")
        .count();
    assert_eq!(reveals, 1, "every reveal is audited");
    assert!(!app.audit_dump().contains(value.expose()));
}

#[actix_web::test]
async fn r3_reveal_works_without_javascript_and_copy_returns_the_value() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let res = b
        .post_form(&token_url(org.id, token.id, "reveal"), &[])
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("<html"), "a full page without htmx");
    assert!(page.contains(value.expose()));

    let res = b.hx_post(&token_url(org.id, token.id, "copy"), &[]).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    assert_eq!(res.text().await.unwrap(), value.expose());
    assert_eq!(
        app.audit_actions()
            .iter()
            .filter(|r| r.0 == "REVEAL_TOKEN")
            .count(),
        2
    );
}

#[actix_web::test]
async fn r4_the_sixth_add_is_refused_and_add_disappears_with_its_reason() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    for i in 2..=5 {
        let res = b
            .hx_post(&add_url(org.id), &[("name", &format!("t{i}"))])
            .await;
        assert_eq!(res.status(), 201, "add #{i}");
        let panel = res.text().await.unwrap();
        assert!(panel.contains(&format!("{i} of 5")));
    }
    let page = b.text(PAGE).await;
    assert!(
        !page.contains("Add Sandbox API Token"),
        "Add is absent at the limit"
    );
    assert!(page.contains("maximum of 5 Sandbox API tokens"));

    let forced = b.post_form(&add_url(org.id), &[("name", "six")]).await;
    assert_eq!(forced.status(), 409);
    assert!(
        forced
            .text()
            .await
            .unwrap()
            .contains("Delete a token before adding")
    );
    let forced_htmx = b.hx_post(&add_url(org.id), &[]).await;
    assert_eq!(forced_htmx.status(), 409);
    // The panel as it is (no Add, with why) and the reason in the flash area.
    assert_eq!(forced_htmx.headers()["hx-retarget"], "#token-panel");
    let panel = forced_htmx.text().await.unwrap();
    assert!(panel.contains("maximum of 5 Sandbox API tokens"), "{panel}");
    assert!(!panel.contains("id=\"new-token-name\""));
    assert!(panel.contains("Delete a token before adding"), "{panel}");
    assert_eq!(app.tokens(org.id).len(), 5);
}

#[actix_web::test]
async fn r4_twenty_concurrent_adds_starting_from_four_tokens_leave_exactly_five() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    for i in 2..=4 {
        app.add_token(org.id, &format!("t{i}"));
    }
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let url = add_url(org.id);
    let results = futures::future::join_all((0..20).map(|_| b.hx_post(&url, &[]))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(app.tokens(org.id).len(), 5);
}

#[actix_web::test]
async fn r5_after_regenerate_the_old_value_matches_no_token_and_the_new_one_does() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let old = app.value_of(org.id, token.id);
    assert_eq!(app.token_for_value(&old).map(|t| t.id), Some(token.id));
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;

    let dialog = b
        .hx_get(&token_url(org.id, token.id, "regenerate"))
        .await
        .text()
        .await
        .unwrap();
    assert!(dialog.contains("<dialog"));
    assert!(dialog.contains("This action cannot be undone."));

    let res = b
        .hx_post(&token_url(org.id, token.id, "regenerate"), &[])
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("no-store")
    );
    let row = res.text().await.unwrap();
    let new = app.value_of(org.id, token.id);
    assert_ne!(new, old);
    assert!(row.contains(new.expose()), "the new value is shown once");
    assert!(app.token_for_value(&old).is_none());
    assert_eq!(app.token_for_value(&new).map(|t| t.id), Some(token.id));
    assert!(
        app.audit_actions()
            .iter()
            .any(|r| r.0 == "REGENERATE_TOKEN" && r.2 == Some(token.id))
    );
    let dump = app.audit_dump();
    assert!(!dump.contains(old.expose()) && !dump.contains(new.expose()));
}

#[actix_web::test]
async fn r6_delete_asks_first_then_removes_the_token_and_its_value() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let (second, second_value) = app.add_token(org.id, "second");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;

    // Without JavaScript the confirmation is a full page with the dialog open.
    let confirm = b.get(&token_url(org.id, second.id, "delete")).await;
    assert_eq!(confirm.status(), 200);
    let confirm = confirm.text().await.unwrap();
    assert!(confirm.contains("<html") && confirm.contains("<dialog"));
    assert!(confirm.contains("This action cannot be undone."));
    assert_eq!(app.tokens(org.id).len(), 2, "asking changes nothing");

    let res = b
        .post_form(&token_url(org.id, second.id, "delete"), &[])
        .await;
    assert_eq!(res.status(), 303);
    let left: Vec<_> = app.tokens(org.id).into_iter().map(|t| t.id).collect();
    assert_eq!(left, vec![token.id]);
    // The page it leads to confirms the delete, once.
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        b.text(&next)
            .await
            .contains("Token &#34;second&#34; deleted.")
    );
    assert!(!b.text(&next).await.contains("deleted."));
    assert!(app.token_for_value(&second_value).is_none());
    assert!(
        app.audit_actions()
            .iter()
            .any(|r| r.0 == "DELETE_TOKEN" && r.2 == Some(second.id))
    );

    let res = b.hx_post(&token_url(org.id, token.id, "delete"), &[]).await;
    assert_eq!(res.status(), 200);
    let panel = res.text().await.unwrap();
    assert!(panel.contains("id=\"token-panel\""));
    assert!(panel.contains("No Sandbox API tokens yet."));
}

#[actix_web::test]
async fn r9_rename_validates_the_name_and_keeps_the_form_open() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    app.add_token(org.id, "taken");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let url = token_url(org.id, token.id, "rename");

    let form = b.hx_get(&url).await.text().await.unwrap();
    assert!(form.contains("name=\"name\""));

    for (bad, message, status) in [
        ("   ", "Enter a name", 400),
        ("elevenchars", "at most 10 characters", 400),
        ("TAKEN", "already exists", 409),
    ] {
        let res = b.hx_post(&url, &[("name", bad)]).await;
        assert_eq!(res.status(), status, "{bad:?}");
        let row = res.text().await.unwrap();
        assert!(row.contains(message), "{bad:?} -> {row}");
        assert!(row.contains("aria-invalid=\"true\""));
    }
    assert_eq!(
        app.tokens(org.id)[0].name,
        token.name,
        "nothing was written"
    );

    let res = b.hx_post(&url, &[("name", "  ci-prod  ")]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.tokens(org.id)[0].name, "ci-prod");
    let res = b.post_form(&url, &[("name", "")]).await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text().await.unwrap().contains("<html"),
        "a full page without htmx"
    );
    let rows = app.audit_actions();
    assert_eq!(rows.iter().filter(|r| r.0 == "RENAME_TOKEN").count(), 1);
}

#[actix_web::test]
async fn view_only_users_see_no_controls_and_a_forced_post_is_refused() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    for (name, role, may_reveal) in [
        ("viewer", Role::OrgViewer, true),
        ("connector", Role::ConnectorAdmin, true),
        ("partner", Role::PartnerViewer, false),
    ] {
        let b = app.login_as(name, role, &[org.id]).await;
        let page = b.text(&page_of(org.id)).await;
        assert!(page.contains(&token.name), "{name} sees the token");
        assert!(!page.contains("Add Sandbox API Token"), "{name}");
        assert!(!page.contains("Regenerate token"), "{name}");
        assert!(!page.contains("Delete token"), "{name}");
        assert!(!page.contains("Rename token"), "{name}");
        assert_eq!(page.contains("Show token"), may_reveal, "{name}");
        assert_eq!(
            page.contains("Cloud Connector Portal"),
            role == Role::ConnectorAdmin,
            "{name}: connector admins get the Cloud Connector Portal's view-only page"
        );
        for action in ["regenerate", "delete", "rename"] {
            let res = b
                .post_form(&token_url(org.id, token.id, action), &[("name", "x")])
                .await;
            assert_eq!(res.status(), 403, "{name} {action}");
        }
        assert_eq!(b.post_form(&add_url(org.id), &[]).await.status(), 403);
        let reveal = b
            .post_form(&token_url(org.id, token.id, "reveal"), &[])
            .await;
        assert_eq!(reveal.status().is_success(), may_reveal, "{name} reveal");
    }
    assert_eq!(app.tokens(org.id).len(), 1);
    assert_eq!(app.tokens(org.id)[0].name, token.name);
}

#[actix_web::test]
async fn another_orgs_token_id_gives_404() {
    let app = TestApp::spawn().await;
    let (mine, _) = app.org("Acme");
    let (theirs, their_token) = app.org("Globex");
    let b = app.login_as("alice", Role::OrgAdmin, &[mine.id]).await;
    // Their token through my org, and my request pointed at their org: both unknown.
    for path in [
        token_url(mine.id, their_token.id, "reveal"),
        token_url(mine.id, their_token.id, "regenerate"),
        token_url(mine.id, their_token.id, "delete"),
        token_url(theirs.id, their_token.id, "delete"),
    ] {
        assert_eq!(b.post_form(&path, &[]).await.status(), 404, "{path}");
    }
    assert_eq!(b.get(&page_of(theirs.id)).await.status(), 404);
    assert_eq!(b.get(&format!("{PAGE}?org=not-a-uuid")).await.status(), 404);
    assert_eq!(app.tokens(theirs.id).len(), 1);
}

#[actix_web::test]
async fn r7_a_provider_disabled_token_shows_disabled_and_loses_its_controls() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let (other, _) = app.add_token(org.id, "other");
    db::tokens::set_disabled(
        &mut app.conn(),
        org.id,
        token.id,
        Some(("terms violation", "support")),
    )
    .unwrap();
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = b.text(PAGE).await;
    assert!(page.contains("badge-danger\">Disabled</span>"));
    assert!(page.contains("Contact support"));
    assert!(!page.contains(&format!("Regenerate token {}", token.name)));
    assert!(page.contains(&format!("Regenerate token {}", other.name)));
    assert!(
        !page.contains("Add Sandbox API Token"),
        "Add is removed for the whole org"
    );
    assert!(page.contains("disabled by Zscaler or your service provider"));
    for action in ["regenerate", "delete"] {
        let res = b.post_form(&token_url(org.id, token.id, action), &[]).await;
        assert_eq!(res.status(), 403, "{action}");
    }
    assert_eq!(b.post_form(&add_url(org.id), &[]).await.status(), 403);
    assert_eq!(app.tokens(org.id).len(), 2);
}

#[actix_web::test]
async fn r8_an_expired_subscription_makes_the_page_read_only() {
    use diesel::prelude::*;
    use sandbox_portal::db::schema::organizations as o;
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let value = app.value_of(org.id, token.id);
    diesel::update(o::table.find(org.id))
        .set(o::subscription_expires_at.eq(chrono::Utc::now() - chrono::Duration::days(1)))
        .execute(&mut app.conn())
        .unwrap();
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = b.text(PAGE).await;
    assert!(page.contains("Sandbox subscription expired"));
    assert!(page.contains("Disabled (subscription expired)"));
    for control in [
        "Add Sandbox API Token",
        "Regenerate token",
        "Delete token",
        "Rename token",
        "Show token",
        "Copy token",
    ] {
        assert!(!page.contains(control), "{control}");
    }
    // R13: reveal and copy are refused as the API refuses its POST .../reveal (R8).
    for (action, fields) in [
        ("regenerate", vec![]),
        ("delete", vec![]),
        ("rename", vec![("name", "new")]),
        ("reveal", vec![]),
    ] {
        let res = b
            .post_form(&token_url(org.id, token.id, action), &fields)
            .await;
        assert_eq!(res.status(), 403, "{action}");
    }
    assert_eq!(
        b.post_form(&token_url(org.id, token.id, "copy"), &[])
            .await
            .status(),
        403
    );
    assert_eq!(b.post_form(&add_url(org.id), &[]).await.status(), 403);
    let reveals = app
        .audit_actions()
        .into_iter()
        .filter(|r| r.0 == "REVEAL_TOKEN" && r.1 == "SUCCESS")
        .count();
    assert_eq!(reveals, 0, "refused, and audited as refused only");
    // Not invalidated: after renewal the same value shows again.
    diesel::update(o::table.find(org.id))
        .set(o::subscription_expires_at.eq(chrono::Utc::now() + chrono::Duration::days(1)))
        .execute(&mut app.conn())
        .unwrap();
    let res = b
        .post_form(&token_url(org.id, token.id, "reveal"), &[])
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains(value.expose()));
}

#[actix_web::test]
async fn every_token_action_writes_one_audit_row() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let before = app.audit_actions().len();
    b.hx_post(&add_url(org.id), &[("name", "new")]).await;
    let new = app
        .tokens(org.id)
        .into_iter()
        .find(|t| t.name == "new")
        .unwrap();
    b.hx_post(&token_url(org.id, token.id, "reveal"), &[]).await;
    b.hx_post(
        &token_url(org.id, token.id, "rename"),
        &[("name", "renamed")],
    )
    .await;
    b.hx_post(&token_url(org.id, token.id, "regenerate"), &[])
        .await;
    b.hx_post(&token_url(org.id, new.id, "delete"), &[]).await;
    let actions: Vec<String> = app
        .audit_actions()
        .into_iter()
        .skip(before)
        .map(|r| r.0)
        .collect();
    assert_eq!(
        actions,
        [
            "ADD_TOKEN",
            "REVEAL_TOKEN",
            "RENAME_TOKEN",
            "REGENERATE_TOKEN",
            "DELETE_TOKEN"
        ]
    );
}

#[actix_web::test]
async fn a_partner_viewer_switches_between_granted_orgs() {
    let app = TestApp::spawn().await;
    let (a, ta) = app.org("Acme");
    let (g, tg) = app.org("Globex");
    let (_hidden, _) = app.org("Initech");
    let b = app
        .login_as("partner", Role::PartnerViewer, &[a.id, g.id])
        .await;
    let page = b.text(&page_of(g.id)).await;
    assert!(page.contains("org-switcher"));
    assert!(page.contains("Acme") && page.contains("Globex") && !page.contains("Initech"));
    assert!(page.contains(&tg.value_hint) && !page.contains(&ta.value_hint));
}

/// R9 on Add without JavaScript: a refused name comes back on the token page with the reason
/// and the name as typed, not on an error page that loses it; nothing is added.
#[actix_web::test]
async fn r9_a_refused_add_without_javascript_keeps_the_typed_name_and_says_why() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    app.add_token(org.id, "taken");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    for (typed, message, status) in [
        ("elevenchars", "at most 10 characters", 400),
        ("TAKEN", "already exists", 409),
    ] {
        let res = b.post_form(&add_url(org.id), &[("name", typed)]).await;
        assert_eq!(res.status(), status, "{typed}");
        let page = res.text().await.unwrap();
        assert!(page.contains("id=\"token-panel\""), "the token page");
        assert!(page.contains(message), "{typed}: {page}");
        assert!(
            page.contains(&format!("value=\"{typed}\"")),
            "the name as typed: {page}"
        );
    }
    assert_eq!(app.tokens(org.id).len(), 2);
}

/// §5: support's org switcher lists a bounded number of orgs, but the page always names the org
/// it shows, the switcher always holds and selects it, and the page says where the others are.
#[actix_web::test]
async fn support_with_more_orgs_than_the_switcher_lists_sees_the_org_shown_named_and_selected() {
    use diesel::prelude::*;
    use sandbox_portal::db::schema::organizations as o;
    let app = TestApp::spawn().await;
    // More orgs than the switcher lists, all sorted before the one looked at.
    let names: Vec<_> = (0..205)
        .map(|i| o::name.eq(format!("Acme {i:03}")))
        .collect();
    diesel::insert_into(o::table)
        .values(&names)
        .execute(&mut app.conn())
        .unwrap();
    let (zeta, _) = app.org("Zeta Corp");
    let acme: uuid::Uuid = o::table
        .filter(o::name.eq("Acme 000"))
        .select(o::id)
        .first(&mut app.conn())
        .unwrap();
    let b = app.login_as_support("sam").await;

    for (id, name) in [(zeta.id, "Zeta Corp"), (acme, "Acme 000")] {
        let page = b.text(&page_of(id)).await;
        assert!(
            page.contains(&format!("<p class=\"org-name\">{name} ")),
            "{name} is named: {page}"
        );
        assert_eq!(
            page.matches(&format!("<option value=\"{id}\"")).count(),
            1,
            "{name} is in the switcher once"
        );
        assert!(
            page.contains(&format!("<option value=\"{id}\" selected>{name}</option>")),
            "{name} is selected"
        );
        assert_eq!(
            page.matches(" selected>").count(),
            1,
            "only {name} is selected"
        );
        assert!(
            page.contains("<a href=\"/support/orgs\">Find any other in the Organizations console"),
            "the way to the others"
        );
    }
}

/// R5 without JavaScript: Regenerate and Add answer with a redirect (a reload cannot regenerate
/// or add again), and the page they lead to shows the new value once, not cached; the session
/// store holds only the token's id, never the value.
#[actix_web::test]
async fn without_javascript_a_new_value_is_shown_once_after_a_redirect() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    let page = format!("{PAGE}?org={}", org.id);

    let res = b
        .post_form(&token_url(org.id, token.id, "regenerate"), &[])
        .await;
    assert_eq!(res.status(), 303, "regenerate redirects");
    let value = app.value_of(org.id, token.id);
    use diesel::prelude::*;
    let sessions: Vec<String> = db::schema::web_sessions::table
        .select(diesel::dsl::sql::<diesel::sql_types::Text>("state::text"))
        .load(&mut app.conn())
        .unwrap();
    assert!(
        sessions.iter().all(|s| !s.contains(value.expose())),
        "no value in the session store"
    );
    let shown = b.get(&page).await;
    assert_eq!(shown.headers()["cache-control"], "no-store, max-age=0");
    let body = shown.text().await.unwrap();
    assert!(body.contains(value.expose()), "shown once");
    assert!(body.contains("regenerated"));
    let again = b.text(&page).await;
    assert!(!again.contains(value.expose()), "and only once");

    let res = b.post_form(&add_url(org.id), &[("name", "second")]).await;
    assert_eq!(res.status(), 303, "add redirects");
    let added = app
        .tokens(org.id)
        .into_iter()
        .find(|t| t.name == "second")
        .unwrap();
    let added_value = app.value_of(org.id, added.id);
    assert!(b.text(&page).await.contains(added_value.expose()));
    assert!(!b.text(&page).await.contains(added_value.expose()));
}
