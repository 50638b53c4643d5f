//! Provisioning organizations (R2).
use super::unique_as_conflict;
use crate::db::audit::{self, Actor, Event};
use crate::db::models::{Org, Token};
use crate::db::orgs::{self, NewOrg};
use crate::domain::audit::AuditAction;
use crate::domain::policy::visible;
use crate::domain::token::TokenKeys;
use crate::error::AppError;
use chrono::{DateTime, Datelike, Duration, Utc};
use diesel::prelude::*;
use serde_json::json;
use std::ops::RangeInclusive;

/// Whole days of subscription that support may give at once, when provisioning (web form, CLI)
/// and when renewing: ten years covers any contract, and keeps the end a date PostgreSQL and
/// chrono can both hold (a day count near `i64::MAX` panicked, a very negative one failed in
/// the database, and zero or less silently made an org that was expired from the start).
pub const SUBSCRIPTION_DAYS: RangeInclusive<i64> = 1..=3650;

/// The length of a subscription given in days, or a 400 that says the bounds.
pub fn subscription_days(days: i64) -> Result<Duration, AppError> {
    if !SUBSCRIPTION_DAYS.contains(&days) {
        return Err(AppError::BadRequest(format!(
            "The subscription must last {} to {} days.",
            SUBSCRIPTION_DAYS.start(),
            SUBSCRIPTION_DAYS.end()
        )));
    }
    Ok(Duration::days(days))
}

/// Years in which a subscription may end. A past end is how support expires one (R8), so the
/// window reaches back to 1970; a date outside it is a typo, and beyond it PostgreSQL and chrono
/// disagree about what they can store (a server error instead of a message).
pub const SUBSCRIPTION_END_YEARS: RangeInclusive<i32> = 1970..=9999;

pub fn validate_subscription_end(at: DateTime<Utc>) -> Result<(), AppError> {
    if !SUBSCRIPTION_END_YEARS.contains(&at.year()) {
        return Err(AppError::BadRequest(format!(
            "The subscription end must be between {}-01-01T00:00:00Z and {}-12-31T23:59:59Z.",
            SUBSCRIPTION_END_YEARS.start(),
            SUBSCRIPTION_END_YEARS.end()
        )));
    }
    Ok(())
}

/// A name as support typed it: trimmed, 1 to 200 characters, and no control
/// characters (PostgreSQL refuses NUL outright; the others only garble pages and logs), nor
/// formatting or invisible ones (a bidi override makes a name read backwards in the audit log
/// and on the console, and a zero-width one makes two names look alike).
pub(crate) fn text_field(raw: &str, what: &str) -> Result<String, AppError> {
    let value = raw.trim();
    if value.is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control) {
        return Err(AppError::BadRequest(format!(
            "The {what} must be 1 to 200 characters, without control characters."
        )));
    }
    if !value.chars().all(visible) {
        return Err(AppError::BadRequest(format!(
            "The {what} can only hold visible characters and spaces (no formatting or \
             invisible characters)."
        )));
    }
    Ok(value.to_owned())
}

/// A cloud name as the customer's clients will use it: a DNS name such as `zscalerbeta.net`
/// (RFC 1123 labels of letters, digits and hyphens, at least two, 253 characters in all),
/// in lower case, since DNS ignores case and one cloud should be spelt one way.
pub(crate) fn cloud_name(raw: &str) -> Result<String, AppError> {
    let cloud = raw.trim().to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let labels: Vec<&str> = cloud.split('.').collect();
    let valid = cloud.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| label_ok(l))
        // A top-level domain is never all digits; that would be an IP address.
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        return Err(AppError::BadRequest(
            "The cloud name must be a domain name such as zscalerbeta.net: letters, digits and \
             hyphens, in parts separated by dots."
                .into(),
        ));
    }
    Ok(cloud)
}

/// The most tokens support may allow an org (R4's limit is 5 by default).
pub const TOKEN_LIMIT_MAX: i32 = 100;

/// The bounds of an org's limits, the same at provisioning and when support changes them.
pub fn validate_limits(
    token_limit: i32,
    daily_quota: i32,
    abuse_threshold: i32,
) -> Result<(), AppError> {
    if !(1..=TOKEN_LIMIT_MAX).contains(&token_limit) {
        return Err(AppError::BadRequest(format!(
            "The token limit must be between 1 and {TOKEN_LIMIT_MAX}."
        )));
    }
    if daily_quota < 0 || abuse_threshold < 0 {
        return Err(AppError::BadRequest(
            "The daily quota and the abuse threshold cannot be negative.".into(),
        ));
    }
    Ok(())
}

/// Creates an org; with a Sandbox subscription its first token is created, enabled (R2).
pub fn provision(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    actor: &Actor,
    new: &NewOrg<'_>,
) -> Result<(Org, Option<Token>), AppError> {
    let name = text_field(new.name, "organization name")?;
    let name = name.as_str();
    let cloud = cloud_name(new.cloud)?;
    if let Some(end) = new.subscription_expires_at {
        validate_subscription_end(end)?;
        // Expiring is a change to an existing org (R8); an org born expired would get a first
        // token it can never use, and the CLI (whole days from 1) cannot make one either.
        if end <= Utc::now() {
            return Err(AppError::BadRequest(
                "A new organization's subscription must end in the future. To provision it \
                 without a subscription, leave the end out."
                    .into(),
            ));
        }
    }
    validate_limits(new.token_limit, new.daily_quota, new.abuse_threshold)?;
    conn.transaction(|conn| {
        let org = orgs::insert(
            conn,
            &NewOrg {
                name,
                cloud: &cloud,
                ..*new
            },
        )
        .map_err(|e| {
            unique_as_conflict(e, || {
                format!("An organization named \"{name}\" already exists.")
            })
        })?;
        audit::record(
            conn,
            actor,
            Event {
                org_id: Some(org.id),
                action: AuditAction::ProvisionOrg,
                resource: Some((org.id, &org.name)),
                success: true,
                details: json!({
                    "cloud": org.cloud,
                    "subscriptionExpiresAt": org.subscription_expires_at,
                    "tokenLimit": org.token_limit,
                    "dailyQuota": org.daily_quota,
                    "abuseThreshold": org.abuse_threshold,
                }),
            },
        )?;
        crate::db::notify::org_changed(conn, org.id)?;
        let token = match org.subscription_expires_at {
            Some(_) => Some(
                super::tokens::create(conn, keys, actor, org.id, super::tokens::FIRST_TOKEN_NAME)?
                    .0,
            ),
            None => None,
        };
        Ok((org, token))
    })
}

#[cfg(test)]
mod tests {
    use super::cloud_name;

    #[test]
    fn a_cloud_is_a_domain_name() {
        for ok in [
            "zscalerbeta.net",
            "zscaler.net",
            " ZscalerTwo.NET ",
            "a-1.b2.example",
        ] {
            assert!(cloud_name(ok).is_ok(), "{ok}");
        }
        assert_eq!(cloud_name(" ZscalerTwo.NET ").unwrap(), "zscalertwo.net");
        let longest = format!("{}net", "abcdefghi.".repeat(25));
        assert!(cloud_name(&longest).is_ok(), "253 characters");
        let long_label = format!("{}.net", "a".repeat(64));
        // Valid labels, 263 characters in all: over the 253 of a DNS name.
        let too_long = format!("{}net", "abcdefghi.".repeat(26));
        for bad in [
            "not a cloud!!",
            "zscaler",
            "zscaler..net",
            ".zscaler.net",
            "zscaler.net.",
            "-zscaler.net",
            "zscaler-.net",
            "zscaler_beta.net",
            "10.0.0.1",
            "",
            long_label.as_str(),
            too_long.as_str(),
        ] {
            assert!(cloud_name(bad).is_err(), "{bad}");
        }
    }
}
