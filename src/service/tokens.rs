//! Token operations: add, reveal, rename, regenerate, delete (R3–R9).
use super::unique_as_conflict;
use crate::db::audit::{self, Actor, Event};
use crate::db::models::{Org, Token};
use crate::db::{self, orgs, tokens};
use crate::domain::audit::AuditAction;
use crate::domain::policy::{OrgFacts, SubscriptionStatus, validate_token_name};
use crate::domain::token::{TokenKeys, TokenValue};
use crate::error::AppError;
use chrono::Utc;
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

/// A token as the page and the API list it: no value, only what may be shown.
#[derive(Debug, Clone)]
pub struct TokenView {
    pub token: Token,
    pub calls_today: i32,
    /// Calls per UTC day over the last `HISTORY_DAYS` days, oldest first, today last.
    pub history: Vec<i32>,
}

pub const HISTORY_DAYS: usize = 14;

pub fn facts(conn: &mut PgConnection, org: &Org) -> QueryResult<OrgFacts> {
    Ok(OrgFacts {
        token_count: tokens::count(conn, org.id)?,
        token_limit: org.token_limit,
        subscription: SubscriptionStatus::of(org.subscription_expires_at, Utc::now()),
        api_disabled: org.api_disabled_at.is_some(),
        api_disabled_reason: org.api_disabled_reason.clone(),
        any_token_disabled: tokens::any_disabled(conn, org.id)?,
    })
}

pub fn list(conn: &mut PgConnection, org_id: Uuid) -> QueryResult<Vec<TokenView>> {
    let rows = tokens::list(conn, org_id)?;
    let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
    let today = tokens::today();
    let first = today - chrono::Duration::days(HISTORY_DAYS as i64 - 1);
    let mut history: std::collections::HashMap<Uuid, Vec<i32>> =
        ids.iter().map(|id| (*id, vec![0; HISTORY_DAYS])).collect();
    for (token_id, day, calls) in tokens::calls_since(conn, &ids, first)? {
        let slot = (day - first).num_days();
        if let (Some(days), Ok(slot)) = (history.get_mut(&token_id), usize::try_from(slot))
            && let Some(v) = days.get_mut(slot)
        {
            *v = calls;
        }
    }
    Ok(rows
        .into_iter()
        .map(|token| {
            let history = history.remove(&token.id).unwrap_or_default();
            TokenView {
                calls_today: history.last().copied().unwrap_or(0),
                history,
                token,
            }
        })
        .collect())
}

/// An org with what its token page and the API's token list show.
pub struct Overview {
    pub org: Org,
    pub facts: OrgFacts,
    pub tokens: Vec<TokenView>,
}

pub fn overview(conn: &mut PgConnection, org_id: Uuid) -> Result<Overview, AppError> {
    let org = orgs::find(conn, org_id)?.ok_or(AppError::NotFound)?;
    let facts = facts(conn, &org)?;
    let tokens = list(conn, org_id)?;
    Ok(Overview { org, facts, tokens })
}

/// Locks the org (R4 under concurrency) and returns it with the facts the policy needs.
fn lock_org(conn: &mut PgConnection, org_id: Uuid) -> Result<(Org, OrgFacts), AppError> {
    let org = orgs::lock(conn, org_id)?.ok_or(AppError::NotFound)?;
    let f = facts(conn, &org)?;
    Ok((org, f))
}

fn default_name(existing: &[String]) -> String {
    let taken: Vec<String> = existing.iter().map(|n| n.to_lowercase()).collect();
    (1..)
        .map(|n| format!("Token {n}"))
        .find(|n| !taken.contains(&n.to_lowercase()))
        .unwrap_or_else(|| "Token".into())
}

fn seal(
    keys: &TokenKeys,
    token_id: Uuid,
) -> Result<(TokenValue, [u8; 32], Vec<u8>, String), AppError> {
    let value = TokenValue::generate();
    let digest = keys.digest(&value);
    let sealed = keys.encrypt(token_id, &value)?;
    let hint = value.hint();
    Ok((value, digest, sealed, hint))
}

fn duplicate(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("A token named \"{name}\" already exists in this organization.")
}

/// R9 before the write, naming the token that holds the name as it is spelt ("PROD" is
/// refused because of "Prod"). Under the org lock, so nobody takes the name meanwhile; the
/// unique index still catches a writer that skips the lock.
fn refuse_taken(
    conn: &mut PgConnection,
    org_id: Uuid,
    name: &str,
    except: Option<Uuid>,
) -> Result<(), AppError> {
    match tokens::name_taken(conn, org_id, name, except)? {
        None => Ok(()),
        Some(existing) if existing == name => Err(AppError::Conflict(duplicate(name)())),
        Some(existing) => Err(AppError::Conflict(format!(
            "A token named \"{existing}\" already exists in this organization, and names that \
             differ only in case count as the same."
        ))),
    }
}

/// The name of the token an org is provisioned with (R2).
pub const FIRST_TOKEN_NAME: &str = "Token 1";

/// Creates a token without policy checks: for `add` and for provisioning (R2).
pub(crate) fn create(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    actor: &Actor,
    org_id: Uuid,
    name: &str,
) -> Result<(Token, TokenValue), AppError> {
    refuse_taken(conn, org_id, name, None)?;
    let id = Uuid::new_v4();
    let (value, digest, sealed, hint) = seal(keys, id)?;
    let token = tokens::insert(
        conn,
        tokens::NewToken {
            id,
            org_id,
            name,
            digest: &digest,
            sealed: &sealed,
            hint: &hint,
            by: &actor.name,
        },
    )
    .map_err(|e| unique_as_conflict(e, duplicate(name)))?;
    audit::record(
        conn,
        actor,
        Event {
            org_id: Some(org_id),
            action: AuditAction::AddToken,
            resource: Some((token.id, &token.name)),
            success: true,
            details: json!({ "name": token.name }),
        },
    )?;
    db::notify::org_changed(conn, org_id)?;
    Ok((token, value))
}

/// R4, R7, R8. The name is optional: without one the token is called "Token N".
pub fn add(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    actor: &Actor,
    org_id: Uuid,
    name: Option<&str>,
) -> Result<(Token, TokenValue), AppError> {
    let result = conn.transaction(|conn| {
        let (_, facts) = lock_org(conn, org_id)?;
        facts.may_add()?;
        // A name given is held to R9 whatever it is (a blank one too); only none gets the
        // default. The rules of the org (R4, R7, R8) come first, for every interface (R13).
        let name = match name {
            Some(n) => validate_token_name(n).map_err(AppError::BadRequest)?,
            None => default_name(&tokens::names(conn, org_id)?),
        };
        create(conn, keys, actor, org_id, &name)
    });
    audit_refusal(conn, actor, org_id, AuditAction::AddToken, None, result)
}

/// R3: every reveal is audited. R8: refused while the subscription is not active.
pub fn reveal(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    actor: &Actor,
    org_id: Uuid,
    token_id: Uuid,
    how: &str,
) -> Result<(Token, TokenValue), AppError> {
    let result = conn.transaction(|conn| {
        let org = orgs::find(conn, org_id)?.ok_or(AppError::NotFound)?;
        let token = tokens::find(conn, org_id, token_id)?.ok_or(AppError::NotFound)?;
        facts(conn, &org)?.may_reveal()?;
        let sealed = tokens::sealed_value(conn, org_id, token_id)?.ok_or(AppError::NotFound)?;
        let value = keys.decrypt(token_id, &sealed)?;
        audit::record(
            conn,
            actor,
            Event {
                org_id: Some(org_id),
                action: AuditAction::RevealToken,
                resource: Some((token.id, &token.name)),
                success: true,
                details: json!({ "via": how }),
            },
        )?;
        Ok((token, value))
    });
    audit_refusal(
        conn,
        actor,
        org_id,
        AuditAction::RevealToken,
        Some(token_id),
        result,
    )
}

/// R9.
pub fn rename(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: Uuid,
    token_id: Uuid,
    raw_name: &str,
) -> Result<Token, AppError> {
    rename_if_changed(conn, actor, org_id, token_id, raw_name).map(|r| r.token)
}

pub struct Renamed {
    pub token: Token,
    /// False when the name was already the token's: nothing was written or audited, so "Last
    /// Modified" and the audit trail do not claim a change that did not happen.
    pub changed: bool,
}

/// R9, telling whether anything changed.
pub fn rename_if_changed(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: Uuid,
    token_id: Uuid,
    raw_name: &str,
) -> Result<Renamed, AppError> {
    let result = conn.transaction(|conn| {
        let (_, facts) = lock_org(conn, org_id)?;
        let before = tokens::find(conn, org_id, token_id)?.ok_or(AppError::NotFound)?;
        facts.may_rename()?;
        let name = validate_token_name(raw_name).map_err(AppError::BadRequest)?;
        if name == before.name {
            return Ok(Renamed {
                token: before,
                changed: false,
            });
        }
        refuse_taken(conn, org_id, &name, Some(token_id))?;
        let token = tokens::rename(conn, org_id, token_id, &name, &actor.name)
            .map_err(|e| unique_as_conflict(e, duplicate(&name)))?;
        audit::record(
            conn,
            actor,
            Event {
                org_id: Some(org_id),
                action: AuditAction::RenameToken,
                resource: Some((token.id, &token.name)),
                success: true,
                details: json!({ "before": before.name, "after": token.name }),
            },
        )?;
        Ok(Renamed {
            token,
            changed: true,
        })
    });
    audit_refusal(
        conn,
        actor,
        org_id,
        AuditAction::RenameToken,
        Some(token_id),
        result,
    )
}

/// R5: the old digest is gone once this commits, so the old value matches nothing.
pub fn regenerate(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    actor: &Actor,
    org_id: Uuid,
    token_id: Uuid,
) -> Result<(Token, TokenValue), AppError> {
    let result = conn.transaction(|conn| {
        let (_, facts) = lock_org(conn, org_id)?;
        let before = tokens::find(conn, org_id, token_id)?.ok_or(AppError::NotFound)?;
        facts.may_regenerate_or_delete(before.disabled_at.is_some())?;
        let (value, digest, sealed, hint) = seal(keys, token_id)?;
        let token =
            tokens::replace_value(conn, org_id, token_id, &digest, &sealed, &hint, &actor.name)?;
        audit::record(
            conn,
            actor,
            Event {
                org_id: Some(org_id),
                action: AuditAction::RegenerateToken,
                resource: Some((token.id, &token.name)),
                success: true,
                details: json!({}),
            },
        )?;
        db::notify::org_changed(conn, org_id)?;
        Ok((token, value))
    });
    audit_refusal(
        conn,
        actor,
        org_id,
        AuditAction::RegenerateToken,
        Some(token_id),
        result,
    )
}

/// R6.
pub fn delete(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: Uuid,
    token_id: Uuid,
) -> Result<Token, AppError> {
    let result = conn.transaction(|conn| {
        let (_, facts) = lock_org(conn, org_id)?;
        let token = tokens::find(conn, org_id, token_id)?.ok_or(AppError::NotFound)?;
        facts.may_regenerate_or_delete(token.disabled_at.is_some())?;
        tokens::delete(conn, org_id, token_id)?;
        audit::record(
            conn,
            actor,
            Event {
                org_id: Some(org_id),
                action: AuditAction::DeleteToken,
                resource: Some((token.id, &token.name)),
                success: true,
                details: json!({ "name": token.name }),
            },
        )?;
        db::notify::org_changed(conn, org_id)?;
        Ok(token)
    });
    audit_refusal(
        conn,
        actor,
        org_id,
        AuditAction::DeleteToken,
        Some(token_id),
        result,
    )
}

/// §7: an attempt refused by a rule (R4 limit, R7 disabled, R8 expired) is audited too, with
/// result FAILURE and the refusal's code, after the attempt's own transaction was rolled back
/// (in a transaction of its own, or in the caller's: `service::change_and_answer` commits it). Bad input and unknown ids are not: they change nothing and concern nobody.
fn audit_refusal<T>(
    conn: &mut PgConnection,
    actor: &Actor,
    org_id: Uuid,
    action: AuditAction,
    token_id: Option<Uuid>,
    result: Result<T, AppError>,
) -> Result<T, AppError> {
    let Err(refused @ AppError::Policy(_)) = &result else {
        return result;
    };
    let token = match token_id {
        Some(id) => tokens::find(conn, org_id, id)?,
        None => None,
    };
    audit::record(
        conn,
        actor,
        Event {
            org_id: Some(org_id),
            action,
            resource: token.as_ref().map(|t| (t.id, t.name.as_str())),
            success: false,
            details: json!({ "refused": refused.code() }),
        },
    )?;
    result
}

/// Which token a presented value belongs to, if any (lookup by keyed digest, never plaintext).
pub fn find_by_value(
    conn: &mut PgConnection,
    keys: &TokenKeys,
    value: &TokenValue,
) -> QueryResult<Option<Token>> {
    db::tokens::find_by_digest(conn, &keys.digest(value))
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_names_fill_the_lowest_free_number() {
        assert_eq!(super::default_name(&[]), "Token 1");
        assert_eq!(
            super::default_name(&["token 1".into(), "Token 3".into()]),
            "Token 2"
        );
    }
}
