//! Provisioning organizations (R2).
use super::unique_as_conflict;
use crate::db::audit::{self, Actor, Event};
use crate::db::models::{Org, Token};
use crate::db::orgs::{self, NewOrg};
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

/// A name or cloud as support typed it: trimmed, 1 to 200 characters, and no control
/// characters (PostgreSQL refuses NUL outright; the others only garble pages and logs).
pub(crate) fn text_field(raw: &str, what: &str) -> Result<String, AppError> {
    let value = raw.trim();
    if value.is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control) {
        return Err(AppError::BadRequest(format!(
            "The {what} must be 1 to 200 characters, without control characters."
        )));
    }
    Ok(value.to_owned())
}

/// The bounds of an org's limits, the same at provisioning and when support changes them.
pub fn validate_limits(
    token_limit: i32,
    daily_quota: i32,
    abuse_threshold: i32,
) -> Result<(), AppError> {
    if !(1..=100).contains(&token_limit) {
        return Err(AppError::BadRequest(
            "The token limit must be between 1 and 100.".into(),
        ));
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
    let cloud = text_field(new.cloud, "cloud name")?;
    if let Some(end) = new.subscription_expires_at {
        validate_subscription_end(end)?;
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
                action: "PROVISION_ORG",
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
