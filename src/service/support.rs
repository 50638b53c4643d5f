//! What support staff do to an org: subscription, limits, provider disable of the org's Sandbox
//! API access (R10) or of one token (R7). Each is one transaction with its audit row, taken
//! under the org's row lock like the token operations, so a concurrent add or regenerate sees
//! either the state before or after, never half of it. Each also notifies the Submission API's
//! token gates (`db::notify`) in the same transaction, so every instance enforces the change
//! as soon as it commits.
use crate::db::audit::{self, Actor, Event};
use crate::db::models::{Org, Token};
use crate::db::orgs::{self, Limits};
use crate::db::{notify, tokens};
use crate::domain::audit::AuditAction;
use crate::domain::token::TokenKeys;
use crate::error::AppError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// An org as support's console lists it.
#[derive(Debug, Clone)]
pub struct OrgSummary {
    pub org: Org,
    pub token_count: i64,
}

/// One page of orgs whose name contains `search` (case-insensitive), by name.
pub fn list_orgs(
    conn: &mut PgConnection,
    search: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Vec<OrgSummary>, AppError> {
    let needle = search.map(str::trim).filter(|s| !s.is_empty());
    let found = orgs::search(conn, needle, offset, limit)?;
    let ids: Vec<Uuid> = found.iter().map(|o| o.id).collect();
    let counts = tokens::counts_by_org(conn, &ids)?;
    Ok(found
        .into_iter()
        .map(|org| OrgSummary {
            token_count: counts.get(&org.id).copied().unwrap_or(0),
            org,
        })
        .collect())
}

pub fn summary(conn: &mut PgConnection, org_id: Uuid) -> Result<OrgSummary, AppError> {
    let org = orgs::find(conn, org_id)?.ok_or(AppError::NotFound)?;
    Ok(OrgSummary {
        token_count: tokens::count(conn, org_id)?,
        org,
    })
}

/// R7, R10: support must say why; the reason is shown to the org.
pub fn validate_reason(raw: &str) -> Result<String, AppError> {
    let reason = raw.trim();
    let len = reason.chars().count();
    if len == 0 || len > 200 || reason.chars().any(char::is_control) {
        return Err(AppError::BadRequest(
            "Give a reason of 1 to 200 characters (it is shown to the organization).".into(),
        ));
    }
    Ok(reason.to_owned())
}

fn org_event(
    conn: &mut PgConnection,
    actor: &Actor,
    org: &Org,
    action: AuditAction,
    details: Value,
) -> QueryResult<()> {
    audit::record(
        conn,
        actor,
        Event {
            org_id: Some(org.id),
            action,
            resource: Some((org.id, &org.name)),
            success: true,
            details,
        },
    )
}

/// R8: a past time expires the subscription, a future one renews it, `None` removes it. The
/// tokens are untouched, so a renewal makes the very same values work again.
pub fn set_subscription(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    actor: &Actor,
    org_id: Uuid,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Org, AppError> {
    if let Some(end) = expires_at {
        super::orgs::validate_subscription_end(end)?;
    }
    change_subscription(conn, keys, actor, org_id, |_| Ok(expires_at))
}

/// Renews for `days` more: from the current end while the subscription still runs, so that
/// renewing early never cuts it short, else from now.
pub fn renew_subscription(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    actor: &Actor,
    org_id: Uuid,
    days: i64,
) -> Result<Org, AppError> {
    let length = super::orgs::subscription_days(days)?;
    change_subscription(conn, keys, actor, org_id, |before| {
        let now = Utc::now();
        let from = before
            .subscription_expires_at
            .map_or(now, |end| end.max(now));
        let end = from + length;
        super::orgs::validate_subscription_end(end)?;
        Ok(Some(end))
    })
}

/// The new end is decided under the org's lock, from the org as it is then. R2: an org that
/// had no subscription and no token gets its first token when a subscription starts, as if it
/// had been provisioned with one ("initially provisioned … enabled, and displayed").
fn change_subscription(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    actor: &Actor,
    org_id: Uuid,
    new_end: impl FnOnce(&Org) -> Result<Option<DateTime<Utc>>, AppError>,
) -> Result<Org, AppError> {
    conn.transaction(|conn| {
        let before = orgs::lock(conn, org_id)?.ok_or(AppError::NotFound)?;
        let expires_at = new_end(&before)?;
        let org = orgs::set_subscription(conn, org_id, expires_at)?;
        org_event(
            conn,
            actor,
            &org,
            AuditAction::SubscriptionChange,
            json!({
                "before": { "expiresAt": before.subscription_expires_at },
                "after": { "expiresAt": org.subscription_expires_at },
            }),
        )?;
        let starts = before.subscription_expires_at.is_none()
            && org
                .subscription_expires_at
                .is_some_and(|end| end > Utc::now());
        if starts && tokens::count(conn, org_id)? == 0 {
            super::tokens::create(conn, keys, actor, org_id, super::tokens::FIRST_TOKEN_NAME)?;
        }
        notify::org_changed(conn, org_id)?;
        Ok(org)
    })
}

/// A change of limits; a field left out keeps its value.
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitsChange {
    pub token_limit: Option<i32>,
    pub daily_quota: Option<i32>,
    pub abuse_threshold: Option<i32>,
}

/// What `set_limits` did.
#[derive(Debug, Clone)]
pub struct LimitsSet {
    pub org: Org,
    /// The org's tokens, counted under the same lock, so the caller can say when the org is now
    /// above its limit.
    pub token_count: i64,
    /// False when the limits given were those the org already had: nothing was written.
    pub changed: bool,
}

/// Lowering the token limit below the current count deletes nothing: Add stays refused (R4)
/// until the org is under the limit again.
///
/// A change that names no limit is refused, since it is most likely a misspelt field; one that
/// gives the limits the org already has succeeds (setting a value is idempotent) but writes
/// nothing, so the audit trail holds no change that is none.
pub fn set_limits(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: Uuid,
    change: LimitsChange,
) -> Result<LimitsSet, AppError> {
    if change.token_limit.is_none()
        && change.daily_quota.is_none()
        && change.abuse_threshold.is_none()
    {
        return Err(AppError::BadRequest(
            "Give at least one limit to change: the token limit (tokenLimit), the daily quota \
             (dailyQuota) or the abuse threshold (abuseThreshold)."
                .into(),
        ));
    }
    conn.transaction(|conn| {
        let before = orgs::lock(conn, org_id)?.ok_or(AppError::NotFound)?;
        let limits = Limits {
            token_limit: change.token_limit.unwrap_or(before.token_limit),
            daily_quota: change.daily_quota.unwrap_or(before.daily_quota),
            abuse_threshold: change.abuse_threshold.unwrap_or(before.abuse_threshold),
        };
        super::orgs::validate_limits(
            limits.token_limit,
            limits.daily_quota,
            limits.abuse_threshold,
        )?;
        let unchanged = limits.token_limit == before.token_limit
            && limits.daily_quota == before.daily_quota
            && limits.abuse_threshold == before.abuse_threshold;
        if unchanged {
            let token_count = tokens::count(conn, org_id)?;
            return Ok(LimitsSet {
                org: before,
                token_count,
                changed: false,
            });
        }
        let org = orgs::set_limits(conn, org_id, &limits)?;
        let of = |o: &Org| {
            json!({
                "tokenLimit": o.token_limit,
                "dailyQuota": o.daily_quota,
                "abuseThreshold": o.abuse_threshold,
            })
        };
        org_event(
            conn,
            actor,
            &org,
            AuditAction::LimitsChange,
            json!({ "before": of(&before), "after": of(&org) }),
        )?;
        notify::org_changed(conn, org_id)?;
        let token_count = tokens::count(conn, org_id)?;
        Ok(LimitsSet {
            org,
            token_count,
            changed: true,
        })
    })
}

fn org_access(o: &Org) -> Value {
    json!({
        "disabled": o.api_disabled_at.is_some(),
        "reason": o.api_disabled_reason,
    })
}

/// A second disable would overwrite the first reason and audit a change that is none. Also
/// asked before support is shown the confirmation, so that it is never a dead end.
pub fn may_disable_org(org: &Org) -> Result<(), AppError> {
    match org.api_disabled_at {
        Some(_) => Err(AppError::Conflict(
            "Sandbox API access is already disabled for this organization.".into(),
        )),
        None => Ok(()),
    }
}

/// As `may_disable_org`, for one token (R7).
pub fn may_disable_token(token: &Token) -> Result<(), AppError> {
    match token.disabled_at {
        Some(_) => Err(AppError::Conflict(format!(
            "Token \"{}\" is already disabled.",
            token.name
        ))),
        None => Ok(()),
    }
}

/// R10 by hand: the whole org's Sandbox API access is provider-disabled; a flag on the org, so
/// that no token change can clear it.
pub fn disable_org_api(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: Uuid,
    raw_reason: &str,
) -> Result<Org, AppError> {
    let reason = validate_reason(raw_reason)?;
    conn.transaction(|conn| {
        let before = orgs::lock(conn, org_id)?.ok_or(AppError::NotFound)?;
        may_disable_org(&before)?;
        let org = orgs::set_api_disabled(conn, org_id, Some((&reason, &actor.name)))?;
        org_event(
            conn,
            actor,
            &org,
            AuditAction::DisableOrgApi,
            json!({ "before": org_access(&before), "after": org_access(&org) }),
        )?;
        notify::org_changed(conn, org_id)?;
        Ok(org)
    })
}

/// Only support re-enables (R7, R10).
pub fn enable_org_api(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: Uuid,
) -> Result<Org, AppError> {
    conn.transaction(|conn| {
        let before = orgs::lock(conn, org_id)?.ok_or(AppError::NotFound)?;
        // Re-enabling an enabled org would also restart today's threshold count (R10) for
        // nothing, and audit a change that is none.
        if before.api_disabled_at.is_none() {
            return Err(AppError::Conflict(
                "Sandbox API access is already enabled for this organization.".into(),
            ));
        }
        let org = orgs::set_api_disabled(conn, org_id, None)?;
        // Otherwise the very next call would cross today's threshold again (R10).
        orgs::restart_threshold_count(conn, org_id, Utc::now().date_naive())?;
        org_event(
            conn,
            actor,
            &org,
            AuditAction::EnableOrgApi,
            json!({ "before": org_access(&before), "after": org_access(&org) }),
        )?;
        notify::org_changed(conn, org_id)?;
        Ok(org)
    })
}

fn token_access(t: &Token) -> Value {
    json!({
        "disabled": t.disabled_at.is_some(),
        "reason": t.disabled_reason,
    })
}

fn set_token_disabled(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: Uuid,
    token_id: Uuid,
    reason: Option<&str>,
) -> Result<Token, AppError> {
    conn.transaction(|conn| {
        // The org lock orders this against add (R7 removes Add while a token is disabled).
        orgs::lock(conn, org_id)?.ok_or(AppError::NotFound)?;
        let before = tokens::find(conn, org_id, token_id)?.ok_or(AppError::NotFound)?;
        // A repeated enable would audit a change that is none.
        match reason {
            Some(_) => may_disable_token(&before)?,
            None if before.disabled_at.is_none() => {
                return Err(AppError::Conflict(format!(
                    "Token \"{}\" is already enabled.",
                    before.name
                )));
            }
            None => {}
        }
        let token =
            tokens::set_disabled(conn, org_id, token_id, reason.map(|r| (r, &*actor.name)))?;
        audit::record(
            conn,
            actor,
            Event {
                org_id: Some(org_id),
                action: if reason.is_some() {
                    AuditAction::DisableToken
                } else {
                    AuditAction::EnableToken
                },
                resource: Some((token.id, &token.name)),
                success: true,
                details: json!({ "before": token_access(&before), "after": token_access(&token) }),
            },
        )?;
        notify::org_changed(conn, org_id)?;
        Ok(token)
    })
}

/// R7: a disabled token is refused by the Submission API and loses regenerate and delete; Add
/// is removed for its whole org.
pub fn disable_token(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: Uuid,
    token_id: Uuid,
    raw_reason: &str,
) -> Result<Token, AppError> {
    let reason = validate_reason(raw_reason)?;
    set_token_disabled(conn, actor, org_id, token_id, Some(&reason))
}

pub fn enable_token(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: Uuid,
    token_id: Uuid,
) -> Result<Token, AppError> {
    set_token_disabled(conn, actor, org_id, token_id, None)
}
