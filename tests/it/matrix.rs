//! SPEC §4 through the web UI: every web route × every role × own org and another org. (The JSON
//! API has its own matrix in api.rs.) Deny by default: 403 for a role that may not act, 404 for
//! an object of an org the user may not see, and never a 2xx/3xx that the matrix does not allow.
use crate::helpers::*;
use sandbox_portal::domain::role::Role;
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Want {
    Ok,
    Forbidden,
    NotFound,
}

fn classify(status: u16) -> Option<Want> {
    match status {
        200..=399 => Some(Want::Ok),
        403 => Some(Want::Forbidden),
        404 => Some(Want::NotFound),
        _ => None,
    }
}

struct Ids {
    org: Uuid,
    token: Uuid,
    doomed: Uuid,
}

/// Method, path and form fields of one request.
type Call = (&'static str, String, Vec<(&'static str, String)>);

/// One request per web route, against the given org and tokens.
fn routes(ids: &Ids) -> Vec<Call> {
    let (o, t, d) = (ids.org, ids.token, ids.doomed);
    vec![
        ("GET", page_of(o), vec![]),
        ("GET", token_url(o, t, "row"), vec![]),
        ("POST", token_url(o, t, "reveal"), vec![]),
        ("POST", token_url(o, t, "copy"), vec![]),
        ("GET", token_url(o, t, "rename"), vec![]),
        (
            "POST",
            token_url(o, t, "rename"),
            vec![("name", "renamed".into())],
        ),
        ("GET", token_url(o, t, "regenerate"), vec![]),
        ("POST", token_url(o, t, "regenerate"), vec![]),
        ("GET", token_url(o, d, "delete"), vec![]),
        ("POST", token_url(o, d, "delete"), vec![]),
        ("POST", add_url(o), vec![]),
        ("GET", "/support/orgs".into(), vec![]),
        (
            "POST",
            "/support/orgs".into(),
            vec![("name", format!("New {o}"))],
        ),
        ("GET", format!("/support/orgs/{o}"), vec![]),
        (
            "POST",
            format!("/support/orgs/{o}/subscription"),
            vec![("action", "renew".into()), ("days", "30".into())],
        ),
        (
            "POST",
            format!("/support/orgs/{o}/limits"),
            vec![("daily_quota", "100".into())],
        ),
        (
            "POST",
            format!("/support/orgs/{o}/disable"),
            vec![("reason", "matrix".into()), ("confirmed", "yes".into())],
        ),
        ("POST", format!("/support/orgs/{o}/enable"), vec![]),
        (
            "POST",
            format!("/support/orgs/{o}/tokens/{t}/disable"),
            vec![("reason", "matrix".into()), ("confirmed", "yes".into())],
        ),
        (
            "POST",
            format!("/support/orgs/{o}/tokens/{t}/enable"),
            vec![],
        ),
        ("GET", format!("/admin/audit-log?org={o}"), vec![]),
        ("GET", format!("/admin/audit-log.csv?org={o}"), vec![]),
    ]
}

/// What §4 allows `role` on route number `i` (see `routes`), for its own org or another one.
fn expected(role: Role, i: usize, own: bool) -> Want {
    use Role::*;
    use Want::*;
    let support_route = (11..=19).contains(&i);
    let audit_route = i >= 20;
    if support_route {
        // Support sees every org; for everyone else the console does not exist for them.
        return if role == Support { Ok } else { Forbidden };
    }
    if audit_route {
        // The audit log never shows another org's events: non-support users only ever get
        // their own org's (the org filter is support's), so the page itself answers.
        return if matches!(role, OrgAdmin | OrgViewer | Support) {
            Ok
        } else {
            Forbidden
        };
    }
    if !own && role != Support {
        return NotFound;
    }
    match i {
        0 | 1 => Ok,
        2 | 3 => {
            if matches!(role, OrgAdmin | OrgViewer | ConnectorAdmin) {
                Ok
            } else {
                Forbidden
            }
        }
        _ => {
            if role == OrgAdmin {
                Ok
            } else {
                Forbidden
            }
        }
    }
}

#[actix_web::test]
async fn the_role_matrix_of_section_4_holds_for_every_web_route_and_org() {
    let app = TestApp::spawn().await;
    let (mine, my_token) = app.org("Mine");
    let (doomed, _) = app.add_token(mine.id, "doomed");
    let (theirs, their_token) = app.org("Theirs");
    let (their_doomed, _) = app.add_token(theirs.id, "doomed");
    let own = Ids {
        org: mine.id,
        token: my_token.id,
        doomed: doomed.id,
    };
    let other = Ids {
        org: theirs.id,
        token: their_token.id,
        doomed: their_doomed.id,
    };
    let mut failures = Vec::new();
    // Org admins act last among the org users, and support last of all, so that their
    // successful changes (delete, disable) happen after everyone else has been checked.
    for (name, role) in [
        ("viewer", Role::OrgViewer),
        ("connector", Role::ConnectorAdmin),
        ("partner", Role::PartnerViewer),
        ("admin", Role::OrgAdmin),
        ("support", Role::Support),
    ] {
        let grants = if role == Role::Support {
            vec![]
        } else {
            vec![mine.id]
        };
        app.user(name, role, &grants);
        let mut b = app.client();
        assert_eq!(b.login(name, PASSWORD).await.status(), 303);
        b.refresh_csrf_at("/login").await;
        b.refresh_csrf().await;
        for (own_org, ids) in [(false, &other), (true, &own)] {
            for (i, (method, path, form)) in routes(ids).into_iter().enumerate() {
                let fields: Vec<(&str, &str)> =
                    form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let status = match method {
                    "GET" => b.get(&path).await.status().as_u16(),
                    _ => b.post_form(&path, &fields).await.status().as_u16(),
                };
                let want = expected(role, i, own_org);
                if classify(status) != Some(want) {
                    failures.push(format!(
                        "{name} {method} {path}: got {status}, want {want:?}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "matrix violations:\n{}",
        failures.join("\n")
    );
}

/// A web route added without a row above fails here: every `.route(` registration under
/// src/web is either in `routes()` or one of the four public ones (/, GET and POST /login,
/// POST /logout).
#[test]
fn every_web_route_has_a_row_in_the_matrix() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let registered: usize = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .map(|src| src.matches(".route(").count())
        .sum();
    let ids = Ids {
        org: Uuid::nil(),
        token: Uuid::nil(),
        doomed: Uuid::nil(),
    };
    assert_eq!(registered, routes(&ids).len() + 4);
}
