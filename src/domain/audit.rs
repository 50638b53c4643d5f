//! What the audit trail records (SPEC §7). Each action has two names: the code, which the
//! database stores and the CSV export and the JSON API hand out (a contract: scripts filter on
//! it, so it never changes), and the label people read on the audit log page. Both live here,
//! in one match each, so that an action cannot be written without a label to show it by.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    Login,
    Logout,
    RevealToken,
    AddToken,
    RenameToken,
    RegenerateToken,
    DeleteToken,
    DisableToken,
    EnableToken,
    DisableOrgApi,
    EnableOrgApi,
    /// Written by the database itself (the Submission API's writer functions), not by Rust code.
    ThresholdDisable,
    SubscriptionChange,
    LimitsChange,
    ProvisionOrg,
    CreateUser,
    DisableUser,
    EnableUser,
    ChangeRole,
    ChangePassword,
    AccessDenied,
}

impl AuditAction {
    /// In the order the audit log's filter offers them.
    pub const ALL: [AuditAction; 21] = [
        AuditAction::Login,
        AuditAction::Logout,
        AuditAction::RevealToken,
        AuditAction::AddToken,
        AuditAction::RenameToken,
        AuditAction::RegenerateToken,
        AuditAction::DeleteToken,
        AuditAction::DisableToken,
        AuditAction::EnableToken,
        AuditAction::DisableOrgApi,
        AuditAction::EnableOrgApi,
        AuditAction::ThresholdDisable,
        AuditAction::SubscriptionChange,
        AuditAction::LimitsChange,
        AuditAction::ProvisionOrg,
        AuditAction::CreateUser,
        AuditAction::DisableUser,
        AuditAction::EnableUser,
        AuditAction::ChangeRole,
        AuditAction::ChangePassword,
        AuditAction::AccessDenied,
    ];

    /// The stored code: what the CSV export, the API and `?action=` use.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "LOGIN",
            AuditAction::Logout => "LOGOUT",
            AuditAction::RevealToken => "REVEAL_TOKEN",
            AuditAction::AddToken => "ADD_TOKEN",
            AuditAction::RenameToken => "RENAME_TOKEN",
            AuditAction::RegenerateToken => "REGENERATE_TOKEN",
            AuditAction::DeleteToken => "DELETE_TOKEN",
            AuditAction::DisableToken => "DISABLE_TOKEN",
            AuditAction::EnableToken => "ENABLE_TOKEN",
            AuditAction::DisableOrgApi => "DISABLE_ORG_API",
            AuditAction::EnableOrgApi => "ENABLE_ORG_API",
            AuditAction::ThresholdDisable => "THRESHOLD_DISABLE",
            AuditAction::SubscriptionChange => "SUBSCRIPTION_CHANGE",
            AuditAction::LimitsChange => "LIMITS_CHANGE",
            AuditAction::ProvisionOrg => "PROVISION_ORG",
            AuditAction::CreateUser => "CREATE_USER",
            AuditAction::DisableUser => "DISABLE_USER",
            AuditAction::EnableUser => "ENABLE_USER",
            AuditAction::ChangeRole => "CHANGE_ROLE",
            AuditAction::ChangePassword => "CHANGE_PASSWORD",
            AuditAction::AccessDenied => "ACCESS_DENIED",
        }
    }

    /// What people read on the audit log page. Refused attempts are recorded under the action
    /// they attempted, with result FAILURE beside the label, so a label names the action and
    /// does not claim it succeeded on its own.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::Login => "Login",
            AuditAction::Logout => "Logout",
            AuditAction::RevealToken => "Token revealed",
            AuditAction::AddToken => "Token added",
            AuditAction::RenameToken => "Token renamed",
            AuditAction::RegenerateToken => "Token regenerated",
            AuditAction::DeleteToken => "Token deleted",
            AuditAction::DisableToken => "Token disabled by provider",
            AuditAction::EnableToken => "Token re-enabled",
            AuditAction::DisableOrgApi => "Sandbox API access disabled",
            AuditAction::EnableOrgApi => "Sandbox API access re-enabled",
            AuditAction::ThresholdDisable => "API call threshold exceeded: access disabled",
            AuditAction::SubscriptionChange => "Subscription changed",
            AuditAction::LimitsChange => "Limits changed",
            AuditAction::ProvisionOrg => "Organization provisioned",
            AuditAction::CreateUser => "User created",
            AuditAction::DisableUser => "User disabled",
            AuditAction::EnableUser => "User enabled",
            AuditAction::ChangeRole => "Role changed",
            AuditAction::ChangePassword => "Password changed",
            AuditAction::AccessDenied => "Access denied",
        }
    }

    pub fn from_code(code: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == code)
    }
}

/// The actor of what no person did: R10's threshold disable. The database's writer functions
/// (migrations) write this same literal, which `every_actor_the_database_writes_is_reserved`
/// checks.
pub const SYSTEM_ACTOR: &str = "system";
/// The actor of what is done at the command line, where nobody logs in.
pub const CLI_ACTOR: &str = "cli";

/// Every actor name written for a non-human. No user may take one: their actions would read as
/// the system's in the audit trail and in "Last Modified By".
pub const RESERVED_ACTOR_NAMES: [&str; 2] = [SYSTEM_ACTOR, CLI_ACTOR];

/// Whether a username, as stored (trimmed), is one of `RESERVED_ACTOR_NAMES` in any case.
/// Folded both ways, since Unicode case maps are not symmetric: "\u{17F}ystem" (long s)
/// upper-cases to "SYSTEM" but lower-cases to itself, and the dotless "cl\u{131}" likewise.
pub fn is_reserved_actor_name(username: &str) -> bool {
    let (lower, upper) = (username.to_lowercase(), username.to_uppercase());
    RESERVED_ACTOR_NAMES
        .iter()
        .any(|r| lower == *r || upper == r.to_uppercase())
}

#[cfg(test)]
mod tests {
    use super::{AuditAction, RESERVED_ACTOR_NAMES, is_reserved_actor_name};
    use std::collections::HashSet;

    /// `ALL` feeds the filter and `from_code`; a variant missing from it could be written but
    /// neither filtered on nor labelled on the page. The match makes a new variant fail to
    /// compile here until it is counted.
    #[test]
    fn every_action_is_listed_once_with_its_own_code_and_label() {
        let variants = |a: AuditAction| match a {
            AuditAction::Login
            | AuditAction::Logout
            | AuditAction::RevealToken
            | AuditAction::AddToken
            | AuditAction::RenameToken
            | AuditAction::RegenerateToken
            | AuditAction::DeleteToken
            | AuditAction::DisableToken
            | AuditAction::EnableToken
            | AuditAction::DisableOrgApi
            | AuditAction::EnableOrgApi
            | AuditAction::ThresholdDisable
            | AuditAction::SubscriptionChange
            | AuditAction::LimitsChange
            | AuditAction::ProvisionOrg
            | AuditAction::CreateUser
            | AuditAction::DisableUser
            | AuditAction::EnableUser
            | AuditAction::ChangeRole
            | AuditAction::ChangePassword
            | AuditAction::AccessDenied => 21,
        };
        assert_eq!(AuditAction::ALL.len(), variants(AuditAction::Login));
        let mut codes = HashSet::new();
        let mut labels = HashSet::new();
        for a in AuditAction::ALL {
            assert!(codes.insert(a.as_str()), "{a:?}: code listed twice");
            assert!(labels.insert(a.label()), "{a:?}: label shared");
            assert!(!a.label().trim().is_empty(), "{a:?}: no label");
            assert_ne!(a.label(), a.as_str(), "{a:?}: the label is the raw code");
            assert_eq!(AuditAction::from_code(a.as_str()), Some(a));
        }
        assert_eq!(AuditAction::from_code("REVEAL"), None);
        assert_eq!(AuditAction::from_code("reveal_token"), None);
    }

    /// Rust code can only write an `AuditAction` (the type of `db::audit::Event::action`); the
    /// database functions write their action as an SQL literal. Every action an
    /// `INSERT INTO audit_events` of a migration names must have a label too.
    #[test]
    fn every_action_the_database_functions_write_has_a_label() {
        let mut seen = Vec::new();
        for (up, sql) in migrations_up_sql() {
            for insert in sql.split("INSERT INTO audit_events").skip(1) {
                let statement = insert.split(';').next().unwrap_or_default();
                // The quoted upper-case words of the statement: the action, the interface and
                // the result (those two are checked by the table's constraints).
                for word in statement.split('\'').skip(1).step_by(2) {
                    let upper = !word.is_empty()
                        && word.chars().all(|c| c.is_ascii_uppercase() || c == '_');
                    if upper
                        && !["UI", "API", "CLI", "SYSTEM", "SUCCESS", "FAILURE"].contains(&word)
                    {
                        assert!(
                            AuditAction::from_code(word).is_some(),
                            "{}: {word} has no label",
                            up.display()
                        );
                        seen.push(word.to_owned());
                    }
                }
            }
        }
        assert!(
            seen.iter().any(|w| w == "THRESHOLD_DISABLE"),
            "the R10 row was found: {seen:?}"
        );
    }

    /// Each migration's `up.sql` path and text.
    fn migrations_up_sql() -> Vec<(std::path::PathBuf, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        std::fs::read_dir(&dir)
            .expect("migrations directory")
            .filter_map(|entry| {
                let up = entry.expect("migration").path().join("up.sql");
                let sql = std::fs::read_to_string(&up).ok()?;
                Some((up, sql))
            })
            .collect()
    }

    #[test]
    fn reserved_actor_names_match_in_any_case() {
        for name in [
            "system",
            "SYSTEM",
            "System",
            "cli",
            "CLI",
            "\u{17F}ystem",
            "cl\u{131}",
        ] {
            assert!(is_reserved_actor_name(name), "{name:?}");
        }
        for name in ["systems", "cli2", "sys", "alice", "unknown user"] {
            assert!(!is_reserved_actor_name(name), "{name:?}");
        }
    }

    /// The writer functions name their actor in SQL, out of reach of `RESERVED_ACTOR_NAMES`:
    /// the first literal of each `INSERT INTO audit_events` (the column list has none) and
    /// every `api_disabled_by` they set must be a reserved name.
    #[test]
    fn every_actor_the_database_writes_is_reserved() {
        let mut seen = Vec::new();
        for (up, sql) in migrations_up_sql() {
            let inserts = sql
                .split("INSERT INTO audit_events")
                .skip(1)
                .filter_map(|after| {
                    let statement = after.split(';').next().unwrap_or_default();
                    statement.split('\'').nth(1)
                });
            // Only a literal set there (NULL clears the flag).
            let disables = sql.split("api_disabled_by = ").skip(1).filter_map(|after| {
                let literal = after.strip_prefix('\'')?;
                literal.split('\'').next()
            });
            for actor in inserts.chain(disables) {
                assert!(
                    RESERVED_ACTOR_NAMES.contains(&actor),
                    "{}: actor {actor:?} is not reserved",
                    up.display()
                );
                seen.push(actor.to_owned());
            }
        }
        assert!(seen.iter().any(|a| a == "system"), "found: {seen:?}");
    }
}
