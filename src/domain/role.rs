//! The role matrix of SPEC §4. Deny by default: an action not listed for a role is refused.
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    OrgAdmin,
    OrgViewer,
    ConnectorAdmin,
    PartnerViewer,
    Support,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The token page with masked values, base URL, status and usage.
    ViewTokens,
    /// Reveal or copy a token value.
    RevealToken,
    /// Add, rename, regenerate, delete.
    ManageTokens,
    /// Disable / re-enable a token or an org's Sandbox API access.
    DisableTokens,
    /// Provision orgs, change subscriptions and limits, create users.
    ManageOrgs,
    ViewAuditLog,
}

impl Action {
    /// As the audit log records it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ViewTokens => "view_tokens",
            Action::RevealToken => "reveal_token",
            Action::ManageTokens => "manage_tokens",
            Action::DisableTokens => "disable_tokens",
            Action::ManageOrgs => "manage_orgs",
            Action::ViewAuditLog => "view_audit_log",
        }
    }
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::OrgAdmin,
        Role::OrgViewer,
        Role::ConnectorAdmin,
        Role::PartnerViewer,
        Role::Support,
    ];

    pub fn can(self, action: Action) -> bool {
        use Action::*;
        use Role::*;
        match action {
            ViewTokens => true,
            RevealToken => matches!(self, OrgAdmin | OrgViewer | ConnectorAdmin),
            ManageTokens => self == OrgAdmin,
            DisableTokens | ManageOrgs => self == Support,
            ViewAuditLog => matches!(self, OrgAdmin | OrgViewer | Support),
        }
    }

    /// Support sees every org; everyone else sees only the orgs granted to them.
    pub fn sees_all_orgs(self) -> bool {
        self == Role::Support
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::OrgAdmin => "org_admin",
            Role::OrgViewer => "org_viewer",
            Role::ConnectorAdmin => "connector_admin",
            Role::PartnerViewer => "partner_viewer",
            Role::Support => "support",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::OrgAdmin => "Organization admin",
            Role::OrgViewer => "View-only admin",
            Role::ConnectorAdmin => "Cloud Connector admin",
            Role::PartnerViewer => "Partner viewer",
            Role::Support => "Support",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role '{s}': expected one of org_admin, org_viewer, connector_admin, partner_viewer, support"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_org_admins_manage_tokens() {
        for role in Role::ALL {
            assert_eq!(
                role.can(Action::ManageTokens),
                role == Role::OrgAdmin,
                "{role}"
            );
        }
    }

    #[test]
    fn partner_viewers_and_support_never_reveal() {
        assert!(!Role::PartnerViewer.can(Action::RevealToken));
        assert!(!Role::Support.can(Action::RevealToken));
        assert!(Role::ConnectorAdmin.can(Action::RevealToken));
    }

    #[test]
    fn roles_round_trip_through_their_identifiers() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("admin".parse::<Role>().is_err());
    }
}
