//! Provisioning organizations (R2).
use super::unique_as_conflict;
use crate::db::audit::{self, Actor, Event};
use crate::db::models::{Org, Token};
use crate::db::orgs::{self, NewOrg};
use crate::domain::token::TokenKeys;
use crate::error::AppError;
use diesel::prelude::*;
use serde_json::json;

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
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AppError::BadRequest(
            "The organization name must be 1 to 200 characters.".into(),
        ));
    }
    let cloud = new.cloud.trim();
    if cloud.is_empty() || cloud.chars().count() > 200 {
        return Err(AppError::BadRequest(
            "The cloud name must be 1 to 200 characters.".into(),
        ));
    }
    validate_limits(new.token_limit, new.daily_quota, new.abuse_threshold)?;
    conn.transaction(|conn| {
        let org = orgs::insert(
            conn,
            &NewOrg {
                name,
                cloud,
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
            Some(_) => Some(super::tokens::create(conn, keys, actor, org.id, "Token 1")?.0),
            None => None,
        };
        Ok((org, token))
    })
}
