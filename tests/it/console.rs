//! The support console's forms and pages, as a support person uses them.
use crate::helpers::*;
use sandbox_portal::db;
use uuid::Uuid;

fn org_page(org: Uuid) -> String {
    format!("/support/orgs/{org}")
}

/// The input named `name`, as rendered.
fn input<'a>(page: &'a str, name: &str) -> &'a str {
    let at = page
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("an input named {name} in {page}"));
    let start = page[..at].rfind("<input").unwrap();
    let end = page[at..].find('>').unwrap() + at;
    &page[start..=end]
}

/// The input is marked invalid and described by a message that the page shows.
fn refused_beside(page: &str, name: &str, message: &str) {
    let field = input(page, name);
    assert!(field.contains("aria-invalid=\"true\""), "{field}");
    let id = field
        .split("aria-describedby=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("{name} described by its message: {field}"));
    assert!(
        page.contains(&format!("id=\"{id}\">{message}<")),
        "{name}: {message:?} at #{id} in {page}"
    );
}

fn accepted(page: &str, name: &str) {
    let field = input(page, name);
    assert!(!field.contains("aria-invalid"), "{field}");
}

#[actix_web::test]
async fn every_bad_limit_is_refused_beside_its_field_at_once_keeping_what_was_typed() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at(&org_page(org.id)).await;
    let typed = [
        ("token_limit", "x"),
        ("daily_quota", "-1"),
        ("abuse_threshold", "1e3"),
    ];
    let url = format!("/support/orgs/{}/limits", org.id);

    for htmx in [false, true] {
        let res = if htmx {
            b.hx_post(&url, &typed).await
        } else {
            b.post_form(&url, &typed).await
        };
        assert_eq!(res.status(), 400, "htmx: {htmx}");
        if htmx {
            // Only the form's card, in place of the one on the page.
            assert_eq!(res.headers()["hx-retarget"], "#limits-card");
            assert_eq!(res.headers()["hx-reswap"], "outerHTML");
        }
        let page = res.text().await.unwrap();
        assert_eq!(page.contains("<html"), !htmx, "{page}");
        assert!(page.contains("id=\"limits-card\""), "{page}");
        refused_beside(&page, "token_limit", "Token limit must be a whole number.");
        refused_beside(&page, "daily_quota", "Daily quota cannot be negative.");
        refused_beside(
            &page,
            "abuse_threshold",
            "Abuse threshold must be a whole number.",
        );
        assert!(page.contains("correct the 3 fields marked below"), "{page}");
        for (name, value) in typed {
            assert!(
                input(&page, name).contains(&format!("value=\"{value}\"")),
                "{name} keeps {value}"
            );
        }
    }

    // One bad field among good ones: only it is marked, the others keep what was typed.
    let res = b
        .post_form(
            &url,
            &[
                ("token_limit", "101"),
                ("daily_quota", "7"),
                ("abuse_threshold", "99999999999"),
            ],
        )
        .await;
    assert_eq!(res.status(), 400);
    let page = res.text().await.unwrap();
    refused_beside(
        &page,
        "token_limit",
        "The token limit must be between 1 and 100.",
    );
    accepted(&page, "daily_quota");
    assert!(input(&page, "daily_quota").contains("value=\"7\""));
    refused_beside(&page, "abuse_threshold", "Abuse threshold is too large.");

    let row = db::orgs::find(&mut app.conn(), org.id).unwrap().unwrap();
    assert_eq!(
        (row.token_limit, row.daily_quota, row.abuse_threshold),
        (5, 100, 1000),
        "nothing was written"
    );
    assert!(
        !app.audit_actions().iter().any(|a| a.0 == "LIMITS_CHANGE"),
        "nothing was audited"
    );
}

#[actix_web::test]
async fn every_bad_provisioning_field_is_refused_beside_it_at_once_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let mut b = app.login_as_support("sam").await;
    b.refresh_csrf_at("/support/orgs").await;
    let typed = [
        ("name", "   "),
        ("cloud", "zscaler\u{7}.net"),
        ("subscription_days", "0"),
        ("token_limit", "x"),
        ("daily_quota", "-1"),
        ("abuse_threshold", "1e3"),
    ];

    for htmx in [false, true] {
        let res = if htmx {
            b.hx_post("/support/orgs", &typed).await
        } else {
            b.post_form("/support/orgs", &typed).await
        };
        assert_eq!(res.status(), 400, "htmx: {htmx}");
        if htmx {
            assert_eq!(res.headers()["hx-retarget"], "#provision-card");
        }
        let page = res.text().await.unwrap();
        assert_eq!(page.contains("<html"), !htmx, "{page}");
        refused_beside(
            &page,
            "name",
            "The organization name must be 1 to 200 characters, without control characters.",
        );
        refused_beside(
            &page,
            "cloud",
            "The cloud name must be a domain name such as zscalerbeta.net: letters, digits and \
             hyphens, in parts separated by dots.",
        );
        refused_beside(
            &page,
            "subscription_days",
            "The subscription must last 1 to 3650 days.",
        );
        refused_beside(&page, "token_limit", "Token limit must be a whole number.");
        refused_beside(&page, "daily_quota", "Daily quota cannot be negative.");
        refused_beside(
            &page,
            "abuse_threshold",
            "Abuse threshold must be a whole number.",
        );
        assert!(page.contains("correct the 6 fields marked below"), "{page}");
        for (name, value) in [("subscription_days", "0"), ("abuse_threshold", "1e3")] {
            assert!(input(&page, name).contains(&format!("value=\"{value}\"")));
        }
    }
    assert!(
        db::orgs::search(&mut app.conn(), None, 0, 10)
            .unwrap()
            .is_empty(),
        "no org was created"
    );

    // A taken name is the name's refusal, the rest kept as typed.
    app.org("Initech");
    let res = b
        .post_form(
            "/support/orgs",
            &[("name", "initech"), ("token_limit", "3")],
        )
        .await;
    assert_eq!(res.status(), 409);
    let page = res.text().await.unwrap();
    refused_beside(
        &page,
        "name",
        "An organization named &#34;initech&#34; already exists.",
    );
    accepted(&page, "token_limit");
    assert!(input(&page, "token_limit").contains("value=\"3\""));
}

/// Where the page's link with this text leads, as the browser would follow it.
fn link(page: &str, text: &str) -> Option<String> {
    let end = page.find(&format!("\">{text}</a>"))?;
    let start = page[..end].rfind("href=\"")? + "href=\"".len();
    Some(page[start..end].replace("&amp;", "&"))
}

/// The org names a list page shows, in order.
fn names_on(page: &str) -> Vec<String> {
    page.split("<td data-label=\"Name\"><a href=\"/support/orgs/")
        .skip(1)
        .filter_map(|s| Some(s.split_once("\">")?.1.split_once("</a>")?.0.to_owned()))
        .collect()
}

fn orgs_named(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("Org {i:03}")).collect()
}

#[actix_web::test]
async fn the_org_list_pages_back_to_the_previous_and_first_page_within_the_search() {
    let app = TestApp::spawn().await;
    for i in 0..110 {
        app.org(&format!("Org {i:03}"));
    }
    app.org("Alpha");
    app.org("Zeta Corp");
    let b = app.login_as_support("sam").await;

    let first = b.text("/support/orgs?q=org").await;
    assert_eq!(names_on(&first), orgs_named(0..50));
    assert_eq!(link(&first, "First page"), None, "already there");
    assert_eq!(link(&first, "Previous page"), None);

    let second = b.text(&link(&first, "Next page").unwrap()).await;
    assert_eq!(names_on(&second), orgs_named(50..100));
    assert_eq!(
        link(&second, "First page").as_deref(),
        Some("/support/orgs?q=org")
    );
    let third = b.text(&link(&second, "Next page").unwrap()).await;
    assert_eq!(names_on(&third), orgs_named(100..110), "the search holds");
    assert_eq!(link(&third, "Next page"), None, "the end");

    let previous = link(&third, "Previous page").unwrap();
    assert!(
        previous.starts_with("/support/orgs?q=org&before="),
        "{previous}"
    );
    let back = b.text(&previous).await;
    assert_eq!(names_on(&back), orgs_named(50..100), "page 2 again");
    assert_eq!(link(&back, "Next page"), link(&second, "Next page"));
    let start = b.text(&link(&back, "Previous page").unwrap()).await;
    assert_eq!(names_on(&start), orgs_named(0..50), "page 1 again");
    assert_eq!(link(&start, "Previous page"), None);
    assert_eq!(link(&start, "First page"), None);
    assert_eq!(link(&start, "Next page"), link(&first, "Next page"));
    let again = b.text(&link(&third, "First page").unwrap()).await;
    assert_eq!(names_on(&again), orgs_named(0..50));

    // Without a search the list pages back through every org.
    let all = b.text("/support/orgs").await;
    let all2 = b.text(&link(&all, "Next page").unwrap()).await;
    assert_eq!(names_on(&all2)[0], "Org 049");
    let all1 = b.text(&link(&all2, "Previous page").unwrap()).await;
    assert_eq!(names_on(&all1), names_on(&all));
    assert_eq!(names_on(&all1)[0], "Alpha");

    // An org added in front meanwhile: Previous shows the 50 orgs just before page 2, and the
    // page before those, one org short of a page, is the first page, full, not a stub.
    app.org("Org 000a");
    let before_second = b.text(&link(&second, "Previous page").unwrap()).await;
    let mut want = orgs_named(1..50);
    want.insert(0, "Org 000a".into());
    assert_eq!(names_on(&before_second), want);
    let start = b
        .text(&link(&before_second, "Previous page").unwrap())
        .await;
    let mut want = orgs_named(0..49);
    want.insert(1, "Org 000a".into());
    assert_eq!(names_on(&start), want);
    assert_eq!(link(&start, "Previous page"), None);

    // A cursor that is not one is the first page, never an error.
    let res = b.get("/support/orgs?q=org&before=nonsense").await;
    assert_eq!(res.status(), 200);
    assert_eq!(names_on(&res.text().await.unwrap())[0], "Org 000");
}
