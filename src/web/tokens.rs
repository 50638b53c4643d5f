//! The Sandbox API Token page (R1, R3–R9, R12).
use super::view::{Chrome, iso, relative, when};
use super::{PageRoute, Routes, html, see_other, see_other_with_flash, take_flash};
use crate::auth::extract::{
    Manage, OrgScope, Permission, Reveal, View, object_id, remember_org, remembered_org,
};
use crate::auth::keys;
use crate::db::models::Org;
use crate::db::orgs;
use crate::domain::policy::{OrgFacts, SubscriptionStatus};
use crate::domain::role::{Action, Role};
use crate::domain::token::{TokenValue, masked};
use crate::error::{AppError, flash_html, is_htmx};
use crate::service::change_and_answer;
use crate::service::tokens::{self as ops, TokenView};
use crate::state::AppState;
use actix_session::SessionExt;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::Utc;
use diesel::PgConnection;
use serde::Deserialize;
use uuid::Uuid;

pub const PAGE: &str = "/admin/cloud-service-api-security/sandbox-api-token";

pub fn routes(cfg: &mut Routes) {
    cfg.route(PAGE, PageRoute::get(page))
        .route(&format!("{PAGE}/tokens"), PageRoute::post(add))
        .route(&format!("{PAGE}/tokens/{{id}}/row"), PageRoute::get(row))
        .route(
            &format!("{PAGE}/tokens/{{id}}/reveal"),
            PageRoute::post(reveal),
        )
        .route(&format!("{PAGE}/tokens/{{id}}/copy"), PageRoute::post(copy))
        .route(
            &format!("{PAGE}/tokens/{{id}}/rename"),
            PageRoute::get(rename_form),
        )
        .route(
            &format!("{PAGE}/tokens/{{id}}/rename"),
            PageRoute::post(rename),
        )
        .route(
            &format!("{PAGE}/tokens/{{id}}/regenerate"),
            PageRoute::get(regenerate_confirm),
        )
        .route(
            &format!("{PAGE}/tokens/{{id}}/regenerate"),
            PageRoute::post(regenerate),
        )
        .route(
            &format!("{PAGE}/tokens/{{id}}/delete"),
            PageRoute::get(delete_confirm),
        )
        .route(
            &format!("{PAGE}/tokens/{{id}}/delete"),
            PageRoute::post(delete),
        );
}

/// What every part of the page needs to know about the viewer and the org.
pub struct Ctx {
    pub page: &'static str,
    /// `?org=<id>`, appended to every URL so multi-org users act on the org they look at.
    pub q: String,
    /// The same org for the GET forms, whose fields replace their action's query.
    pub org_id: Uuid,
    pub csrf: String,
    pub can_reveal: bool,
    pub can_manage: bool,
    /// Cloud Connector admins see this page as the Cloud Connector Portal's view-only page.
    pub connector: bool,
}

pub struct Row {
    pub id: Uuid,
    pub name: String,
    pub shown_value: String,
    /// The last characters of the value, for the masked value's spoken form.
    pub hint: String,
    pub revealed: bool,
    pub disabled: bool,
    pub status_label: &'static str,
    pub disabled_reason: Option<String>,
    pub last_modified_by: String,
    pub last_modified_on: String,
    pub last_modified_iso: String,
    /// As shown ("5 minutes ago"), and exact for the `datetime` attribute.
    pub last_used: Option<(String, String)>,
    pub calls_today: i32,
    pub spark: super::view::Sparkline,
    pub can_reveal: bool,
    pub can_rename: bool,
    pub can_regenerate_delete: bool,
    pub editing: bool,
    pub name_input: String,
    pub name_error: Option<String>,
    /// The row was just added: keyboard focus goes to it once it is in the page.
    pub focus_after_swap: bool,
}

pub struct Banner {
    pub kind: &'static str,
    pub title: &'static str,
    pub message: String,
}

pub struct Dialog {
    pub title: String,
    pub description: String,
    pub action: String,
    pub target: String,
    pub confirm_label: &'static str,
    pub danger: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct Page {
    chrome: Chrome,
    ctx: Ctx,
    org: Org,
    orgs: Vec<(Uuid, String)>,
    /// The switcher does not list every org (support): the console finds the others.
    orgs_more: bool,
    orgs_listed: usize,
    base_url: String,
    banners: Vec<Banner>,
    rows: Vec<Row>,
    add_allowed: bool,
    add_refusal: Option<String>,
    token_limit: i32,
    token_count: usize,
    dialog: Option<Dialog>,
    flash: Option<(&'static str, String)>,
    quota: super::view::Gauge,
    /// What was typed into Add's name field, kept when a plain form post was refused.
    add_name: String,
    /// Why that name was refused, shown next to the field.
    add_error: Option<String>,
}

#[derive(Template)]
#[template(path = "tokens.html", block = "panel")]
struct Panel {
    ctx: Ctx,
    add_name: String,
    add_error: Option<String>,
    rows: Vec<Row>,
    add_allowed: bool,
    add_refusal: Option<String>,
    token_limit: i32,
    token_count: usize,
}

#[derive(Template)]
#[template(path = "_token_row.html")]
struct RowFragment {
    ctx: Ctx,
    row: Row,
}

#[derive(Template)]
#[template(path = "_banners_oob.html")]
struct BannersOob {
    banners: Vec<Banner>,
}

#[derive(Template)]
#[template(path = "_dialog.html")]
struct DialogFragment {
    ctx: Ctx,
    dialog: Dialog,
}

/// How one row should look beyond its stored state.
#[derive(Default)]
struct RowState {
    revealed: Option<(Uuid, TokenValue)>,
    editing: Option<(Uuid, String, Option<String>)>,
    /// Add's name field as typed, and why it was refused.
    adding: Option<(String, String)>,
    /// The token just added.
    added: Option<Uuid>,
}

struct Loaded {
    org: Org,
    facts: OrgFacts,
    tokens: Vec<TokenView>,
    /// The switcher's choices, by name; always with the org shown.
    orgs: Vec<(Uuid, String)>,
    orgs_more: bool,
    /// Today's (calls, submissions) of the org.
    usage: (i32, i32),
}

/// How many orgs support's switcher lists at most, besides the one shown; support finds any
/// other in the Organizations console (search, paginated).
const SWITCHER_ORGS: usize = 200;

async fn load<P: Permission>(state: &AppState, scope: &OrgScope<P>) -> Result<Loaded, AppError> {
    let reader = Reader::of(scope);
    state.db(move |c| reader.load(c)).await
}

/// What `load` needs of the scope, to read the page on a connection of its own (in the
/// transaction of a change, see `service::change_and_answer`).
struct Reader {
    org_id: Uuid,
    granted: Vec<Uuid>,
    sees_all: bool,
}

impl Reader {
    fn of<P: Permission>(scope: &OrgScope<P>) -> Reader {
        Reader {
            org_id: scope.org.id,
            granted: scope.user.org_ids.clone(),
            sees_all: scope.user.role.sees_all_orgs(),
        }
    }

    fn load(&self, c: &mut PgConnection) -> Result<Loaded, AppError> {
        let org_id = self.org_id;
        let ops::Overview { org, facts, tokens } = ops::overview(c, org_id)?;
        let (choices, orgs_more) = if self.sees_all {
            // One more than is listed, to know whether there are more.
            let mut first = orgs::page_after(c, None, None, SWITCHER_ORGS as i64 + 1)?;
            let more = first.len() > SWITCHER_ORGS;
            first.truncate(SWITCHER_ORGS);
            (first, more)
        } else {
            (orgs::by_ids(c, &self.granted)?, false)
        };
        let mut choices: Vec<(Uuid, String)> =
            choices.into_iter().map(|o| (o.id, o.name)).collect();
        // Else the select would show another org as the one chosen. Not among the first by
        // (name, id), it sorts after all of them: the end keeps the order.
        if !choices.iter().any(|(id, _)| *id == org.id) {
            choices.push((org.id, org.name.clone()));
        }
        let usage = orgs::usage_on(c, org_id, chrono::Utc::now().date_naive())?;
        Ok(Loaded {
            org,
            facts,
            tokens,
            orgs: choices,
            orgs_more,
            usage,
        })
    }
}

fn ctx<P: Permission>(scope: &OrgScope<P>) -> Ctx {
    Ctx {
        page: PAGE,
        q: format!("?org={}", scope.org.id),
        org_id: scope.org.id,
        csrf: scope.user.csrf.clone(),
        can_reveal: scope.user.role.can(Action::RevealToken),
        can_manage: scope.user.role.can(Action::ManageTokens),
        connector: scope.user.role == crate::domain::role::Role::ConnectorAdmin,
    }
}

fn to_row(view: &TokenView, facts: &OrgFacts, ctx: &Ctx, rs: &RowState) -> Row {
    let t = &view.token;
    let now = Utc::now();
    let state = facts.token_state(t.disabled_reason.as_deref());
    let revealed = rs.revealed.as_ref().filter(|(id, _)| *id == t.id);
    let editing = rs.editing.as_ref().filter(|(id, _, _)| *id == t.id);
    Row {
        id: t.id,
        name: t.name.clone(),
        shown_value: match revealed {
            Some((_, v)) => v.expose().to_owned(),
            None => masked(&t.value_hint),
        },
        hint: t.value_hint.clone(),
        revealed: revealed.is_some(),
        disabled: state.status.is_disabled(),
        status_label: state.status.label(),
        disabled_reason: state.provider_reason,
        last_modified_by: t.last_modified_by.clone(),
        last_modified_on: when(&t.last_modified_at),
        last_modified_iso: iso(&t.last_modified_at),
        last_used: t.last_used_at.map(|u| (relative(&u, now), iso(&u))),
        calls_today: view.calls_today,
        spark: super::view::sparkline(&view.history, "Calls"),
        can_reveal: ctx.can_reveal && facts.may_reveal().is_ok(),
        can_rename: ctx.can_manage && facts.may_rename().is_ok(),
        can_regenerate_delete: ctx.can_manage
            && facts
                .may_regenerate_or_delete(t.disabled_at.is_some())
                .is_ok(),
        editing: editing.is_some(),
        name_input: editing
            .map(|e| e.1.clone())
            .unwrap_or_else(|| t.name.clone()),
        name_error: editing.and_then(|e| e.2.clone()),
        focus_after_swap: rs.added == Some(t.id),
    }
}

/// What the page says about the org's state. Support staff read it too (any org's page): for
/// them the way out is the console, not "contact support".
fn banners<P: Permission>(scope: &OrgScope<P>, loaded: &Loaded) -> Vec<Banner> {
    let (org, facts, tokens) = (&loaded.org, &loaded.facts, &loaded.tokens);
    let support = scope.user.role == Role::Support;
    let next = |customer: &'static str, staff: &'static str| if support { staff } else { customer };
    let mut out = Vec::new();
    match facts.subscription {
        SubscriptionStatus::Active => {}
        SubscriptionStatus::Expired => out.push(Banner {
            kind: "warning",
            title: "Sandbox subscription expired",
            message: format!(
                "The Sandbox subscription expired on {}. The tokens below are kept but disabled, \
                 and no changes can be made. {}",
                org.subscription_expires_at
                    .map(|t| when(&t))
                    .unwrap_or_default(),
                next(
                    "Contact Zscaler Support to renew; the same tokens will work again after \
                     renewal.",
                    "Renew it in the Organizations console; the same tokens will work again.",
                )
            ),
        }),
        SubscriptionStatus::None => out.push(Banner {
            kind: "warning",
            title: "No Sandbox subscription",
            message: format!(
                "This organization has no Sandbox subscription, so tokens cannot be changed. {}",
                next(
                    "Contact Zscaler Support.",
                    "Start one in the Organizations console.",
                )
            ),
        }),
    }
    if let Some(reason) = &org.api_disabled_reason {
        out.push(Banner {
            kind: "danger",
            title: "Sandbox API access disabled",
            message: format!(
                "Sandbox API access for this organization was disabled by Zscaler or your service \
                 provider ({reason}). {}",
                next(
                    "Contact Zscaler Support or your service provider to re-enable it.",
                    "Enable it again in the Organizations console.",
                )
            ),
        });
    } else if tokens.iter().any(|t| t.token.disabled_at.is_some()) {
        out.push(Banner {
            kind: "danger",
            title: "A token is disabled",
            message: format!(
                "One or more tokens were disabled by Zscaler or your service provider. They cannot \
                 be regenerated or deleted, and no token can be added. {}",
                next(
                    "Contact Zscaler Support or your service provider to re-enable them.",
                    "Enable them again in the Organizations console.",
                )
            ),
        });
    }
    out
}

fn add_state(facts: &OrgFacts, ctx: &Ctx) -> (bool, Option<String>) {
    if !ctx.can_manage {
        return (false, None);
    }
    match facts.may_add() {
        Ok(()) => (true, None),
        Err(r) => (false, Some(r.message())),
    }
}

fn render_page<P: Permission>(
    scope: &OrgScope<P>,
    base_url: &str,
    loaded: Loaded,
    rs: &RowState,
    dialog: Option<Dialog>,
    flash: Option<(&'static str, String)>,
) -> Result<String, AppError> {
    let ctx = ctx(scope);
    let rows = loaded
        .tokens
        .iter()
        .map(|t| to_row(t, &loaded.facts, &ctx, rs))
        .collect();
    let (add_allowed, add_refusal) = add_state(&loaded.facts, &ctx);
    let page = Page {
        chrome: Chrome::for_user(&scope.user, "tokens"),
        banners: banners(scope, &loaded),
        token_limit: loaded.org.token_limit,
        token_count: loaded.tokens.len(),
        quota: super::view::gauge(i64::from(loaded.usage.1), i64::from(loaded.org.daily_quota)),
        org: loaded.org,
        orgs: loaded.orgs,
        orgs_more: loaded.orgs_more,
        orgs_listed: SWITCHER_ORGS,
        base_url: base_url.to_owned(),
        rows,
        add_allowed,
        add_refusal,
        dialog,
        flash,
        add_name: rs.adding.clone().map(|a| a.0).unwrap_or_default(),
        add_error: rs.adding.clone().map(|a| a.1),
        ctx,
    };
    Ok(page.render().map_err(anyhow::Error::from)?)
}

fn render_panel<P: Permission>(
    scope: &OrgScope<P>,
    loaded: &Loaded,
    rs: &RowState,
) -> Result<String, AppError> {
    let ctx = ctx(scope);
    let rows = loaded
        .tokens
        .iter()
        .map(|t| to_row(t, &loaded.facts, &ctx, rs))
        .collect();
    let (add_allowed, add_refusal) = add_state(&loaded.facts, &ctx);
    let panel = Panel {
        add_name: rs.adding.clone().map(|a| a.0).unwrap_or_default(),
        add_error: rs.adding.clone().map(|a| a.1),
        rows,
        add_allowed,
        add_refusal,
        token_limit: loaded.org.token_limit,
        token_count: loaded.tokens.len(),
        ctx,
    };
    Ok(panel.render().map_err(anyhow::Error::from)?)
}

fn render_row<P: Permission>(
    scope: &OrgScope<P>,
    loaded: &Loaded,
    token_id: Uuid,
    rs: &RowState,
) -> Result<String, AppError> {
    let ctx = ctx(scope);
    let view = loaded
        .tokens
        .iter()
        .find(|t| t.token.id == token_id)
        .ok_or(AppError::NotFound)?;
    let row = to_row(view, &loaded.facts, &ctx, rs);
    Ok(RowFragment { ctx, row }
        .render()
        .map_err(anyhow::Error::from)?)
}

/// Responses that carry a token value: never stored by the browser or any cache (R3).
fn secret_html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store, max-age=0"))
        .insert_header((header::PRAGMA, "no-cache"))
        .body(body)
}

fn with_flash(body: String, kind: &str, message: &str) -> String {
    format!(
        "{body}<div id=\"flash\" hx-swap-oob=\"innerHTML\">{}</div>",
        flash_html(kind, message)
    )
}

/// Every htmx answer replaces the flash area: a message about an earlier action must not stay
/// beside the answer to this one (a refused name under "Token added", say).
fn without_flash(body: String) -> String {
    format!("{body}<div id=\"flash\" hx-swap-oob=\"innerHTML\"></div>")
}

fn page_url<P: Permission>(scope: &OrgScope<P>) -> String {
    format!("{PAGE}?org={}", scope.org.id)
}

const TOKEN_GONE: &str = "This token no longer exists: it was deleted, perhaps in another session. The list is up to date now.";

/// A change the page offered that cannot be done (any more): the token is not there (deleted
/// elsewhere; or another org's, which must look the same), or a rule refuses it now (R4, R7,
/// R8, R10: another session disabled the token or the org, the subscription ended, the org
/// filled up). Say why and show the tokens and banners as they are now: a message alone would
/// leave a stale "Enabled" row with controls that look as if they worked. Any other error is
/// passed on.
async fn refused<P: Permission>(
    req: &HttpRequest,
    state: &AppState,
    scope: &OrgScope<P>,
    e: AppError,
) -> Result<HttpResponse, AppError> {
    let (status, message) = match &e {
        AppError::NotFound => (StatusCode::NOT_FOUND, TOKEN_GONE.to_owned()),
        AppError::Policy(_) => (actix_web::ResponseError::status_code(&e), e.message()),
        _ => return Err(e),
    };
    let loaded = load(state, scope).await?;
    if is_htmx(req) {
        let mut body = render_panel(scope, &loaded, &RowState::default())?;
        body.push_str(
            &BannersOob {
                banners: banners(scope, &loaded),
            }
            .render()
            .map_err(anyhow::Error::from)?,
        );
        return Ok(HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("HX-Retarget", "#token-panel"))
            .insert_header(("HX-Reswap", "outerHTML"))
            .body(with_flash(body, "error", &message)));
    }
    refused_page(scope, state, loaded, status, message)
}

/// The whole page as it is now, with why the request was refused in the flash area: the
/// answer to a plain form post that cannot be done.
fn refused_page<P: Permission>(
    scope: &OrgScope<P>,
    state: &AppState,
    loaded: Loaded,
    status: StatusCode,
    message: String,
) -> Result<HttpResponse, AppError> {
    let flash = Some(("error", message));
    let body = render_page(
        scope,
        &state.base_url,
        loaded,
        &RowState::default(),
        None,
        flash,
    )?;
    Ok(html(status, body))
}

async fn page(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: OrgScope<View>,
) -> Result<HttpResponse, AppError> {
    let loaded = load(&state, &scope).await?;
    let shown = match take_show_once(&req) {
        Some(id)
            if scope.user.role.can(Action::RevealToken) && loaded.facts.may_reveal().is_ok() =>
        {
            let (st, org_id) = (state.clone(), scope.org.id);
            state
                .db(move |c| {
                    let sealed = crate::db::tokens::sealed_value(c, org_id, id)?;
                    Ok(match sealed {
                        Some(sealed) => Some((id, st.keys.decrypt(id, &sealed)?)),
                        None => None,
                    })
                })
                .await?
        }
        _ => None,
    };
    let secret = shown.is_some();
    let rs = RowState {
        revealed: shown,
        ..RowState::default()
    };
    let body = render_page(
        &scope,
        &state.base_url,
        loaded,
        &rs,
        None,
        take_flash(&req).map(|m| ("success", m)),
    )?;
    let mut res = if secret {
        secret_html(StatusCode::OK, body)
    } else {
        html(StatusCode::OK, body)
    };
    // The org shown is the one to come back to when a link names none.
    if scope.user.sees_several_orgs() && remembered_org(&req) != Some(scope.org.id) {
        res.add_cookie(&remember_org(scope.org.id, state.https))
            .map_err(anyhow::Error::from)?;
    }
    Ok(res)
}

/// After a plain form post made a value: redirect (a reload must not add or regenerate again)
/// to the page, which shows the value once (see `keys::SHOW_ONCE`).
fn see_value_once(
    req: &HttpRequest,
    location: &str,
    token_id: Uuid,
    message: String,
) -> HttpResponse {
    if let Err(e) = req.get_session().insert(keys::SHOW_ONCE, token_id) {
        tracing::warn!(error = %e, "could not keep the new value's token for the next page");
    }
    see_other_with_flash(req, location, message)
}

fn take_show_once(req: &HttpRequest) -> Option<Uuid> {
    req.get_session()
        .remove_as::<Uuid>(keys::SHOW_ONCE)
        .and_then(Result::ok)
}

/// The masked row: "hide", and "cancel" of a rename.
async fn row(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: OrgScope<View>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = object_id(&id)?;
    if !is_htmx(&req) {
        return Ok(see_other(&page_url(&scope)));
    }
    let loaded = load(&state, &scope).await?;
    match render_row(&scope, &loaded, id, &RowState::default()) {
        Ok(body) => Ok(html(StatusCode::OK, without_flash(body))),
        Err(e) => refused(&req, &state, &scope, e).await,
    }
}

async fn reveal(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: OrgScope<Reveal>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = object_id(&id)?;
    let actor = scope.user.actor();
    let org_id = scope.org.id;
    let st = state.clone();
    let value = match state
        .db(move |c| ops::reveal(c, &st.keys, &actor, org_id, id, "reveal"))
        .await
    {
        Ok((_, value)) => value,
        Err(e) => return refused(&req, &state, &scope, e).await,
    };
    let loaded = load(&state, &scope).await?;
    let rs = RowState {
        revealed: Some((id, value)),
        ..Default::default()
    };
    let body = if is_htmx(&req) {
        without_flash(render_row(&scope, &loaded, id, &rs)?)
    } else {
        render_page(&scope, &state.base_url, loaded, &rs, None, None)?
    };
    Ok(secret_html(StatusCode::OK, body))
}

/// The value as text, for the copy button's clipboard write. Audited like a reveal.
async fn copy(
    state: web::Data<AppState>,
    scope: OrgScope<Reveal>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = object_id(&id)?;
    let actor = scope.user.actor();
    let org_id = scope.org.id;
    let st = state.clone();
    let (_, value) = state
        .db(move |c| ops::reveal(c, &st.keys, &actor, org_id, id, "copy"))
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store, max-age=0"))
        .body(value.expose().to_owned()))
}

#[derive(Deserialize)]
struct NameForm {
    name: Option<String>,
}

async fn add(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    form: web::Form<NameForm>,
) -> Result<HttpResponse, AppError> {
    let actor = scope.user.actor();
    let org_id = scope.org.id;
    let st = state.clone();
    let typed = form.into_inner().name;
    // The form's field left empty asks for the default name.
    let name = typed.clone().filter(|n| !n.trim().is_empty());
    let htmx = is_htmx(&req);
    // With htmx the new value is shown only in this answer: the page is read in the add's
    // transaction, so a failed read cannot leave a token whose value nobody saw.
    let reader = htmx.then(|| Reader::of(&scope));
    let added = state
        .db(move |c| {
            change_and_answer(
                c,
                |c| ops::add(c, &st.keys, &actor, org_id, name.as_deref()),
                |c, _| reader.as_ref().map(|r| r.load(c)).transpose(),
            )
        })
        .await;
    let ((token, value), loaded) = match added {
        Ok(added) => added,
        // A refused name: the form again with the name as typed and the reason next to it.
        Err(e @ (AppError::BadRequest(_) | AppError::Conflict(_))) => {
            let status = actix_web::ResponseError::status_code(&e);
            let loaded = load(&state, &scope).await?;
            let rs = RowState {
                adding: Some((typed.unwrap_or_default(), e.message())),
                ..RowState::default()
            };
            let body = if htmx {
                without_flash(render_panel(&scope, &loaded, &rs)?)
            } else {
                render_page(&scope, &state.base_url, loaded, &rs, None, None)?
            };
            return Ok(html(status, body));
        }
        // Refused whatever the name (the limit, a disable, the subscription).
        Err(e) => return refused(&req, &state, &scope, e).await,
    };
    let Some(loaded) = loaded else {
        let message = format!("Token \"{}\" added.", token.name);
        return Ok(see_value_once(&req, &page_url(&scope), token.id, message));
    };
    // The new value is shown once, as after a regenerate, so that it can be put to use at once
    // (the help page: "the new API token displayed").
    let rs = RowState {
        revealed: Some((token.id, value)),
        added: Some(token.id),
        ..RowState::default()
    };
    let message = format!(
        "Token \"{}\" added. Its value is shown below; the eye icon hides it.",
        token.name
    );
    let body = with_flash(render_panel(&scope, &loaded, &rs)?, "success", &message);
    Ok(secret_html(StatusCode::CREATED, body))
}

async fn rename_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = object_id(&id)?;
    let loaded = load(&state, &scope).await?;
    // No form for a rename that would be refused (R8).
    if let Err(e) = loaded.facts.may_rename() {
        return refused(&req, &state, &scope, e.into()).await;
    }
    let Some(current) = loaded
        .tokens
        .iter()
        .find(|t| t.token.id == id)
        .map(|t| t.token.name.clone())
    else {
        return refused(&req, &state, &scope, AppError::NotFound).await;
    };
    let rs = RowState {
        editing: Some((id, current, None)),
        ..Default::default()
    };
    let body = if is_htmx(&req) {
        without_flash(render_row(&scope, &loaded, id, &rs)?)
    } else {
        render_page(&scope, &state.base_url, loaded, &rs, None, None)?
    };
    Ok(html(StatusCode::OK, body))
}

async fn rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    id: web::Path<String>,
    form: web::Form<NameForm>,
) -> Result<HttpResponse, AppError> {
    let id = object_id(&id)?;
    let actor = scope.user.actor();
    let org_id = scope.org.id;
    let typed = form.into_inner().name.unwrap_or_default();
    let name = typed.clone();
    let result = state
        .db(move |c| ops::rename_if_changed(c, &actor, org_id, id, &name))
        .await;
    let htmx = is_htmx(&req);
    match result {
        Ok(renamed) => {
            let message = if renamed.changed {
                format!("Token renamed to \"{}\".", renamed.token.name)
            } else {
                format!("The name is unchanged: \"{}\".", renamed.token.name)
            };
            if !htmx {
                return Ok(see_other_with_flash(&req, &page_url(&scope), message));
            }
            let loaded = load(&state, &scope).await?;
            let body = with_flash(
                render_row(&scope, &loaded, id, &RowState::default())?,
                "success",
                &message,
            );
            Ok(html(StatusCode::OK, body))
        }
        // A bad name keeps the form open with the message next to the field.
        Err(e @ (AppError::BadRequest(_) | AppError::Conflict(_))) => {
            // Same status as the API (400, or 409 for a taken name), with the form kept.
            let status = actix_web::ResponseError::status_code(&e);
            let loaded = load(&state, &scope).await?;
            let rs = RowState {
                editing: Some((id, typed, Some(e.message()))),
                ..Default::default()
            };
            let body = if htmx {
                without_flash(render_row(&scope, &loaded, id, &rs)?)
            } else {
                render_page(&scope, &state.base_url, loaded, &rs, None, None)?
            };
            Ok(html(status, body))
        }
        Err(e) => refused(&req, &state, &scope, e).await,
    }
}

async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    id: Uuid,
    regenerate: bool,
) -> Result<HttpResponse, AppError> {
    let loaded = load(&state, &scope).await?;
    let Some(token) = loaded
        .tokens
        .iter()
        .find(|t| t.token.id == id)
        .map(|t| &t.token)
    else {
        return refused(&req, &state, &scope, AppError::NotFound).await;
    };
    // Offer the dialog only when the change would be allowed: no dead-end confirmation.
    let disabled = token.disabled_at.is_some();
    if let Err(e) = loaded.facts.may_regenerate_or_delete(disabled) {
        return refused(&req, &state, &scope, e.into()).await;
    }
    let q = format!("?org={}", scope.org.id);
    let dialog = if regenerate {
        Dialog {
            title: format!("Regenerate token \"{}\"?", token.name),
            description: "A new random value replaces the current one. The current value stops \
                          working immediately, in every configuration that uses it."
                .into(),
            action: format!("{PAGE}/tokens/{id}/regenerate{q}"),
            target: format!("#token-{id}"),
            confirm_label: "OK",
            danger: true,
        }
    } else {
        Dialog {
            title: format!("Delete token \"{}\"?", token.name),
            description: "The token is removed and its value stops working immediately.".into(),
            action: format!("{PAGE}/tokens/{id}/delete{q}"),
            target: "#token-panel".into(),
            confirm_label: "OK",
            danger: true,
        }
    };
    let body = if is_htmx(&req) {
        without_flash(
            DialogFragment {
                ctx: ctx(&scope),
                dialog,
            }
            .render()
            .map_err(anyhow::Error::from)?,
        )
    } else {
        render_page(
            &scope,
            &state.base_url,
            loaded,
            &RowState::default(),
            Some(dialog),
            None,
        )?
    };
    Ok(html(StatusCode::OK, body))
}

async fn regenerate_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = object_id(&id)?;
    confirm(req, state, scope, id, true).await
}

async fn delete_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = object_id(&id)?;
    confirm(req, state, scope, id, false).await
}

async fn regenerate(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = object_id(&id)?;
    let actor = scope.user.actor();
    let org_id = scope.org.id;
    let st = state.clone();
    // As for add: with htmx the new value is only in this answer, read in the same transaction.
    let reader = is_htmx(&req).then(|| Reader::of(&scope));
    let ((token, value), loaded) = match state
        .db(move |c| {
            change_and_answer(
                c,
                |c| ops::regenerate(c, &st.keys, &actor, org_id, id),
                |c, _| reader.as_ref().map(|r| r.load(c)).transpose(),
            )
        })
        .await
    {
        Ok(done) => done,
        Err(e) => return refused(&req, &state, &scope, e).await,
    };
    let message = format!(
        "Token \"{}\" regenerated. The previous value no longer works.",
        token.name
    );
    let Some(loaded) = loaded else {
        return Ok(see_value_once(&req, &page_url(&scope), id, message));
    };
    // The new value is shown once, so it can be put where the old one was used.
    let rs = RowState {
        revealed: Some((id, value)),
        ..Default::default()
    };
    let body = with_flash(render_row(&scope, &loaded, id, &rs)?, "success", &message);
    Ok(secret_html(StatusCode::OK, body))
}

async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    scope: OrgScope<Manage>,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = object_id(&id)?;
    let actor = scope.user.actor();
    let org_id = scope.org.id;
    let token = match state.db(move |c| ops::delete(c, &actor, org_id, id)).await {
        Ok(token) => token,
        Err(e) => return refused(&req, &state, &scope, e).await,
    };
    let message = format!("Token \"{}\" deleted.", token.name);
    if !is_htmx(&req) {
        return Ok(see_other_with_flash(&req, &page_url(&scope), message));
    }
    let loaded = load(&state, &scope).await?;
    let body = with_flash(
        render_panel(&scope, &loaded, &RowState::default())?,
        "success",
        &message,
    );
    Ok(html(StatusCode::OK, body))
}
