use crate::helpers::*;
use sandbox_portal::db;
use sandbox_portal::domain::role::Role;
use std::io::Write;
use std::process::{Command, Stdio};

/// The binary on the test's database, with `secret` as its SECRET_KEY.
fn binary(db_url: &str, secret: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandbox-portal"));
    command
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("SECRET_KEY", secret)
        .env_remove("SANDBOX_PORTAL_PASSWORD")
        .env("RUST_LOG", "warn");
    command
}

pub(crate) fn cli(db_url: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = binary(db_url, SECRET, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().expect("binary output")
}

#[actix_web::test]
async fn r2_org_create_provisions_one_enabled_token_and_user_create_reads_stdin() {
    let app = TestApp::spawn().await;
    let out = cli(
        &app.db.url,
        &[
            "org",
            "create",
            "--name",
            "Initech",
            "--cloud",
            "zscalertwo.net",
            "--subscription-days",
            "30",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let org_id: uuid::Uuid = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let tokens = app.tokens(org_id);
    assert_eq!(tokens.len(), 1, "R2: one token, provisioned");
    assert!(tokens[0].disabled_at.is_none(), "R2: enabled");

    let org_arg = org_id.to_string();
    let out = cli(
        &app.db.url,
        &[
            "user",
            "create",
            "--username",
            "peter",
            "--role",
            "org_admin",
            "--org",
            &org_arg,
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut b = app.client();
    assert_eq!(b.login("peter", PASSWORD).await.status(), 303);
    let page = b.text(PAGE).await;
    assert!(page.contains("Initech") && page.contains(&tokens[0].name));
    let actions: Vec<String> = app.audit_actions().into_iter().map(|r| r.0).collect();
    assert!(actions.starts_with(&[
        "PROVISION_ORG".into(),
        "ADD_TOKEN".into(),
        "CREATE_USER".into()
    ]));
}

#[actix_web::test]
async fn the_cli_refuses_bad_input_with_a_clear_message_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let out = cli(
        &app.db.url,
        &["user", "create", "--username", "x", "--role", "boss"],
        Some("pw\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("org_admin"));
    let out = cli(
        &app.db.url,
        &["user", "create", "--username", "sup", "--role", "support"],
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12 characters"));
    let out = cli(
        &app.db.url,
        &["user", "create", "--username", "ann", "--role", "org_admin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exactly one organization"));
    assert!(
        db::users::find_by_username(&mut app.conn(), "ann")
            .unwrap()
            .is_none()
    );
    let out = cli(&app.db.url, &["migrate"], None);
    assert!(out.status.success());
}

#[actix_web::test]
async fn demo_seeding_is_idempotent_and_its_printed_logins_work() {
    let app = TestApp::spawn().await;
    let first = sandbox_portal::cli::seed_demo(&app.db.url, &app.keys).unwrap();
    let mut old = app.client();
    assert_eq!(old.login(&first[0].0, &first[0].2).await.status(), 303);
    assert_eq!(old.get(PAGE).await.status(), 200);
    let second = sandbox_portal::cli::seed_demo(&app.db.url, &app.keys).unwrap();
    // A session opened with the old password ends with it.
    assert_eq!(old.get(PAGE).await.status(), 303);
    let roles: Vec<Role> = second.iter().map(|l| l.1).collect();
    for role in Role::ALL {
        assert!(roles.contains(&role), "a demo user for {role}");
    }
    assert_ne!(first[0].2, second[0].2, "fresh passwords on every run");
    use diesel::prelude::*;
    let orgs: i64 = db::schema::organizations::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    let users: i64 = db::schema::users::table
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!((orgs, users), (2, 5), "nothing duplicated");
    for (user, _, password) in &second {
        let mut b = app.client();
        assert_eq!(b.login(user, password).await.status(), 303, "{user}");
    }
}

#[actix_web::test]
async fn disabling_a_user_ends_their_sessions_at_once_and_refuses_their_logins() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let mut b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    assert_eq!(b.get(PAGE).await.status(), 200);
    let out = cli(
        &app.db.url,
        &["user", "disable", "--username", "alice"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = b.get(PAGE).await;
    assert_eq!(res.status(), 303, "the open session ended at once");
    assert_eq!(b.login("alice", PASSWORD).await.status(), 401);
    let out = cli(
        &app.db.url,
        &["user", "enable", "--username", "alice"],
        None,
    );
    assert!(out.status.success());
    assert_eq!(b.login("alice", PASSWORD).await.status(), 303);
    let actions: Vec<String> = app.audit_actions().into_iter().map(|r| r.0).collect();
    assert!(actions.contains(&"DISABLE_USER".into()) && actions.contains(&"ENABLE_USER".into()));
    // A repeat changes nothing and audits nothing.
    let out = cli(
        &app.db.url,
        &["user", "enable", "--username", "alice"],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("alice is already enabled."));
    assert_eq!(app.audit_actions().len(), actions.len());
    let out = cli(
        &app.db.url,
        &["user", "disable", "--username", "nobody"],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("There is no user named"));
}

/// SPEC §9: a role change ends the user's sessions at once; the next login has the new role.
#[actix_web::test]
async fn changing_a_role_ends_the_users_sessions_at_once() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org("Acme");
    let (other, _) = app.org("Globex");
    let mut b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    assert!(b.text(PAGE).await.contains("Add Sandbox API Token"));

    let out = cli(
        &app.db.url,
        &[
            "user",
            "set-role",
            "--username",
            "alice",
            "--role",
            "org_viewer",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b.get(PAGE).await.status(), 303, "the open session ended");
    assert_eq!(b.login("alice", PASSWORD).await.status(), 303);
    b.refresh_csrf().await;
    let page = b.text(PAGE).await;
    assert!(page.contains("View-only access"), "now a viewer");
    let res = b
        .post_form(&token_url(org.id, token.id, "delete"), &[])
        .await;
    assert_eq!(res.status(), 403, "a viewer may not delete");

    // Into a partner viewer of two orgs, given explicitly.
    let (o1, o2) = (org.id.to_string(), other.id.to_string());
    let out = cli(
        &app.db.url,
        &[
            "user",
            "set-role",
            "--username",
            "alice",
            "--role",
            "partner_viewer",
            "--org",
            &o1,
            "--org",
            &o2,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b.login("alice", PASSWORD).await.status(), 303);
    assert_eq!(
        b.get(&page_of(other.id)).await.status(),
        200,
        "sees the new org"
    );

    // A shape the role does not allow is refused and changes nothing.
    let out = cli(
        &app.db.url,
        &[
            "user",
            "set-role",
            "--username",
            "alice",
            "--role",
            "support",
            "--org",
            &o1,
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("give no organization"));
    assert_eq!(
        b.get(&page_of(other.id)).await.status(),
        200,
        "session kept"
    );
    let changes = app
        .audit_actions()
        .into_iter()
        .filter(|a| a.0 == "CHANGE_ROLE")
        .count();
    assert_eq!(changes, 1 + 2, "one row per org touched by each change");

    // Support without --org: the orgs go (support sees every org), rather than a refusal that
    // made support unreachable for anyone with orgs.
    let out = cli(
        &app.db.url,
        &[
            "user",
            "set-role",
            "--username",
            "alice",
            "--role",
            "support",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each row says what the role was, not only what it became.
    let dump = app.audit_dump();
    assert!(
        dump.contains(r#""before": {"orgs": ["#) && dump.contains(r#""role": "org_admin"}"#),
        "{dump}"
    );
}

#[actix_web::test]
async fn org_create_refuses_subscription_days_outside_1_to_3650_without_a_panic() {
    let app = TestApp::spawn().await;
    for days in ["99999999999", "0", "-5"] {
        let arg = format!("--subscription-days={days}");
        let out = cli(
            &app.db.url,
            &["org", "create", "--name", "Initech", &arg],
            None,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{days}");
        assert!(
            stderr.contains("The subscription must last 1 to 3650 days."),
            "{days}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{days}: {stderr}");
    }
    assert!(
        db::orgs::find_by_name(&mut app.conn(), "Initech")
            .unwrap()
            .is_none()
    );
}

/// demo gives the users named admin, support… new passwords: on a database named by
/// DATABASE_URL it refuses unless told this database is a demo, and touches nothing.
#[actix_web::test]
async fn demo_refuses_a_shared_database_unless_told_it_is_a_demo() {
    let app = TestApp::spawn().await;
    app.user("support", Role::Support, &[]);
    // Bounded: without the guard, demo would seed and then serve until killed.
    let mut child = binary(&app.db.url, SECRET, &["demo", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("demo did not refuse the shared database: it kept running");
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let out = child.wait_with_output().expect("binary output");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--on-this-database"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut b = app.client();
    assert_eq!(
        b.login("support", PASSWORD).await.status(),
        303,
        "password kept"
    );
}

const OTHER_SECRET: &str = "another-secret-key-another-secret-key-0123";

/// A process with another SECRET_KEY would seal tokens that never work: refused at start,
/// before it writes anything.
#[actix_web::test]
async fn a_different_secret_key_is_refused_before_anything_is_written() {
    let app = TestApp::spawn().await;
    let out = binary(
        &app.db.url,
        OTHER_SECRET,
        &[
            "org",
            "create",
            "--name",
            "Other Key Org",
            "--subscription-days",
            "30",
        ],
    )
    .output()
    .expect("run the binary");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("same SECRET_KEY"), "{stderr}");
    use diesel::prelude::*;
    let orgs: i64 = db::schema::organizations::table
        .filter(db::schema::organizations::name.eq("Other Key Org"))
        .count()
        .get_result(&mut app.conn())
        .unwrap();
    assert_eq!(orgs, 0);
    // A database from before the check (nothing recorded yet) records only a key that opens
    // its tokens.
    app.org("Acme");
    diesel::delete(db::schema::secret_key_check::table)
        .execute(&mut app.conn())
        .unwrap();
    let out = binary(
        &app.db.url,
        OTHER_SECRET,
        &["org", "create", "--name", "Other Key Org"],
    )
    .output()
    .expect("run the binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not open"), "{stderr}");
    // The right key still works.
    let out = cli(
        &app.db.url,
        &["org", "create", "--name", "Same Key Org"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An operator resets a forgotten or leaked password: the old one stops working, the sessions
/// opened with it end at once, and the audit log says who did it without the password.
#[actix_web::test]
async fn user_set_password_replaces_the_password_and_ends_the_old_sessions() {
    let app = TestApp::spawn().await;
    let (org, _) = app.org("Acme");
    let b = app.login_as("alice", Role::OrgAdmin, &[org.id]).await;
    assert_eq!(b.get(PAGE).await.status(), 200);
    let new_password = "a fresh and longer passphrase";
    let out = cli(
        &app.db.url,
        &["user", "set-password", "--username", "alice"],
        Some(&format!("{new_password}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b.get(PAGE).await.status(), 303, "the open session ended");
    assert_eq!(app.client().login("alice", PASSWORD).await.status(), 401);
    assert_eq!(
        app.client().login("alice", new_password).await.status(),
        303
    );
    let rows = app.audit_actions();
    assert!(rows.iter().any(|r| r.0 == "CHANGE_PASSWORD"), "{rows:?}");
    assert!(!format!("{rows:?}").contains(new_password));

    // Passwords the policy refuses (too short; long but guessable) change nothing.
    let out = cli(
        &app.db.url,
        &["user", "set-password", "--username", "alice"],
        Some("short\n"),
    );
    assert!(!out.status.success());
    let out = cli(
        &app.db.url,
        &["user", "set-password", "--username", "alice"],
        Some("qwertyuiop123456\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("too easy to guess"));
    assert_eq!(
        app.client().login("alice", new_password).await.status(),
        303
    );
}

/// SPEC §9: SECRET_KEY may come from a file (a mounted secret) instead of the environment; the
/// file's line end does not count, a short or unreadable one is refused naming the file and
/// never its content, and a secret typed on the command line is warned about without the value.
#[actix_web::test]
async fn the_secret_key_can_come_from_a_file_and_a_secret_on_the_command_line_is_warned_of() {
    let app = TestApp::spawn().await;
    let dir = std::env::temp_dir().join(format!("sp-secret-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let with_file = |content: Option<&str>, name: &str| {
        let path = dir.join(name);
        if let Some(c) = content {
            std::fs::write(&path, c).unwrap();
        }
        let mut command = binary(&app.db.url, SECRET, &["org", "create", "--name", name]);
        command
            .env_remove("SECRET_KEY")
            .env("SECRET_KEY_FILE", &path);
        command.output().expect("run the binary")
    };

    let right = with_file(Some(&format!("{SECRET}\n")), "Filed");
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    let other = with_file(Some(OTHER_SECRET), "Other");
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("same SECRET_KEY"));
    let short = with_file(Some("short-secret\n"), "Short");
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(!short.status.success());
    assert!(
        stderr.contains("must hold at least 32 characters"),
        "{stderr}"
    );
    assert!(!stderr.contains("short-secret"), "{stderr}");
    let missing = with_file(None, "Missing");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(stderr.contains("cannot be read"), "{stderr}");
    assert!(
        stderr.contains(&dir.join("Missing").display().to_string()),
        "{stderr}"
    );

    // Both at once is ambiguous.
    let path = dir.join("Filed");
    let both = binary(&app.db.url, SECRET, &["org", "create", "--name", "Both"])
        .env("SECRET_KEY_FILE", &path)
        .output()
        .unwrap();
    assert!(!both.status.success());
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );

    // On the command line it works, with a warning that does not repeat it.
    let flag = format!("--secret-key={SECRET}");
    let typed = binary(
        &app.db.url,
        SECRET,
        &["org", "create", "--name", "Typed", &flag],
    )
    .env_remove("SECRET_KEY")
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&typed.stderr);
    assert!(typed.status.success(), "{stderr}");
    assert!(
        stderr.contains("--secret-key is on the command line"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");

    for (name, created) in [
        ("Filed", true),
        ("Typed", true),
        ("Other", false),
        ("Short", false),
        ("Missing", false),
        ("Both", false),
    ] {
        let found = db::orgs::find_by_name(&mut app.conn(), name).unwrap();
        assert_eq!(found.is_some(), created, "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
