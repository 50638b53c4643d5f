//! When a token change is allowed (R4, R7, R8): decided here once, used by the web UI, the JSON
//! API and the CLI alike (R13).
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    Active,
    Expired,
    /// The org never had a Sandbox subscription.
    None,
}

impl SubscriptionStatus {
    pub fn of(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        match expires_at {
            Some(t) if t > now => SubscriptionStatus::Active,
            Some(_) => SubscriptionStatus::Expired,
            None => SubscriptionStatus::None,
        }
    }
}

/// What the policy needs to know about an organization, read in the same transaction as the change.
#[derive(Debug, Clone)]
pub struct OrgFacts {
    pub token_count: i64,
    pub token_limit: i32,
    pub subscription: SubscriptionStatus,
    /// R10: the org's Sandbox API access is provider-disabled.
    pub api_disabled: bool,
    /// R10 (or support): why the org's Sandbox API access is off, shown to the org.
    pub api_disabled_reason: Option<String>,
    /// R7: at least one of its tokens is provider-disabled.
    pub any_token_disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// R8
    SubscriptionExpired,
    /// R8 for an org that never had a subscription (or had it removed).
    NoSubscription,
    /// R7 / R10
    ProviderDisabled(Disabled),
    /// R4
    /// `count` may exceed `limit` when support lowered the limit below it (R4).
    TokenLimitReached { limit: i32, count: i64 },
}

/// What the provider disabled, which decides what a refusal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disabled {
    /// R10 or support: the org's whole Sandbox API access.
    Org,
    /// R7: the token being changed.
    ThisToken,
    /// R7: another token of the org, which removes Add.
    AToken,
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::SubscriptionExpired => {
                "Your Sandbox subscription has expired, so Sandbox API tokens cannot be shown or \
                 changed. Contact Zscaler Support to renew it; your tokens will work again as \
                 they are."
                    .into()
            }
            Refusal::NoSubscription => {
                "Your organization has no Sandbox subscription, so Sandbox API tokens cannot be \
                 shown or changed. Contact Zscaler Support."
                    .into()
            }
            Refusal::ProviderDisabled(Disabled::Org) => {
                "Sandbox API access for your organization has been disabled by Zscaler or your \
                 service provider. Contact support to re-enable it."
                    .into()
            }
            Refusal::ProviderDisabled(Disabled::ThisToken) => {
                "This token has been disabled by Zscaler or your service provider, so it cannot \
                 be regenerated or deleted. Contact support to re-enable it."
                    .into()
            }
            Refusal::ProviderDisabled(Disabled::AToken) => {
                "A token of your organization has been disabled by Zscaler or your service \
                 provider, so no token can be added. Contact support to re-enable it."
                    .into()
            }
            Refusal::TokenLimitReached { limit, count } if *count > i64::from(*limit) => {
                format!(
                    "Your organization has {count} Sandbox API tokens, more than its limit of \
                     {limit}. Delete {} tokens before adding a new one.",
                    count - i64::from(*limit) + 1
                )
            }
            Refusal::TokenLimitReached { limit, .. } => format!(
                "Your organization already has the maximum of {limit} Sandbox API tokens. \
                 Delete a token before adding a new one."
            ),
        }
    }
}

impl OrgFacts {
    fn writable(&self) -> Result<(), Refusal> {
        match self.subscription {
            SubscriptionStatus::Active => Ok(()),
            SubscriptionStatus::Expired => Err(Refusal::SubscriptionExpired),
            SubscriptionStatus::None => Err(Refusal::NoSubscription),
        }
    }

    /// R4, R7, R8: Add is removed while anything is provider-disabled, else the disable could be
    /// bypassed by adding a fresh token.
    pub fn may_add(&self) -> Result<(), Refusal> {
        self.writable()?;
        if self.api_disabled {
            return Err(Refusal::ProviderDisabled(Disabled::Org));
        }
        if self.any_token_disabled {
            return Err(Refusal::ProviderDisabled(Disabled::AToken));
        }
        if self.token_count >= i64::from(self.token_limit) {
            return Err(Refusal::TokenLimitReached {
                limit: self.token_limit,
                count: self.token_count,
            });
        }
        Ok(())
    }

    /// R5, R6, R7, R8.
    pub fn may_regenerate_or_delete(&self, token_disabled: bool) -> Result<(), Refusal> {
        self.writable()?;
        if self.api_disabled {
            return Err(Refusal::ProviderDisabled(Disabled::Org));
        }
        if token_disabled {
            return Err(Refusal::ProviderDisabled(Disabled::ThisToken));
        }
        Ok(())
    }

    /// R9, R8. A provider-disabled token may still be renamed: a name grants nothing.
    pub fn may_rename(&self) -> Result<(), Refusal> {
        self.writable()
    }
}

/// How a token shows to its org, on the page and through the API (R7, R8, R10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Enabled,
    /// R7 (the token) or R10 (the whole org's Sandbox API access).
    ProviderDisabled,
    /// R8: kept, not invalidated, and enabled again by a renewal.
    SubscriptionExpired,
    /// R8 for an org whose subscription was removed: the same, until support gives it one.
    NoSubscription,
}

impl TokenStatus {
    pub fn is_disabled(self) -> bool {
        self != TokenStatus::Enabled
    }

    pub fn label(self) -> &'static str {
        match self {
            TokenStatus::Enabled => "Enabled",
            TokenStatus::ProviderDisabled => "Disabled",
            TokenStatus::SubscriptionExpired => "Disabled (subscription expired)",
            TokenStatus::NoSubscription => "Disabled (no subscription)",
        }
    }
}

/// A token's status and, when the provider disabled it, the reason to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenState {
    pub status: TokenStatus,
    pub provider_reason: Option<String>,
}

impl TokenState {
    /// Why the token does not work, whoever decided it.
    pub fn reason(&self) -> Option<String> {
        match self.status {
            TokenStatus::Enabled => None,
            TokenStatus::ProviderDisabled => self.provider_reason.clone(),
            TokenStatus::SubscriptionExpired => Some("Sandbox subscription expired".into()),
            TokenStatus::NoSubscription => Some("No Sandbox subscription".into()),
        }
    }
}

/// Shown for an org-level disable that has no reason on record.
pub const ORG_DISABLED_REASON: &str = "Sandbox API access disabled by provider";

impl OrgFacts {
    /// A provider disable outranks an expired subscription: renewing alone does not lift it.
    pub fn token_state(&self, token_disabled_reason: Option<&str>) -> TokenState {
        // The org's reason, as the page's banner shows it: R10 says "API call threshold
        // exceeded" on every token.
        let provider_reason = token_disabled_reason.map(str::to_owned).or_else(|| {
            self.api_disabled.then(|| {
                self.api_disabled_reason
                    .clone()
                    .unwrap_or_else(|| ORG_DISABLED_REASON.to_owned())
            })
        });
        let status = match self.subscription {
            _ if provider_reason.is_some() => TokenStatus::ProviderDisabled,
            SubscriptionStatus::Active => TokenStatus::Enabled,
            SubscriptionStatus::Expired => TokenStatus::SubscriptionExpired,
            SubscriptionStatus::None => TokenStatus::NoSubscription,
        };
        TokenState {
            status,
            provider_reason,
        }
    }

    /// R8 and R13 for reveal (and copy). Reveal is a POST in the JSON API, and R8 refuses
    /// every POST there while the subscription is not active; R13 wants the page to agree, so
    /// it refuses too. Nothing is lost: the value works nowhere until the renewal, after which
    /// the same value shows again.
    pub fn may_reveal(&self) -> Result<(), Refusal> {
        self.writable()
    }
}

/// R9: 1–10 characters after trimming.
pub fn validate_token_name(raw: &str) -> Result<String, String> {
    use unicode_normalization::UnicodeNormalization;
    // Composed (NFC): an "é" typed as e + combining accent is one character, as a person counts
    // it, and the same name however it was typed (R9's uniqueness).
    let name: String = raw.trim().nfc().collect();
    let name = name.as_str();
    let len = name.chars().count();
    if len == 0 {
        return Err("Enter a name for the token (1 to 10 characters).".into());
    }
    if len > 10 {
        return Err(format!(
            "The name is {len} characters long; use at most 10 characters."
        ));
    }
    if !name.chars().all(visible) {
        return Err(
            "The name can only hold visible characters and spaces (no control, formatting or \
             invisible characters)."
                .into(),
        );
    }
    Ok(name.to_owned())
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt, Unicode 15): code points
/// that render as nothing, although some are letters or marks by category (Hangul fillers,
/// variation selectors, the combining grapheme joiner). The category check below misses those.
const DEFAULT_IGNORABLE: &[std::ops::RangeInclusive<char>] = &[
    '\u{00AD}'..='\u{00AD}',
    '\u{034F}'..='\u{034F}',
    '\u{061C}'..='\u{061C}',
    '\u{115F}'..='\u{1160}',
    '\u{17B4}'..='\u{17B5}',
    '\u{180B}'..='\u{180F}',
    '\u{200B}'..='\u{200F}',
    '\u{202A}'..='\u{202E}',
    '\u{2060}'..='\u{206F}',
    '\u{3164}'..='\u{3164}',
    '\u{FE00}'..='\u{FE0F}',
    '\u{FEFF}'..='\u{FEFF}',
    '\u{FFA0}'..='\u{FFA0}',
    '\u{FFF0}'..='\u{FFF8}',
    '\u{1BCA0}'..='\u{1BCA3}',
    '\u{1D173}'..='\u{1D17A}',
    '\u{E0000}'..='\u{E0FFF}',
];

/// A character that shows as itself. Format characters (zero-width spaces and joiners, bidi
/// overrides) would let two names that look the same both pass R9's uniqueness check, or make a
/// name that reads backwards in the audit log. The one check for every name people read:
/// token names here, usernames and organization names in the services.
pub fn visible(c: char) -> bool {
    use unicode_properties::{GeneralCategory as G, UnicodeGeneralCategory};
    // U+2800, the braille blank, is a symbol by category and blank on screen.
    if DEFAULT_IGNORABLE.iter().any(|r| r.contains(&c)) || c == '\u{2800}' {
        return false;
    }
    match c.general_category() {
        G::Control
        | G::Format
        | G::PrivateUse
        | G::Unassigned
        | G::Surrogate
        | G::LineSeparator
        | G::ParagraphSeparator => false,
        G::SpaceSeparator => c == ' ',
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> OrgFacts {
        OrgFacts {
            token_count: 1,
            token_limit: 5,
            subscription: SubscriptionStatus::Active,
            api_disabled: false,
            api_disabled_reason: None,
            any_token_disabled: false,
        }
    }

    #[test]
    fn r4_add_is_refused_at_the_limit() {
        let mut f = facts();
        f.token_count = 5;
        assert_eq!(
            f.may_add(),
            Err(Refusal::TokenLimitReached { limit: 5, count: 5 })
        );
        f.token_count = 4;
        assert_eq!(f.may_add(), Ok(()));
    }

    #[test]
    fn r9_a_name_typed_with_combining_accents_counts_as_a_person_counts_it() {
        let decomposed = "e\u{301}".repeat(6);
        assert_eq!(decomposed.chars().count(), 12);
        let name = validate_token_name(&decomposed).unwrap();
        assert_eq!(name, "\u{e9}".repeat(6), "stored composed");
    }

    #[test]
    fn r4_above_a_lowered_limit_the_refusal_says_how_many_to_delete() {
        let mut f = facts();
        f.token_count = 5;
        f.token_limit = 2;
        let refusal = f.may_add().unwrap_err();
        assert_eq!(
            refusal.message(),
            "Your organization has 5 Sandbox API tokens, more than its limit of 2. Delete 4 \
             tokens before adding a new one."
        );
    }

    #[test]
    fn r7_a_disabled_token_blocks_add_for_the_whole_org() {
        let f = OrgFacts {
            any_token_disabled: true,
            ..facts()
        };
        assert_eq!(
            f.may_add(),
            Err(Refusal::ProviderDisabled(Disabled::AToken))
        );
        assert_eq!(f.may_regenerate_or_delete(false), Ok(()));
        assert_eq!(
            f.may_regenerate_or_delete(true),
            Err(Refusal::ProviderDisabled(Disabled::ThisToken))
        );
    }

    #[test]
    fn r8_an_expired_subscription_refuses_every_change() {
        let f = OrgFacts {
            subscription: SubscriptionStatus::Expired,
            ..facts()
        };
        assert_eq!(f.may_add(), Err(Refusal::SubscriptionExpired));
        assert_eq!(f.may_rename(), Err(Refusal::SubscriptionExpired));
        assert_eq!(
            f.may_regenerate_or_delete(false),
            Err(Refusal::SubscriptionExpired)
        );
    }

    #[test]
    fn r7_r8_r10_token_status_prefers_the_provider_disable_over_expiry() {
        let expired = OrgFacts {
            subscription: SubscriptionStatus::Expired,
            ..facts()
        };
        assert_eq!(
            expired.token_state(None).status,
            TokenStatus::SubscriptionExpired
        );
        let both = expired.token_state(Some("terms violation"));
        assert_eq!(both.status, TokenStatus::ProviderDisabled);
        assert_eq!(both.reason().as_deref(), Some("terms violation"));
        let org_off = OrgFacts {
            api_disabled: true,
            api_disabled_reason: Some("API call threshold exceeded".into()),
            ..facts()
        };
        assert_eq!(
            org_off.token_state(None).reason().as_deref(),
            Some("API call threshold exceeded")
        );
        assert_eq!(
            org_off.may_add(),
            Err(Refusal::ProviderDisabled(Disabled::Org))
        );
        let never = OrgFacts {
            subscription: SubscriptionStatus::None,
            ..facts()
        };
        assert_eq!(never.may_add(), Err(Refusal::NoSubscription));
        assert!(!facts().token_state(None).status.is_disabled());
        assert_eq!(expired.may_reveal(), Err(Refusal::SubscriptionExpired));
    }

    #[test]
    fn r9_names_are_trimmed_and_one_to_ten_characters() {
        assert_eq!(validate_token_name("  ci-prod "), Ok("ci-prod".into()));
        assert!(validate_token_name("   ").is_err());
        assert!(validate_token_name("elevenchars").is_err());
        assert_eq!(validate_token_name("éééééééééé"), Ok("éééééééééé".into()));
        assert_eq!(validate_token_name("ci prod 2"), Ok("ci prod 2".into()));
        assert_eq!(validate_token_name("日本語"), Ok("日本語".into()));
        for invisible in [
            "Build\u{200b}",
            "Bui\u{200d}ld",
            "\u{202e}test",
            "a\u{3000}b",
            "a\0b",
            "Build\u{fe0f}",
            "a\u{34f}b",
            "\u{3164}",
            "a\u{2800}",
        ] {
            assert!(validate_token_name(invisible).is_err(), "{invisible:?}");
        }
    }
}
