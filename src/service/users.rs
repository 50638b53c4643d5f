//! Users: creation and authentication with a failed-login backoff.
use super::unique_as_conflict;
use crate::auth::password;
use crate::db::DbPool;
use crate::db::audit::{self, Actor, Event};
use crate::db::models::User;
use crate::db::{orgs, users};
use crate::domain::audit::{AuditAction, is_reserved_actor_name};
use crate::domain::policy::visible;
use crate::domain::role::Role;
use crate::error::AppError;
use diesel::prelude::*;
use rand::RngExt;
use serde_json::json;
use uuid::Uuid;

/// Failures allowed before the backoff starts, and its ceiling: long enough to stop guessing,
/// short enough that an attacker cannot keep a real admin out for long.
const FREE_FAILURES: i32 = 5;
const MAX_BACKOFF_SECS: i64 = 60;

pub fn backoff_secs(failures: i32) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let exp = (failures - FREE_FAILURES).min(6) as u32;
    (1i64 << exp).min(MAX_BACKOFF_SECS)
}

fn seconds(n: u64) -> String {
    if n == 1 {
        "1 second".into()
    } else {
        format!("{n} seconds")
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum LoginFailure {
    BadCredentials,
    Throttled { retry_after: u64 },
}

impl LoginFailure {
    pub fn message(&self) -> String {
        match self {
            LoginFailure::BadCredentials => "Invalid username or password.".into(),
            LoginFailure::Throttled { retry_after } => format!(
                "Too many failed attempts for this account. Wait {} and try again.",
                seconds(*retry_after)
            ),
        }
    }
}

/// A successful login: the user, their role, and the value of the login-device cookie to send.
pub struct LoggedIn {
    pub user: User,
    pub role: Role,
    pub device: String,
}

/// How long a browser stays known to an account after its last successful login.
pub const DEVICE_COOKIE_DAYS: i64 = 180;

/// The nonce of a login-device cookie (`nonce.mac`) if it was issued for this account.
///
/// OWASP's "device cookie" answer to lockout: failures are throttled per account, but a browser
/// that has logged in to the account before is throttled on its own, so an attacker's guesses
/// from elsewhere cannot keep the real user out, and a copied cookie serves one account only.
fn device_nonce<'a>(
    keys: &crate::domain::token::TokenKeys,
    account: &str,
    cookie: &'a str,
) -> Option<&'a str> {
    use subtle::ConstantTimeEq;
    let (nonce, mac) = cookie.split_once('.')?;
    if nonce.len() != 32 || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let expected = keys.device_mac(account, nonce);
    bool::from(expected.as_bytes().ct_eq(mac.as_bytes())).then_some(nonce)
}

fn new_device_nonce() -> String {
    let mut nonce = [0u8; 16];
    rand::rng().fill(&mut nonce);
    hex::encode(nonce)
}

/// Checks a login. Unknown users, disabled users and wrong passwords give the same answer after
/// the same argon2 work. The outer error is a fault; the inner one is a refused login, whose audit
/// row and failure count are committed.
///
/// Two short transactions around the argon2 check, which runs with no connection held (a flood
/// of logins must not starve the pool). The first takes this attempt's place in the backoff under
/// the throttle row's lock, so parallel guesses cannot all slip through one window.
pub fn authenticate(
    pool: &DbPool,
    keys: &crate::domain::token::TokenKeys,
    dummy_hash: &str,
    username: &str,
    password_given: &str,
    device: Option<&str>,
    mut actor: Actor,
) -> Result<Result<LoggedIn, LoginFailure>, AppError> {
    let typed: String = username.trim().chars().take(100).collect();
    // Neither the throttle table nor the audit trail keeps a name as typed: it may be a password.
    let typed_key = keys.pseudonym(&typed.to_lowercase());
    actor.name = format!("unknown user {}", &typed_key[..12]);
    // A refused login is one row whoever was named (its org when there is exactly one): one
    // row per org would let anyone multiply audit writes by guessing a partner's name, and the
    // extra work would tell partner accounts from unknown names.
    let fail = |conn: &mut PgConnection, actor: &Actor, orgs: &[Uuid], reason: &str| {
        let only = match orgs {
            [one] => vec![*one],
            _ => Vec::new(),
        };
        record_for_orgs(
            conn,
            actor,
            &only,
            AuditAction::Login,
            None,
            false,
            json!({ "reason": reason }),
        )
    };
    let reserved = pool.get()?.transaction(|conn| {
        // PostgreSQL refuses text with NUL in it; nobody's name has one.
        let user = if typed.contains('\0') {
            None
        } else {
            users::find_by_username(conn, &typed)?
        };
        // The same query for a name nobody has, so a known name does not answer more slowly.
        let orgs = users::org_ids(conn, user.as_ref().map_or(Uuid::nil(), |u| u.id))?;
        if let Some(u) = &user {
            actor.name = u.username.clone();
        }
        actor.user_id = user.as_ref().map(|u| u.id);
        actor.role = user.as_ref().and_then(|u| u.role.parse().ok());
        // An account's backoff is keyed by its stored name: the database may fold case unlike
        // Rust does (with a UTF-8 locale, lower('İ') is 'i'), and every spelling that reaches
        // the account must share one backoff.
        let key = user.as_ref().map_or_else(
            || typed_key.clone(),
            |u| keys.pseudonym(&u.username.to_lowercase()),
        );
        // A browser that logged in to this account before has a backoff of its own; everyone
        // else shares the account's.
        let known_device = device.and_then(|d| device_nonce(keys, &key, d));
        let bucket = match known_device {
            Some(nonce) => format!("{key}.{nonce}"),
            None => key.clone(),
        };
        if let Some(wait) = users::reserve_attempt(conn, &bucket, backoff_secs)? {
            fail(conn, &actor, &orgs, "throttled")?;
            return Ok::<_, AppError>(Err(LoginFailure::Throttled {
                retry_after: wait.unsigned_abs(),
            }));
        }
        Ok(Ok((user, orgs, key, bucket, known_device)))
    })?;
    let (user, orgs, key, bucket, known_device) = match reserved {
        Ok(found) => found,
        Err(throttled) => return Ok(Err(throttled)),
    };
    let ok = match &user {
        Some(u) => password::verify(password_given, &u.password_hash) && !u.disabled,
        None => {
            password::verify(password_given, dummy_hash);
            false
        }
    };
    let role = user.as_ref().and_then(|u| u.role.parse::<Role>().ok());
    pool.get()?.transaction(|conn| match (ok, user, role) {
        (true, Some(user), Some(role)) => {
            // Only the bucket this attempt used: a login from a known browser must not hand an
            // attacker who is guessing elsewhere a fresh set of free attempts.
            users::clear_failures(conn, &bucket)?;
            record_for_orgs(
                conn,
                &actor,
                &orgs,
                AuditAction::Login,
                None,
                true,
                json!({}),
            )?;
            let nonce = known_device.map_or_else(new_device_nonce, str::to_owned);
            let device = format!("{nonce}.{}", keys.device_mac(&key, &nonce));
            Ok(Ok(LoggedIn { user, role, device }))
        }
        _ => {
            fail(conn, &actor, &orgs, "bad credentials")?;
            Ok(Err(LoginFailure::BadCredentials))
        }
    })
}

/// One audit row per organization the user belongs to, so each org's log shows the event (a
/// partner's login appears in the log of every org they see); a user of no org (support, or a
/// name nobody has) gets one row without an org.
fn record_for_orgs(
    conn: &mut PgConnection,
    actor: &Actor,
    orgs: &[Uuid],
    action: AuditAction,
    resource: Option<(Uuid, &str)>,
    success: bool,
    details: serde_json::Value,
) -> Result<(), AppError> {
    // In one order for everyone: each row takes its org's audit-chain lock until commit.
    let mut orgs = orgs.to_vec();
    orgs.sort_unstable();
    orgs.dedup();
    for org in orgs
        .iter()
        .copied()
        .map(Some)
        .chain(orgs.is_empty().then_some(None))
    {
        audit::record(
            conn,
            actor,
            Event {
                org_id: org,
                action,
                resource,
                success,
                details: details.clone(),
            },
        )?;
    }
    Ok(())
}

pub fn logout(conn: &mut PgConnection, actor: &Actor, orgs: &[Uuid]) -> Result<(), AppError> {
    record_for_orgs(
        conn,
        actor,
        orgs,
        AuditAction::Logout,
        None,
        true,
        json!({}),
    )
}

/// A new username as it will be stored: trimmed, 1 to 100 characters, every one visible, and
/// not a name the audit trail uses for a non-human.
fn validate_username(raw: &str) -> Result<String, AppError> {
    let username = raw.trim();
    if username.is_empty()
        || username.chars().count() > 100
        || username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        // PostgreSQL refuses NUL in text: caught here it is a 400, not a server error.
        return Err(AppError::BadRequest(
            "The username must be 1 to 100 characters, without spaces or control characters."
                .into(),
        ));
    }
    // The name shows in the audit log and "Last Modified By": a bidi override or an invisible
    // character would let it read as someone else's.
    if !username.chars().all(visible) {
        return Err(AppError::BadRequest(
            "The username can only hold visible characters (no formatting or invisible \
             characters)."
                .into(),
        ));
    }
    if is_reserved_actor_name(username) {
        return Err(AppError::BadRequest(format!(
            "The username \"{username}\" is reserved: the audit log uses it for actions that \
             no person did (those of the system itself, or of the command line). Choose another \
             username."
        )));
    }
    Ok(username.to_owned())
}

/// Creates a user: support users have no org; partner viewers one or more; others exactly one.
pub fn create(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &str,
    password_plain: &str,
    role: Role,
    org_ids: &[Uuid],
) -> Result<User, AppError> {
    let username = validate_username(username)?;
    let username = username.as_str();
    password::check_strength(password_plain, username).map_err(AppError::BadRequest)?;
    // The same org given twice is one grant, not a duplicate-key error.
    let mut org_ids = org_ids.to_vec();
    org_ids.sort();
    org_ids.dedup();
    let org_ids = org_ids.as_slice();
    check_membership(role, org_ids)?;
    let hash = password::hash(password_plain)?;
    conn.transaction(|conn| {
        check_orgs_exist(conn, org_ids)?;
        let user = users::insert(conn, username, &hash, role.as_str(), org_ids).map_err(|e| {
            unique_as_conflict(e, || format!("The username \"{username}\" is taken."))
        })?;
        audit_user_event(
            conn,
            actor,
            org_ids,
            AuditAction::CreateUser,
            &user,
            json!({ "role": role.as_str() }),
        )?;
        Ok(user)
    })
}

/// SPEC §9: disabling a user ends their sessions at once. The session generation moves on too,
/// so a session that somehow survived the delete is refused by the extractor all the same.
pub fn set_disabled(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &str,
    disabled: bool,
) -> Result<User, AppError> {
    use crate::db::schema::users as u;
    conn.transaction(|conn| {
        let user = users::find_by_username(conn, username.trim())?.ok_or_else(|| {
            AppError::BadRequest(format!("There is no user named \"{}\".", username.trim()))
        })?;
        // A repeat would audit a change that is none (as the support console refuses a repeat
        // disable of a token or org).
        if user.disabled == disabled {
            return Err(AppError::Conflict(format!(
                "{} is already {}.",
                user.username,
                if disabled { "disabled" } else { "enabled" }
            )));
        }
        let user: User = diesel::update(u::table.find(user.id))
            .set((
                u::disabled.eq(disabled),
                u::session_generation.eq(u::session_generation + 1),
            ))
            .returning(User::as_returning())
            .get_result(conn)?;
        let ended = crate::db::sessions::delete_for_user(conn, user.id)?;
        let orgs = users::org_ids(conn, user.id)?;
        let action = if disabled {
            AuditAction::DisableUser
        } else {
            AuditAction::EnableUser
        };
        audit_user_event(
            conn,
            actor,
            &orgs,
            action,
            &user,
            json!({ "sessionsEnded": ended }),
        )?;
        Ok(user)
    })
}

/// A new password (an operator's reset, or `demo`): the sessions opened with the old one end at
/// once, as when a user is disabled. The password itself is in no audit detail.
pub fn set_password(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &str,
    password_plain: &str,
) -> Result<User, AppError> {
    use crate::db::schema::users as u;
    password::check_strength(password_plain, username.trim()).map_err(AppError::BadRequest)?;
    let hash = password::hash(password_plain)?;
    conn.transaction(|conn| {
        let user = users::find_by_username(conn, username.trim())?.ok_or_else(|| {
            AppError::BadRequest(format!("There is no user named \"{}\".", username.trim()))
        })?;
        let user: User = diesel::update(u::table.find(user.id))
            .set((
                u::password_hash.eq(hash),
                u::session_generation.eq(u::session_generation + 1),
            ))
            .returning(User::as_returning())
            .get_result(conn)?;
        let ended = crate::db::sessions::delete_for_user(conn, user.id)?;
        let orgs = users::org_ids(conn, user.id)?;
        audit_user_event(
            conn,
            actor,
            &orgs,
            AuditAction::ChangePassword,
            &user,
            json!({ "sessionsEnded": ended }),
        )?;
        Ok(user)
    })
}

/// Which organizations a role may be granted: support none (it sees all), a partner viewer one
/// or more, every other role exactly one.
fn check_membership(role: Role, org_ids: &[Uuid]) -> Result<(), AppError> {
    match (role, org_ids.len()) {
        (Role::Support, 0) | (Role::PartnerViewer, 1..) => {}
        (Role::Support, _) => {
            return Err(AppError::BadRequest(
                "Support users see every organization; give no organization.".into(),
            ));
        }
        (Role::PartnerViewer, 0) => {
            return Err(AppError::BadRequest(
                "A partner viewer needs at least one organization.".into(),
            ));
        }
        (_, 1) => {}
        _ => {
            return Err(AppError::BadRequest(format!(
                "A user with role {role} belongs to exactly one organization."
            )));
        }
    }
    Ok(())
}

fn check_orgs_exist(conn: &mut PgConnection, org_ids: &[Uuid]) -> Result<(), AppError> {
    for org in org_ids {
        if orgs::find(conn, *org)?.is_none() {
            return Err(AppError::BadRequest(format!(
                "There is no organization with id {org}."
            )));
        }
    }
    Ok(())
}

/// SPEC §9: a role change ends the user's sessions at once, like disabling, so no page keeps the
/// powers of the old role. `orgs` replaces the user's organizations; None keeps them (and they
/// must suit the new role).
pub fn change_role(
    conn: &mut PgConnection,
    actor: &Actor,
    username: &str,
    role: Role,
    orgs: Option<&[Uuid]>,
) -> Result<User, AppError> {
    use crate::db::schema::{user_orgs as uo, users as u};
    conn.transaction(|conn| {
        let user = users::find_by_username(conn, username.trim())?.ok_or_else(|| {
            AppError::BadRequest(format!("There is no user named \"{}\".", username.trim()))
        })?;
        let mut before = users::org_ids(conn, user.id)?;
        before.sort();
        // Without --org the orgs are kept, except for support, who sees every org and keeps
        // none (otherwise nobody with orgs could ever become support).
        let mut after = match orgs {
            Some(given) => given.to_vec(),
            None if role == Role::Support => Vec::new(),
            None => before.clone(),
        };
        after.sort();
        after.dedup();
        check_membership(role, &after)?;
        check_orgs_exist(conn, &after)?;
        let role_before = user.role.clone();
        let user: User = diesel::update(u::table.find(user.id))
            .set((
                u::role.eq(role.as_str()),
                u::session_generation.eq(u::session_generation + 1),
            ))
            .returning(User::as_returning())
            .get_result(conn)?;
        if after != before {
            diesel::delete(uo::table.filter(uo::user_id.eq(user.id))).execute(conn)?;
            let grants: Vec<_> = after
                .iter()
                .map(|org| (uo::user_id.eq(user.id), uo::org_id.eq(*org)))
                .collect();
            diesel::insert_into(uo::table)
                .values(&grants)
                .execute(conn)?;
        }
        let ended = crate::db::sessions::delete_for_user(conn, user.id)?;
        let mut touched: Vec<Uuid> = before.iter().chain(&after).copied().collect();
        touched.sort();
        touched.dedup();
        // Before and after, so the log says what changed (the page shows "old → new").
        let details = json!({
            "before": { "role": role_before, "orgs": before },
            "after": { "role": role.as_str(), "orgs": after },
            "sessionsEnded": ended,
        });
        audit_user_event(
            conn,
            actor,
            &touched,
            AuditAction::ChangeRole,
            &user,
            details,
        )?;
        Ok(user)
    })
}

/// One audit row per organization the user belongs to (so each org's log and hash chain shows
/// it), or one without an organization for a support user.
fn audit_user_event(
    conn: &mut PgConnection,
    actor: &Actor,
    orgs: &[Uuid],
    action: AuditAction,
    user: &User,
    details: serde_json::Value,
) -> Result<(), AppError> {
    let resource = Some((user.id, user.username.as_str()));
    record_for_orgs(conn, actor, orgs, action, resource, true, details)
}
