//! Extractors that authenticate and authorize before a handler runs. A handler that takes
//! `OrgScope<Manage>` cannot be reached by a role that may not manage tokens, and it only ever
//! sees an org the caller may see; every query below it is scoped by that org.
use super::keys;
use crate::db::{self, audit::Actor, audit::Interface, models::Org};
use crate::domain::audit::AuditAction;
use crate::domain::role::{Action, Role};
use crate::error::AppError;
use crate::state::AppState;
use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::Utc;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    /// Orgs granted to the user; empty for support, who sees all.
    pub org_ids: Vec<Uuid>,
    pub csrf: String,
    pub client_ip: Option<String>,
    pub interface: Interface,
}

impl CurrentUser {
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.id),
            name: self.username.clone(),
            role: Some(self.role),
            interface: self.interface,
            client_ip: self.client_ip.clone(),
        }
    }

    pub fn may_see(&self, org_id: Uuid) -> bool {
        self.role.sees_all_orgs() || self.org_ids.contains(&org_id)
    }

    /// Support and partners granted several orgs: they choose one.
    pub fn sees_several_orgs(&self) -> bool {
        self.role.sees_all_orgs() || self.org_ids.len() > 1
    }
}

/// An id taken from a URL. An unparsable one names nothing: the same 404 as an unknown id or
/// another org's, so a malformed id reveals nothing either.
pub fn object_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw.trim()).map_err(|_| AppError::NotFound)
}

/// `?orgId=` of the API. Unlike an id in the path, a malformed one is an input error the
/// caller can fix, so it is a 400 naming the parameter (as the OpenAPI document says); a
/// well-formed id the caller may not see is still the 404 of `object_id`.
pub fn org_id_param(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| AppError::BadRequest("orgId must be an organization id (a UUID).".into()))
}

pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.trusted_proxies.as_slice())
        .unwrap_or_default();
    Some(forwarded_client(peer, trusted, req.headers()).to_string())
}

/// The socket peer, unless it is a trusted proxy: then the nearest address in X-Forwarded-For
/// that is not one of the trusted proxies (each proxy appends the address it saw, so entries
/// further left were written by whoever sent the request and prove nothing). A header anyone
/// can set never reaches the audit log from an untrusted peer.
fn forwarded_client(
    peer: std::net::IpAddr,
    trusted: &[std::net::IpAddr],
    headers: &actix_web::http::header::HeaderMap,
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return ip,
            // Something else than an address: nothing further left can be trusted either.
            Err(_) => return peer,
        }
    }
    peer
}

pub fn interface_of(req: &HttpRequest) -> Interface {
    if req.path().starts_with("/api/") {
        Interface::Api
    } else {
        Interface::Ui
    }
}

pub(crate) async fn load_user(
    req: &HttpRequest,
    session: &Session,
) -> Result<CurrentUser, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState missing")))?
        .clone();
    let user_id = session
        .get::<Uuid>(keys::USER_ID)
        .ok()
        .flatten()
        .ok_or(AppError::Unauthorized)?;
    let generation = session.get::<i32>(keys::GENERATION).ok().flatten();
    let login_at = session
        .get::<i64>(keys::LOGIN_AT)
        .ok()
        .flatten()
        .unwrap_or(0);
    if Utc::now().timestamp() - login_at > state.session_absolute.num_seconds() {
        session.purge();
        return Err(AppError::Unauthorized);
    }
    let loaded = state
        .db(move |c| {
            let Some(user) = db::users::find(c, user_id)? else {
                return Ok(None);
            };
            let orgs = db::users::org_ids(c, user_id)?;
            Ok(Some((user, orgs)))
        })
        .await?;
    let Some((user, org_ids)) = loaded else {
        session.purge();
        return Err(AppError::Unauthorized);
    };
    // A disabled user or a changed role ends the session at once.
    if user.disabled || generation != Some(user.session_generation) {
        session.purge();
        return Err(AppError::Unauthorized);
    }
    let role: Role = user
        .role
        .parse()
        .map_err(|e: String| AppError::Internal(anyhow::anyhow!(e)))?;
    let csrf = super::csrf::ensure_token(session)?;
    Ok(CurrentUser {
        id: user.id,
        username: user.username,
        role,
        org_ids,
        csrf,
        client_ip: client_ip(req),
        interface: interface_of(req),
    })
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = req.get_session();
            load_user(&req, &session).await
        })
    }
}

/// A permission a handler requires, as a type.
pub trait Permission {
    const ACTION: Action;
}

pub struct View;
impl Permission for View {
    const ACTION: Action = Action::ViewTokens;
}
pub struct Reveal;
impl Permission for Reveal {
    const ACTION: Action = Action::RevealToken;
}
pub struct Manage;
impl Permission for Manage {
    const ACTION: Action = Action::ManageTokens;
}
pub struct DisableTokens;
impl Permission for DisableTokens {
    const ACTION: Action = Action::DisableTokens;
}
pub struct ManageOrgs;
impl Permission for ManageOrgs {
    const ACTION: Action = Action::ManageOrgs;
}
pub struct ViewAuditLog;
impl Permission for ViewAuditLog {
    const ACTION: Action = Action::ViewAuditLog;
}

/// The caller, with proof that their role allows `P`; for actions that are not about one org
/// chosen by the caller (support's console, the audit log across orgs).
pub struct Authorized<P: Permission> {
    pub user: CurrentUser,
    _permission: PhantomData<P>,
}

impl<P: Permission + 'static> FromRequest for Authorized<P> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = req.get_session();
            let user = load_user(&req, &session).await?;
            if !user.role.can(P::ACTION) {
                return Err(denied(&req, &user, P::ACTION, None).await);
            }
            Ok(Authorized {
                user,
                _permission: PhantomData,
            })
        })
    }
}

/// The caller, the org they act on (chosen with `?org=` or their only org), and proof that their
/// role allows `P` there.
pub struct OrgScope<P: Permission> {
    pub user: CurrentUser,
    pub org: Org,
    _permission: PhantomData<P>,
}

/// The org named in the query: `?org=` (pages) or `?orgId=` (the API). Both are read here; the
/// API then refuses `?org=` as a parameter it does not document (`http::QueryParams`).
/// Named more than once, it is refused by the name given: a request that names two orgs does
/// not act on either.
fn org_param(query: &str) -> Result<Option<String>, String> {
    let mut named = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "org" || k == "orgId")
        .map(|(k, v)| (k.into_owned(), v.into_owned()));
    let Some((first, value)) = named.next() else {
        return Ok(None);
    };
    match named.next() {
        None => Ok(Some(value)),
        Some((second, _)) if second == first => Err(format!(
            "{first} is given more than once: name one organization."
        )),
        Some((second, _)) => Err(format!(
            "{first} and {second} are both given: name one organization, once."
        )),
    }
}

impl<P: Permission + 'static> FromRequest for OrgScope<P> {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let session = req.get_session();
            let user = load_user(&req, &session).await?;
            let may_act = user.role.can(P::ACTION);
            // A caller whose role may not act is told that, not the input rules (§4); an org
            // they may not see stays a 404, whatever the role.
            let input_error = |message: &str| AppError::BadRequest(message.into());
            let api = req.path().starts_with("/api/");
            let named = match org_param(req.query_string()) {
                Ok(named) => named,
                Err(message) if may_act => return Err(input_error(&message)),
                Err(_) => return Err(denied(&req, &user, P::ACTION, None).await),
            };
            // On the API a malformed id is an input error (`org_id_param`); on a page `?org=`
            // is the org switcher's link, and one that names nothing is a page not found.
            let wanted = match named {
                Some(raw) if api => match org_id_param(&raw) {
                    Ok(id) => Some(id),
                    Err(e) if may_act => return Err(e),
                    Err(_) => return Err(denied(&req, &user, P::ACTION, None).await),
                },
                Some(raw) => Some(object_id(&raw)?),
                None => None,
            };
            // A script of a user with several orgs must say which one; a page opens the first
            // and offers the others.
            if wanted.is_none() && api && user.sees_several_orgs() {
                if !may_act {
                    return Err(denied(&req, &user, P::ACTION, None).await);
                }
                return Err(input_error(
                    "You can see several organizations: name one with ?orgId=.",
                ));
            }
            // A page without ?org= opens the org last chosen (`remember_org`), when it may
            // still be seen.
            let last = (!api && user.sees_several_orgs())
                .then(|| remembered_org(&req))
                .flatten()
                .filter(|id| user.may_see(*id));
            let org = resolve_org(&req, &user, wanted.or(last)).await?;
            if !may_act {
                return Err(denied(&req, &user, P::ACTION, Some(org.id)).await);
            }
            Ok(OrgScope {
                user,
                org,
                _permission: PhantomData,
            })
        })
    }
}

/// §7: an attempt the caller's role does not allow is audited (ACCESS_DENIED, result FAILURE),
/// in the org it was aimed at when that is known; then refused with 403. A failure to record it
/// does not turn the 403 into an error.
async fn denied(
    req: &HttpRequest,
    user: &CurrentUser,
    action: Action,
    org_id: Option<Uuid>,
) -> AppError {
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        let actor = user.actor();
        let details = serde_json::json!({
            "permission": action.as_str(),
            "method": if crate::startup::asked_with_head(req) {
                "HEAD"
            } else {
                req.method().as_str()
            },
            "path": req.path(),
        });
        let recorded = state
            .db(move |c| {
                db::audit::record(
                    c,
                    &actor,
                    db::audit::Event {
                        org_id,
                        action: AuditAction::AccessDenied,
                        resource: None,
                        success: false,
                        details,
                    },
                )?;
                Ok(())
            })
            .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e.message(), "could not audit a refused attempt");
        }
    }
    AppError::forbidden()
}

/// The org a user who sees several last chose on the token page. A cookie of its own rather
/// than the session: a preference that must never cost a session write (a write that fails
/// under load turns a page that rendered into a 503, and rewrites what another request of the
/// same session just changed). Not trusted: the org must still be one the user may see.
pub fn remembered_org(req: &HttpRequest) -> Option<Uuid> {
    [LAST_ORG_COOKIE, LAST_ORG_COOKIE_HTTPS]
        .into_iter()
        .find_map(|name| req.cookie(name))
        .and_then(|c| c.value().parse().ok())
}

const LAST_ORG_COOKIE: &str = "sp_last_org";
const LAST_ORG_COOKIE_HTTPS: &str = "__Host-sp_last_org";

/// The cookie that makes `remembered_org` open `org_id` next time (a browser session's cookie,
/// like the login's).
pub fn remember_org(org_id: Uuid, https: bool) -> actix_web::cookie::Cookie<'static> {
    let name = if https {
        LAST_ORG_COOKIE_HTTPS
    } else {
        LAST_ORG_COOKIE
    };
    actix_web::cookie::Cookie::build(name, org_id.to_string())
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(actix_web::cookie::SameSite::Strict)
        .finish()
}

async fn resolve_org(
    req: &HttpRequest,
    user: &CurrentUser,
    org_id: Option<Uuid>,
) -> Result<Org, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppState missing")))?
        .clone();
    if let Some(id) = org_id
        && !user.may_see(id)
    {
        return Err(AppError::NotFound);
    }
    let granted = user.org_ids.clone();
    let sees_all = user.role.sees_all_orgs();
    state
        .db(move |c| {
            let org = match org_id {
                Some(id) => db::orgs::find(c, id)?,
                None if sees_all => db::orgs::page_after(c, None, None, 1)?.into_iter().next(),
                None => db::orgs::by_ids(c, &granted)?.into_iter().next(),
            };
            org.ok_or(AppError::NotFound)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_str(v).unwrap(),
        );
        h
    }

    #[test]
    fn only_a_trusted_proxy_may_name_the_client() {
        let proxy: std::net::IpAddr = "10.0.0.5".parse().unwrap();
        let peer: std::net::IpAddr = "198.51.100.9".parse().unwrap();
        let client: std::net::IpAddr = "203.0.113.7".parse().unwrap();
        // Untrusted peer: its header is ignored.
        assert_eq!(forwarded_client(peer, &[proxy], &xff("203.0.113.7")), peer);
        // Trusted proxy: the nearest untrusted hop, not a forged one further left.
        assert_eq!(
            forwarded_client(proxy, &[proxy], &xff("1.2.3.4, 203.0.113.7")),
            client
        );
        assert_eq!(
            forwarded_client(proxy, &[proxy], &xff("203.0.113.7, 10.0.0.5")),
            client
        );
        assert_eq!(forwarded_client(proxy, &[proxy], &HeaderMap::new()), proxy);
        assert_eq!(forwarded_client(proxy, &[proxy], &xff("garbage")), proxy);
    }
}
